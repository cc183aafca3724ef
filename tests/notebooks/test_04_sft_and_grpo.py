"""notebooks/04_sft_and_grpo.ipynb runs headlessly with tiny settings: warm start, debug mode, GRPO, before/after,
and GRPO through TRL's own `environment_factory`."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from agent_gym import TrajectoryStore
from agent_gym.cli.notebook_run import run_notebook

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "04_sft_and_grpo.ipynb"
PLOTLY = "application/vnd.plotly.v1+json"
TINY = {"n_train_tasks": 8, "n_heldout_tasks": 2, "sft_steps": 1, "grpo_steps": 2, "num_generations": 2,
        "tasks_per_step": 1, "horizon": [1, 2], "horizon_every": 1, "max_turn_tokens": 24,
        "max_completion_length": 96, "eval_turns": 2}

pytestmark = [pytest.mark.slow, pytest.mark.model]


@pytest.mark.timeout(1200)
def test_notebook_04_warm_start_grpo_and_horizon_with_tiny_settings(tmp_path):
    pytest.importorskip("trl")
    from agent_gym.local.files import is_prepared, local_model_dir

    if not is_prepared(local_model_dir()):
        pytest.skip("the embedded model is not prepared (make setup prepares it)")
    run_dir = run_notebook(NOTEBOOK, TINY, out_root=tmp_path)
    nb = nbformat.read(run_dir / NOTEBOOK.name, as_version=4)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "8 expert episodes kept of 8" in text
    assert "MODEL  (trained)" in text and "ENV    (masked)" in text  # the token view of a debug episode
    assert "accelerate launch --config_file configs/zero2.yaml" in text and "'use_vllm': True" in text

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["grpo_steps"] == 2 and summary["horizons"] == [1.0, 2.0]
    assert {"success_rate", "valid_tool_call_rate"} <= set(summary["after_grpo"])
    stored = TrajectoryStore(run_dir / "grpo" / "trajectories.jsonl").read()
    assert len(stored) == 4 and all("group" in t.metadata["grpo"] for t in stored)
    metrics = [json.loads(line) for line in (run_dir / "grpo" / "metrics.jsonl").read_text().splitlines()]
    assert [m["env/horizon"] for m in metrics if "env/horizon" in m] == [1.0, 2.0]

    trl_steps = [json.loads(line) for line in (run_dir / "trl_env" / "metrics.jsonl").read_text().splitlines()]
    trl_steps = [m for m in trl_steps if "loss" in m]
    assert [m["step"] for m in trl_steps] == [1, 2]  # trl_env_steps: two GRPOTrainer(environment_factory=...) steps
    assert all("rewards/TextcraftTRLEnvironment/mean" in m and "tools/call_frequency" in m for m in trl_steps)
    assert "tool: act (self, command: str) -> str" in text

    titles = [o["data"][PLOTLY]["layout"].get("title", {}).get("text") for o in outputs if PLOTLY in o.get("data", {})]
    assert "Turn-horizon schedules" in titles and "Held-out tasks: before and after" in titles
