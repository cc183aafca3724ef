"""notebooks/06_text_games.ipynb runs headlessly: every game, the experts' rollouts, the success table."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from agent_gym import TrajectoryStore
from agent_gym.cli.notebook_run import run_notebook

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "06_text_games.ipynb"
PLOTLY = "application/vnd.plotly.v1+json"

pytest.importorskip("textworld")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_notebook_06_plays_every_game_and_writes_the_success_table(tmp_path):
    run_dir = run_notebook(NOTEBOOK, {"n_tasks": 3, "textworld_levels": [1]}, out_root=tmp_path)
    nb = nbformat.read(run_dir / NOTEBOOK.name, as_version=4)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "Unknown command 'jump'" in text and "In view: go to the" in text  # invalid command and help
    assert "You went to the red ball" in text
    assert "Mission complete!" in text and "You have crafted the goal" in text and "You won!" in text
    assert "identical: True" in text and "ScienceWorld skipped" in text

    table = {row["env"]: row for row in json.loads((run_dir / "success.json").read_text())}
    assert set(table) == {"babyai", "textcraft", "textworld"}
    assert all(row["episodes"] == 3 and row["success_rate"] >= 0.95 and row["errors"] == 0 for row in table.values())
    stored = TrajectoryStore(run_dir / "trajectories.jsonl").read()
    assert len(stored) == 9 and all(t.success for t in stored)

    figures = [o["data"][PLOTLY] for o in outputs if PLOTLY in o.get("data", {})]
    assert [f["layout"]["title"]["text"] for f in figures] == ["Success rate by game"]
