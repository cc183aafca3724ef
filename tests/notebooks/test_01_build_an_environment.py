"""notebooks/01_build_an_environment.ipynb runs headlessly (papermill) and shows what it teaches."""

import json
from pathlib import Path

import nbformat
import pytest

from agent_gym.cli.notebook_run import run_notebook

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "01_build_an_environment.ipynb"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_notebook_01_runs_and_its_results_hold(tmp_path):
    run_dir = run_notebook(NOTEBOOK, {"n_shell_tasks": 3, "max_concurrency": 2}, out_root=tmp_path)

    results = json.loads((run_dir / "results.json").read_text())
    assert results["capitals"]["success_rate"] == 1.0 and results["capitals"]["errors"] == 0
    assert results["time_limit"] == {"turns": 3, "truncated": True, "terminated": False}
    assert results["sandbox_contained"] is True
    assert results["shell_expert"]["episodes"] == 3 and results["shell_expert"]["success_rate"] == 1.0
    assert results["shell_idle"]["success_rate"] == 0.0
    assert results["mcp"] == {"tools": ["add", "crash", "greet", "lookup_order"], "rewards": [1.0, 1.0, 1.0],
                              "running_after_close": False}

    executed = nbformat.read(run_dir / NOTEBOOK.name, as_version=4)
    text = "".join(
        str(out.get("text", "")) + str(out.get("data", {}).get("text/plain", ""))
        for cell in executed.cells if cell.cell_type == "code" for out in cell.outputs
    )
    assert "error=True  Error: invalid arguments for capital_of" in text
    assert "killed: wall-clock timeout of 2 s" in text and "Read-only file system" in text
    assert "(sandbox) gid=" in text and "<tool_call>" in text and "execute_shell" in text
    assert "Error executing tool lookup_order: Order W7777 not found" in text  # the MCP server's own error
    assert (run_dir / "shell.jsonl").exists() and (run_dir / "capitals.jsonl").exists()
