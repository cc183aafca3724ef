"""Notebook 03 runs headlessly and leaves a dataset from two environments in every format."""

import json
from pathlib import Path

import pytest

from agent_gym.cli.notebook_run import run_notebook

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "03_synthesize_data.ipynb"


@pytest.mark.slow
def test_notebook_03_runs_and_writes_the_datasets(tmp_path):
    run_dir = run_notebook(NOTEBOOK, {"n_tasks": 4, "samples_per_task": 2}, out_root=tmp_path)
    data = run_dir / "synthesis" if (run_dir / "synthesis").exists() else run_dir
    for env in ("calculator", "textcraft"):
        folder = next(data.rglob(f"{env}/manifest.json")).parent
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["seen"] == 8 and manifest["kept"] == 4
        for name in ("openai.jsonl", "text.jsonl", "sft.jsonl", "sft.parquet", "grpo_prompts.jsonl", "README.md", "card.html"):
            assert (folder / name).exists(), name
    executed = json.loads(next(run_dir.glob("*.ipynb")).read_text())
    text = json.dumps(executed)
    assert "8 ledger lines for 8 jobs" in text and "<tool_call>" in text
