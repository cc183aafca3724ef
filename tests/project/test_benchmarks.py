"""The benchmark runner (`python -m benchmarks`) works end to end with tiny settings.

A smoke test: a real scripted server, real worker processes, the real table and JSON report. Nothing here
asserts on timings; the figures only have to be there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import runner  # noqa: E402
from benchmarks.common import check_row, row, summarize  # noqa: E402


def test_rows_follow_the_contract_and_summaries_carry_their_spread():
    good = row("demo", "latency p50", unit="ms", note="n samples", target="<= 60", **summarize([3.0, 1.0, 2.0]))
    assert good["value"] == 2.0 and good["spread"] == [1.0, 3.0] and good["runs"] == 3 and check_row(good) == []
    assert summarize([float("nan")]) == {"value": None, "spread": None, "runs": 0}
    assert check_row({"benchmark": "x", "metric": "y", "value": [1], "unit": "s"}) == [
        "missing key 'note'", "'value' must be a number, a string or None"]
    assert "unknown key 'colour'" in check_row({**good, "colour": "red"})


def test_a_module_without_run_or_with_bad_rows_is_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, "benchmarks.bench_norun", types.ModuleType("benchmarks.bench_norun"))
    with pytest.raises(TypeError, match="has no `run"):
        runner.run_module("bench_norun", quick=True)
    bad = types.ModuleType("benchmarks.bench_bad")
    bad.run = lambda quick: [{"benchmark": "bad", "metric": "m", "value": 1}]
    monkeypatch.setitem(sys.modules, "benchmarks.bench_bad", bad)
    with pytest.raises(TypeError, match="missing key 'unit'"):
        runner.run_module("bench_bad", quick=True)


def test_discovery_finds_the_rollout_benchmark_and_the_table_lines_up():
    assert "bench_rollout" in runner.discover()
    text = runner.table([row("a", "m1", 0.5, "x", "note one", spread=[0.4, 0.6], runs=3),
                         row("bb", "metric two", None, note="missing: why")])
    header, rule, first, second = text.splitlines()
    assert header.split() == list(runner.COLUMNS)
    assert "0.5" in first and "0.4–0.6 (n=3)" in first and second.split()[:3] == ["bb", "metric", "two"]
    assert "—" in second and first.index("note one") == second.index("missing: why")


@pytest.mark.timeout(300)
def test_python_m_benchmarks_quick_prints_one_table_and_writes_the_report(tmp_path):
    env = {**os.environ, "AGENT_GYM_BENCH_REPEATS": "1", "AGENT_GYM_BENCH_PEER": "no"}
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only", "rollout", "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("benchmark  metric") == 1  # one table
    assert "L=0.2s C=8 achieved/ideal (ours)" in done.stdout and "peer disabled" in done.stdout

    report = json.loads((tmp_path / "latest.json").read_text())
    assert report["quick"] is True and report["modules"]["bench_rollout"]["ok"]
    assert len(list(tmp_path.glob("*-quick.json"))) == 1
    figures = {r["metric"]: r for r in report["rows"]}
    for c in (1, 8):
        ratio = figures[f"L=0.2s C={c} achieved/ideal (ours)"]
        cpu = figures[f"L=0.2s C={c} client CPU per model call (ours)"]
        assert ratio["value"] > 0 and ratio["runs"] == 1 and ratio["params"]["concurrency"] == c
        assert cpu["value"] > 0 and cpu["unit"] == "ms"
    assert all(check_row(r) == [] for r in report["rows"])


def test_unknown_module_names_are_an_error(capsys):
    assert runner.main(["--only", "no_such_bench"]) == 2
    assert "no benchmark module" in capsys.readouterr().err
