"""notebooks/07_benchmarks.ipynb runs headlessly in quick mode: the rollout benchmark, its table and plots."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from agent_gym.cli.notebook_run import run_notebook

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "07_benchmarks.ipynb"
PLOTLY = "application/vnd.plotly.v1+json"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_notebook_07_runs_the_rollout_benchmark_quick_and_plots_it(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_GYM_BENCH_REPEATS", "1")
    run_dir = run_notebook(NOTEBOOK, {"quick": True, "only": ["rollout"], "peer": "auto"}, out_root=tmp_path)
    nb = nbformat.read(run_dir / NOTEBOOK.name, as_version=4)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]

    report = json.loads((run_dir / "latest.json").read_text())
    assert report["quick"] is True and list(report["modules"]) == ["bench_rollout"]
    assert report["modules"]["bench_rollout"]["ok"]
    metrics = {r["metric"] for r in report["rows"]}
    assert {"L=0.2s C=1 achieved/ideal (ours)", "L=0.2s C=8 client CPU per model call (ours)"} <= metrics

    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "L=0.2s C=8 achieved/ideal (ours)" in html and "waited for a CPU (%)" in html  # the tables
    figures = [o["data"][PLOTLY] for o in outputs if PLOTLY in o.get("data", {})]
    titles = [f["layout"]["title"]["text"] for f in figures]
    assert titles[:2] == ["Achieved / ideal episodes per second", "Client CPU per model call"]
    with_peer = any(r["params"].get("framework") == "verifiers" for r in report["rows"] if "params" in r)
    assert ("ours / verifiers episodes per second" in titles) == with_peer
