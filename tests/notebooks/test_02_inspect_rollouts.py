"""notebooks/02_inspect_rollouts.ipynb runs headlessly and records its widgets and figures."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from agent_gym import TrajectoryStore
from agent_gym.cli.notebook_run import run_notebook

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "02_inspect_rollouts.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_notebook_02_runs_fresh_and_records_widgets_and_figures(tmp_path):
    run_dir = run_notebook(NOTEBOOK, {"source": "fresh", "n_tasks": 2, "n_samples": 3}, out_root=tmp_path)
    nb = nbformat.read(run_dir / NOTEBOOK.name, as_version=4)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]

    views = [o["data"][WIDGET_VIEW]["model_id"] for o in outputs if WIDGET_VIEW in o.get("data", {})]
    state = nb.metadata["widgets"][WIDGET_STATE]["state"]
    kinds = [state[m]["state"].get("kind") for m in views if m in state]
    assert {"browser", "viewer", "compare", "groups"} <= set(kinds), kinds
    browser = next(state[m]["state"] for m in views if state.get(m, {}).get("state", {}).get("kind") == "browser")
    assert browser["count"] > 0
    if browser["total"]:  # the viewer follows the notebook's last filter: a shown row, or nothing when none matches
        assert browser["trajectory"]["id"] and browser["rows"]
    else:
        assert browser["trajectory"] == {} and browser["selected"] == ""
    viewer = next(state[m]["state"] for m in views if state.get(m, {}).get("state", {}).get("kind") == "viewer")
    assert viewer["turn"] == viewer["trajectory"]["first_error_turn"]  # the tutorial opens it at the error
    live = [state[m]["state"] for m in views if state.get(m, {}).get("state", {}).get("kind") == "browser"][1]
    assert live["count"] == 3 and not live["live"]

    compare = next(state[m]["state"] for m in views if state.get(m, {}).get("state", {}).get("kind") == "compare")
    assert compare["stats"]["tasks"] > 0 and "p_value" in compare["stats"]  # the paired statistics head the view
    text = "".join(o.get("text", "") for o in outputs)
    # branching replay: a failed TextCraft episode, branched at turn 2 with the expert, beside its parent
    assert "parent: success False" in text and "branch at_turn=2 (turns 1-2 replayed, the expert from turn 3): success True" in text
    branches = [state[m]["state"] for m in views if state.get(m, {}).get("state", {}).get("kind") == "compare"][1]
    assert branches["choices"][0]["flip"] == "gained" and branches["pair"]["labels"][0] == "parent"
    assert branches["pair"]["outcome"]["first_divergence"] == 2 and branches["pair"]["outcome"]["success"] == [False, True]
    assert "checkpoint-0 -> checkpoint-200:" in text and "gained" in text and "success  " in text

    html = "".join(o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {}))
    assert html.count("Plotly.newPlot(") >= 6 and "<script src=" not in html  # plotly.js is inlined
    for title in ("Reward distribution", "Success rate by env", "Turns vs reward", "Errors by kind"):
        assert title in html

    report = run_dir / "report.html"
    assert report.is_file() and report.stat().st_size > 100_000 and (run_dir / "viewer.html").is_file()
    assert (run_dir / "stores" / "calculator_runs.jsonl").is_file()
    stored = TrajectoryStore(run_dir / "textcraft_branches.jsonl").read()
    assert [t.metadata.get("branch", {}).get("parent") for t in stored] == [None, stored[0].id]
