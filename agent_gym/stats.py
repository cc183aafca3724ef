"""Statistics of runs: success rates with Wilson intervals, bootstrap means, pass@k and pass^k, breakdowns
by environment, model or policy, and paired comparisons of two runs on the same tasks.

It is one module because the estimators, the run summaries built from them and the paired comparison
share one counting rule and one set of result records; split apart, each part would re-state them.

The counting rule is `agent_gym.store.summarize`'s: an episode is *solved* when `success is True` and it
has no `error`. Every other episode — failed, errored, or without a verdict (`success is None`) — counts
as not solved and stays in the denominator. Rewards are averaged over all episodes, errored ones
included, with the reward they recorded.

Inputs are `Trajectory` records or their summary rows (`TrajectoryStore.summaries()`), one per episode:
pass `store.latest()` (or the store itself), not `store.read()`, whose retries of a job would count
twice. A task is identified by `env` and `task_id` together (the key `"env/task_id"`).

Pure Python and numpy: scipy is not needed (the tests check the results against it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from agent_gym.types import Trajectory

if TYPE_CHECKING:  # the store's summary uses this module: a store is told by its `latest()`
    from agent_gym.store import TrajectoryStore

Episode = Trajectory | Mapping[str, Any]
"""One episode: a `Trajectory` or its summary row (a mapping with `env`, `task_id`, `success`, `reward` …)."""
GroupBy = Literal["env", "model", "policy"]
Alternative = Literal["two-sided", "greater", "less"]
MAX_K = 4
"""The largest k `run_stats` reports pass@k and pass^k for by default."""
_TIE = 1e-9  # per-task mean rewards closer than this are ties


def _num(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence!r}.")


@dataclass(frozen=True)
class Interval:
    """A confidence interval."""

    low: float
    """Lower bound."""
    high: float
    """Upper bound."""
    confidence: float = 0.95
    """Confidence level, e.g. 0.95."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict (NaN becomes None)."""
        return {"low": _num(self.low), "high": _num(self.high), "confidence": self.confidence}

    def __str__(self) -> str:
        return f"[{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval. An estimate of nothing (`n == 0`) has `value` NaN."""

    value: float
    """The point estimate (a rate or a mean)."""
    low: float
    """Lower bound of the interval."""
    high: float
    """Upper bound of the interval."""
    n: int
    """How many observations (episodes, tasks) it rests on."""
    method: str
    """How the interval was made: `wilson`, `bootstrap` or `paired bootstrap`."""
    confidence: float = 0.95
    """Confidence level of the interval."""
    successes: int | None = None
    """For a proportion: the count behind `value` (`value == successes / n`)."""

    @property
    def interval(self) -> Interval:
        """The interval alone."""
        return Interval(self.low, self.high, self.confidence)

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict (NaN becomes None)."""
        return {"value": _num(self.value), "low": _num(self.low), "high": _num(self.high), "n": self.n,
                "method": self.method, "confidence": self.confidence, "successes": self.successes}

    def __str__(self) -> str:
        if math.isnan(self.value):
            return f"n/a  (n={self.n})"
        count = f"{self.successes}/{self.n}" if self.successes is not None else f"n={self.n}"
        return f"{self.value:.3f}  {self.interval}  ({count})"


@dataclass(frozen=True)
class PassK:
    """pass@k or pass^k of a run: the mean over tasks with at least k samples of the per-task estimate,
    with a percentile-bootstrap interval over those tasks."""

    metric: Literal["pass@k", "pass^k"]
    """pass@k (at least one of k samples solves the task) or pass^k (all k do)."""
    k: int
    """Samples per draw."""
    value: float
    """Mean per-task estimate (NaN when no task has k samples)."""
    low: float
    """Lower bound of the bootstrap interval over tasks."""
    high: float
    """Upper bound."""
    tasks: int
    """Tasks averaged over (those with at least k samples)."""
    skipped: int
    """Tasks left out because they have fewer than k samples."""
    confidence: float = 0.95
    """Confidence level of the interval."""

    @property
    def name(self) -> str:
        """`pass@2`, `pass^3` …"""
        return self.metric.replace("k", str(self.k))

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict (NaN becomes None)."""
        return {"metric": self.metric, "k": self.k, "value": _num(self.value), "low": _num(self.low),
                "high": _num(self.high), "tasks": self.tasks, "skipped": self.skipped, "confidence": self.confidence}

    def __str__(self) -> str:
        skipped = f", {self.skipped} skipped with < {self.k} samples" if self.skipped else ""
        if not self.tasks:
            return f"n/a  (0 tasks{skipped})"
        return f"{self.value:.3f}  [{self.low:.3f}, {self.high:.3f}]  ({self.tasks} tasks{skipped})"


# ---- estimators on counts and values ---------------------------------------------------------------


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval of a binomial proportion `successes / n` (no continuity correction).

    With `n == 0` nothing is known and the interval is the whole range, (0, 1)."""
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"wilson_interval needs 0 <= successes <= n, got successes={successes}, n={n}.")
    _check_confidence(confidence)
    if n == 0:
        return Interval(0.0, 1.0, confidence)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p, z2 = successes / n, z * z
    center = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, center - half)  # exact at the ends, not 1e-17 off
    high = 1.0 if successes == n else min(1.0, center + half)
    return Interval(low, high, confidence)


def _bootstrap_bounds(values: np.ndarray, confidence: float, resamples: int, seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (non-empty)."""
    rng = np.random.default_rng(seed)
    n = len(values)
    means = np.empty(resamples)
    chunk = max(1, 1_000_000 // n)  # bounded memory for long runs
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        means[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


def bootstrap_mean(values: Iterable[float], *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0,
                   method: str = "bootstrap") -> Estimate:
    """The mean of `values` with a percentile-bootstrap interval; the same `seed` gives the same interval.

    No values give `value`, `low` and `high` NaN (`n == 0`); one value gives the interval [v, v]."""
    data = np.asarray(list(values), dtype=float)
    _check_confidence(confidence)
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1 (e.g. 2000), got {resamples}.")
    if not np.isfinite(data).all():
        raise ValueError("bootstrap_mean got NaN or infinite values; drop or fix them first.")
    if not len(data):
        return Estimate(math.nan, math.nan, math.nan, 0, method, confidence)
    low, high = _bootstrap_bounds(data, confidence, resamples, seed)
    return Estimate(float(data.mean()), low, high, len(data), method, confidence)


def _check_nck(name: str, n: int, c: int, k: int) -> None:
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"{name} needs 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}.")
    if n < k:
        raise ValueError(f"{name} needs at least k samples: n={n} < k={k}. Sample more episodes per task "
                         f"(n >= {k}) or ask for a smaller k.")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one task from `n` samples of which `c` are correct: 1 - C(n-c, k) / C(n, k)
    (Chen et al. 2021, "Evaluating Large Language Models Trained on Code"). `ValueError` when n < k."""
    _check_nck("pass_at_k", n, c, k)
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)  # exact integers; int / int is correctly rounded


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k of one task as τ-bench reports it: C(c, k) / C(n, k), the unbiased estimate of the probability
    that k i.i.d. trials *all* succeed. `ValueError` when n < k."""
    _check_nck("pass_hat_k", n, c, k)
    return math.comb(c, k) / math.comb(n, k)


def sign_test(positives: int, negatives: int, alternative: Alternative = "two-sided") -> float:
    """Exact sign test: the p-value of `positives` against `negatives` under X ~ Bin(positives + negatives, 1/2)
    (ties are left out before calling). Two-sided: min(1, 2 P(X <= min(positives, negatives))), which is the
    exact McNemar test when the counts are the discordant pairs; `greater`: P(X >= positives); `less`:
    P(X <= positives). No pairs give 1."""
    if positives < 0 or negatives < 0:
        raise ValueError(f"sign_test needs counts >= 0, got positives={positives}, negatives={negatives}.")
    n = positives + negatives

    def at_most(m: int) -> float:
        return sum(math.comb(n, i) for i in range(m + 1)) / 2**n

    if alternative == "two-sided":
        return min(1.0, 2 * at_most(min(positives, negatives)))
    if alternative == "greater":
        return at_most(negatives)  # P(X >= positives) = P(n - X <= negatives)
    if alternative == "less":
        return at_most(positives)
    raise ValueError(f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}.")


# ---- episodes ----------------------------------------------------------------------------------------


class _Ep(NamedTuple):
    env: str
    task_id: str
    model: str | None
    policy: str
    solved: bool
    judged: bool
    errored: bool
    reward: float

    @property
    def key(self) -> str:
        return f"{self.env}/{self.task_id}"


def _episodes(trajectories: Iterable[Episode] | TrajectoryStore) -> list[_Ep]:
    if callable(getattr(trajectories, "latest", None)):  # a TrajectoryStore
        trajectories = trajectories.latest()
    if isinstance(trajectories, Trajectory | Mapping | str):
        raise TypeError("agent_gym.stats takes a list of trajectories (e.g. TrajectoryStore(path).latest()), "
                        f"not one {type(trajectories).__name__}; wrap a single one in a list.")
    out = []
    for t in trajectories:
        if isinstance(t, Trajectory):
            ep = (t.env, t.task_id, t.model, t.policy, t.success, t.error, t.reward)
        elif isinstance(t, Mapping):
            ep = (t["env"], t["task_id"], t.get("model"), t.get("policy", ""), t.get("success"), t.get("error"),
                  t.get("reward", 0.0))
        else:
            raise TypeError(f"agent_gym.stats takes Trajectory records or their summary rows, got "
                            f"{type(t).__name__}; pass TrajectoryStore(path).latest().")
        env, task_id, model, policy, success, error, reward = ep
        judged, errored = not _missing(success), not _missing(error)
        out.append(_Ep(str(env), str(task_id), None if _missing(model) else str(model), str(policy),
                       judged and bool(success) and not errored, judged, errored, float(reward)))
    return out


def _missing(value: Any) -> bool:
    """None, or the NaN a pandas frame puts in its place."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _by_task(episodes: Sequence[_Ep]) -> dict[str, list[_Ep]]:
    tasks: dict[str, list[_Ep]] = {}
    for ep in episodes:
        tasks.setdefault(ep.key, []).append(ep)
    return tasks


def _proportion(count: int, n: int, confidence: float) -> Estimate:
    interval = wilson_interval(count, n, confidence)
    return Estimate(count / n if n else math.nan, interval.low, interval.high, n, "wilson", confidence, count)


def success_rate(trajectories: Iterable[Episode] | TrajectoryStore, confidence: float = 0.95) -> Estimate:
    """Solved episodes over all episodes, with a Wilson interval; errored and unjudged episodes count as
    not solved. No episodes give `value` NaN and the interval (0, 1)."""
    episodes = _episodes(trajectories)
    return _proportion(sum(ep.solved for ep in episodes), len(episodes), confidence)


def mean_reward(trajectories: Iterable[Episode] | TrajectoryStore, *, confidence: float = 0.95,
                resamples: int = 2000, seed: int = 0) -> Estimate:
    """Mean episode reward (errored episodes included, with their recorded reward) with a percentile-bootstrap
    interval over episodes."""
    rewards = [ep.reward for ep in _episodes(trajectories)]
    return bootstrap_mean(rewards, confidence=confidence, resamples=resamples, seed=seed)


def _pass(metric: Literal["pass@k", "pass^k"], episodes: Sequence[_Ep], ks: Iterable[int], confidence: float,
          resamples: int, seed: int) -> dict[int, PassK]:
    estimator = pass_at_k if metric == "pass@k" else pass_hat_k
    counts = [(len(eps), sum(ep.solved for ep in eps)) for eps in _by_task(episodes).values()]
    out = {}
    for k in ks:
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"{metric} needs whole numbers k >= 1, got {k!r}.")
        per_task = [estimator(n, c, k) for n, c in counts if n >= k]
        est = bootstrap_mean(per_task, confidence=confidence, resamples=resamples, seed=seed)
        out[k] = PassK(metric, k, est.value, est.low, est.high, len(per_task), len(counts) - len(per_task), confidence)
    return out


def pass_at(trajectories: Iterable[Episode] | TrajectoryStore, ks: Iterable[int] = (1,), *,
            confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> dict[int, PassK]:
    """pass@k for each k: samples grouped per task (env + task_id), `pass_at_k` per task, averaged over the
    tasks with at least k samples (the others are counted in `skipped`). Errored episodes are incorrect."""
    return _pass("pass@k", _episodes(trajectories), ks, confidence, resamples, seed)


def pass_hat(trajectories: Iterable[Episode] | TrajectoryStore, ks: Iterable[int] = (1,), *,
             confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> dict[int, PassK]:
    """pass^k for each k, as `pass_at` does for pass@k (per-task `pass_hat_k`)."""
    return _pass("pass^k", _episodes(trajectories), ks, confidence, resamples, seed)


# ---- run summaries ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunStats:
    """The headline statistics of a run (or of one part of it, see `breakdown`)."""

    episodes: int
    """Episodes counted (one per record given)."""
    tasks: int
    """Distinct tasks (env + task_id)."""
    judged: int
    """Episodes with a verdict (`success` not None)."""
    errors: int
    """Episodes with an `error` (they count as not solved)."""
    error_rate: Estimate
    """Errored over all episodes (Wilson)."""
    success: Estimate
    """Solved over all episodes (Wilson)."""
    reward: Estimate
    """Mean reward (bootstrap over episodes)."""
    pass_at: dict[int, PassK] = field(default_factory=dict)
    """pass@k by k."""
    pass_hat: dict[int, PassK] = field(default_factory=dict)
    """pass^k by k."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict (the pass@k maps keyed by `str(k)`)."""
        return {"episodes": self.episodes, "tasks": self.tasks, "judged": self.judged, "errors": self.errors,
                "error_rate": self.error_rate.to_dict(), "success": self.success.to_dict(),
                "reward": self.reward.to_dict(),
                "pass_at": {str(k): p.to_dict() for k, p in self.pass_at.items()},
                "pass_hat": {str(k): p.to_dict() for k, p in self.pass_hat.items()}}

    def report(self) -> str:
        """Readable lines: counts as integers, rates and means with their intervals."""
        lines = [f"episodes {self.episodes}  ({self.tasks} tasks, {self.judged} judged)",
                 f"errors   {self.errors}  rate {self.error_rate}",
                 f"success  {self.success}",
                 f"reward   {self.reward}"]
        lines += [f"{p.name:<8} {p}" for p in (*self.pass_at.values(), *self.pass_hat.values())]
        return "\n".join(lines)

    __str__ = report


def run_stats(trajectories: Iterable[Episode] | TrajectoryStore, *, confidence: float = 0.95, max_k: int = MAX_K,
              resamples: int = 2000, seed: int = 0) -> RunStats:
    """Episodes, tasks, errors (with a Wilson interval of the error rate), success rate (Wilson), mean reward
    (bootstrap over episodes) and pass@k / pass^k for k = 1 … min(most samples of a task, `max_k`)."""
    return _run_stats(_episodes(trajectories), confidence, max_k, resamples, seed)


def _run_stats(episodes: list[_Ep], confidence: float, max_k: int, resamples: int, seed: int) -> RunStats:
    tasks = _by_task(episodes)
    ks = range(1, min(max((len(v) for v in tasks.values()), default=0), max_k) + 1)
    errors = sum(ep.errored for ep in episodes)
    return RunStats(
        episodes=len(episodes), tasks=len(tasks), judged=sum(ep.judged for ep in episodes), errors=errors,
        error_rate=_proportion(errors, len(episodes), confidence),
        success=_proportion(sum(ep.solved for ep in episodes), len(episodes), confidence),
        reward=bootstrap_mean([ep.reward for ep in episodes], confidence=confidence, resamples=resamples, seed=seed),
        pass_at=_pass("pass@k", episodes, ks, confidence, resamples, seed),
        pass_hat=_pass("pass^k", episodes, ks, confidence, resamples, seed),
    )


def breakdown(trajectories: Iterable[Episode] | TrajectoryStore, by: GroupBy = "env", *, confidence: float = 0.95,
              max_k: int = MAX_K, resamples: int = 2000, seed: int = 0) -> dict[str, RunStats]:
    """`run_stats` of each environment, model or policy, sorted by name (episodes without a model: `"(none)"`)."""
    if by not in ("env", "model", "policy"):
        raise ValueError(f"breakdown(by=...) takes 'env', 'model' or 'policy', got {by!r}.")
    groups: dict[str, list[_Ep]] = {}
    for ep in _episodes(trajectories):
        name = getattr(ep, by)
        groups.setdefault("(none)" if name is None else str(name), []).append(ep)
    return {name: _run_stats(groups[name], confidence, max_k, resamples, seed) for name in sorted(groups)}


# ---- paired comparison ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedComparison:
    """Run B against run A on the tasks both played, task by task (key `env/task_id`; with several samples
    of a task, its mean success and mean reward). Tasks only one run played are listed, not compared."""

    label_a: str
    """Name of run A (the baseline)."""
    label_b: str
    """Name of run B (compared with A)."""
    tasks: int
    """Tasks in both runs (the pairs)."""
    gained: tuple[str, ...]
    """Tasks B solves more often than A (one sample each: failed in A, solved in B)."""
    lost: tuple[str, ...]
    """Tasks B solves less often than A."""
    same: int
    """Tasks with equal success in both (`both_pass` + `both_fail` with one sample each)."""
    both_pass: int
    """Tasks every episode of both runs solved."""
    both_fail: int
    """Tasks no episode of either run solved."""
    only_in_a: tuple[str, ...]
    """Tasks only A played (not compared)."""
    only_in_b: tuple[str, ...]
    """Tasks only B played (not compared)."""
    success_a: Estimate
    """A's success rate over its episodes of the paired tasks (Wilson)."""
    success_b: Estimate
    """B's success rate over its episodes of the paired tasks (Wilson)."""
    success_difference: Estimate
    """Mean over tasks of B's minus A's success, with a paired-bootstrap interval."""
    p_value: float
    """Exact two-sided sign test of gained against lost tasks: the exact McNemar test when each run has one
    episode per task (the gained and lost tasks are then the discordant pairs)."""
    reward_a: Estimate
    """A's mean reward over its episodes of the paired tasks (bootstrap)."""
    reward_b: Estimate
    """B's mean reward over its episodes of the paired tasks (bootstrap)."""
    reward_difference: Estimate
    """Mean over tasks of B's minus A's mean reward, with a paired-bootstrap interval."""
    reward_higher: int
    """Tasks where B's mean reward is higher."""
    reward_lower: int
    """Tasks where B's mean reward is lower."""
    reward_p_value: float
    """Exact two-sided sign test of the per-task reward differences (ties dropped)."""
    envs: tuple[str, ...] = ()
    """The environments of the paired tasks."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.to_dict() if isinstance(value, Estimate) else list(value) if isinstance(value, tuple) else value
        return out

    def report(self, max_ids: int = 20) -> str:
        """Readable lines: counts, the flipped tasks, success and reward of A and B with intervals, differences
        with intervals and p-values. At most `max_ids` task ids per list."""
        prefix = f"{self.envs[0]}/" if len(self.envs) == 1 else ""

        def ids(keys: tuple[str, ...]) -> str:
            shown = [k.removeprefix(prefix) for k in keys[:max_ids]]
            more = f" … (+{len(keys) - max_ids} more)" if len(keys) > max_ids else ""
            return ": " + ", ".join(shown) + more if keys else ""

        a, b = self.label_a, self.label_b
        width = max(len(a), len(b), len(f"{b} - {a}"))
        single = self.success_a.n == self.success_b.n == self.tasks  # one episode per task in each run
        partial = self.same - self.both_pass - self.both_fail
        lines = [f"{a} -> {b}: {self.tasks} paired tasks"
                 + (f" in {self.envs[0]}" if prefix else "")
                 + f" ({len(self.only_in_a)} only in {a}, {len(self.only_in_b)} only in {b})",
                 f"  gained {len(self.gained)}  "
                 + (f"(failed in {a}, solved in {b})" if single else f"(solved more often in {b})") + ids(self.gained),
                 f"  lost   {len(self.lost)}  "
                 + (f"(solved in {a}, failed in {b})" if single else f"(solved less often in {b})") + ids(self.lost),
                 f"  same   {self.same}  ({self.both_pass} both solved, {self.both_fail} both failed"
                 + (f", {partial} equally often)" if partial else ")")]
        lines += [f"  only in {a}{ids(self.only_in_a)}"] if self.only_in_a else []
        lines += [f"  only in {b}{ids(self.only_in_b)}"] if self.only_in_b else []
        diff = self.success_difference
        lines += ["success", f"  {a:<{width}}  {self.success_a}", f"  {b:<{width}}  {self.success_b}",
                  f"  {f'{b} - {a}':<{width}}  {_signed(diff)}  "
                  + ("exact McNemar" if single else "sign test (gained vs lost)") + f" p = {self.p_value:.3g}"]
        diff = self.reward_difference
        lines += ["reward", f"  {a:<{width}}  {self.reward_a}", f"  {b:<{width}}  {self.reward_b}",
                  f"  {f'{b} - {a}':<{width}}  {_signed(diff)}  sign test p = {self.reward_p_value:.3g} "
                  f"({self.reward_higher} tasks higher, {self.reward_lower} lower, "
                  f"{self.tasks - self.reward_higher - self.reward_lower} tied)"]
        return "\n".join(lines)

    __str__ = report


def _signed(e: Estimate) -> str:
    if math.isnan(e.value):
        return "n/a"
    return f"{e.value:+.3f}  [{e.low:+.3f}, {e.high:+.3f}]"


def paired_comparison(a: Iterable[Episode] | TrajectoryStore, b: Iterable[Episode] | TrajectoryStore, *,
                      label_a: str = "A", label_b: str = "B", confidence: float = 0.95, resamples: int = 2000,
                      seed: int = 0) -> PairedComparison:
    """Compare run `b` with run `a` task by task (key env + task_id, several samples of a task averaged).

    Success: tasks gained, lost and unchanged, the exact two-sided McNemar test (`sign_test` of gained
    against lost), and the paired-bootstrap interval of the mean per-task difference B - A. Reward: the
    paired-bootstrap interval of the mean per-task difference and the exact sign test of the per-task
    differences. Errored episodes count as not solved. Tasks in only one run go to `only_in_a` /
    `only_in_b`; with no task in common the differences are NaN and the p-values 1.
    """
    tasks_a, tasks_b = _by_task(_episodes(a)), _by_task(_episodes(b))
    paired = [key for key in tasks_a if key in tasks_b]
    gained, lost, success_diffs, reward_diffs = [], [], [], []
    both_pass = both_fail = 0
    for key in paired:
        ea, eb = tasks_a[key], tasks_b[key]
        ca, cb = sum(e.solved for e in ea), sum(e.solved for e in eb)
        order = cb * len(ea) - ca * len(eb)  # compares cb/len(eb) with ca/len(ea) exactly
        (gained if order > 0 else lost if order < 0 else []).append(key)
        both_pass += ca == len(ea) and cb == len(eb)
        both_fail += ca == 0 and cb == 0
        success_diffs.append(cb / len(eb) - ca / len(ea))
        diff = sum(e.reward for e in eb) / len(eb) - sum(e.reward for e in ea) / len(ea)
        reward_diffs.append(0.0 if abs(diff) < _TIE else diff)
    in_a = [e for key in paired for e in tasks_a[key]]
    in_b = [e for key in paired for e in tasks_b[key]]
    boot = {"confidence": confidence, "resamples": resamples, "seed": seed}
    higher, lower = sum(d > 0 for d in reward_diffs), sum(d < 0 for d in reward_diffs)
    return PairedComparison(
        label_a=label_a, label_b=label_b, tasks=len(paired), gained=tuple(gained), lost=tuple(lost),
        same=len(paired) - len(gained) - len(lost), both_pass=both_pass, both_fail=both_fail,
        only_in_a=tuple(k for k in tasks_a if k not in tasks_b), only_in_b=tuple(k for k in tasks_b if k not in tasks_a),
        success_a=_proportion(sum(e.solved for e in in_a), len(in_a), confidence),
        success_b=_proportion(sum(e.solved for e in in_b), len(in_b), confidence),
        success_difference=bootstrap_mean(success_diffs, method="paired bootstrap", **boot),
        p_value=sign_test(len(gained), len(lost)),
        reward_a=bootstrap_mean([e.reward for e in in_a], **boot),
        reward_b=bootstrap_mean([e.reward for e in in_b], **boot),
        reward_difference=bootstrap_mean(reward_diffs, method="paired bootstrap", **boot),
        reward_higher=higher, reward_lower=lower, reward_p_value=sign_test(higher, lower),
        envs=tuple(sorted({tasks_a[key][0].env for key in paired})),
    )
