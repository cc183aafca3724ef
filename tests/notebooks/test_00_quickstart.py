"""The quickstart runs headlessly; with the embedded model and greedy decoding two runs give the same trajectories."""

import json
from pathlib import Path

import pytest

from agent_gym import TrajectoryStore
from agent_gym.cli.notebook_run import run_notebook

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "00_quickstart.ipynb"


def deterministic_view(path: Path) -> list[dict]:
    """Trajectories without wall-clock fields, in job-key order (both vary run to run by nature:
    the store appends episodes in the order they finish)."""
    out = []
    for t in TrajectoryStore(path).read():
        record = t.model_dump(mode="json", exclude={"started_at", "seconds"})
        for step in record["steps"]:
            step.pop("policy_seconds"), step.pop("env_seconds")
        out.append(record)
    return sorted(out, key=lambda r: r["job_key"])


def test_quickstart_with_the_expert_leaves_notebook_html_widget_and_dataset(tmp_path):
    run_dir = run_notebook(NOTEBOOK, {"policy_name": "expert", "n_tasks": 3}, out_root=tmp_path)
    assert (run_dir / "00_quickstart.html").exists()
    executed = json.loads((run_dir / "00_quickstart.ipynb").read_text())
    assert "application/vnd.jupyter.widget-view+json" in json.dumps(executed)
    assert len(TrajectoryStore(run_dir / "trajectories.jsonl").read()) == 3 * 2 + 3
    assert (run_dir / "dataset" / "sft.jsonl").read_text().count("\n") == 3
    assert (run_dir / "sft" / "adapter" / "adapter_model.safetensors").exists()  # the closing training step
    assert "1 SFT step(s): loss" in json.dumps(executed)


@pytest.mark.slow
@pytest.mark.model
def test_quickstart_on_the_embedded_model_is_reproducible(tmp_path):
    params = {"n_tasks": 2, "n_samples": 1, "max_tokens": 48}
    first = run_notebook(NOTEBOOK, params, out_root=tmp_path / "a")
    second = run_notebook(NOTEBOOK, params, out_root=tmp_path / "b")
    a, b = deterministic_view(first / "trajectories.jsonl"), deterministic_view(second / "trajectories.jsonl")
    assert len(a) == 4 and a == b
    local = [t for t in a if t["policy"] == "local"]
    assert local and all(t["messages"][2]["role"] == "assistant" and t["error"] is None for t in local)
