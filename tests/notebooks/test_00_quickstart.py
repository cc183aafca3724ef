"""The quickstart runs headlessly and shows learning: the embedded model fails the held-out problems, a short
SFT on the expert's trajectories, and the same problems are solved; greedy runs give the same trajectories."""

import json
import re
from pathlib import Path

import pytest

from agent_gym import TrajectoryStore
from agent_gym.cli.notebook_run import run_notebook

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "00_quickstart.ipynb"
TINY = {"n_train": 4, "n_heldout": 2, "sft_steps": 1, "serve": False}


def deterministic_view(path: Path) -> list[dict]:
    """Trajectories without wall-clock fields, in job-key order (both vary run to run by nature:
    the store appends episodes in the order they finish)."""
    out = []
    for t in TrajectoryStore(path).read():
        record = t.model_dump(mode="json", exclude={"started_at", "seconds"})
        for step in record["steps"]:
            step.pop("policy_seconds"), step.pop("env_seconds"), step.pop("queue_seconds")
        out.append(record)
    return sorted(out, key=lambda r: r["job_key"])


def played(path: Path) -> list[tuple]:
    """What each episode did and scored, by task."""
    return sorted((t.task_id, [(m.role, m.content, m.tool_calls) for m in t.messages], t.reward, t.success)
                  for t in TrajectoryStore(path).read())


def printed(run_dir: Path) -> str:
    nb = json.loads((run_dir / "00_quickstart.ipynb").read_text())
    return "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", ()) if o.get("name") == "stdout")


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.timeout(900)
def test_tiny_quickstart_leaves_stores_dataset_widgets_and_is_reproducible(tmp_path):
    first = run_notebook(NOTEBOOK, TINY, out_root=tmp_path / "a", progress=False)
    executed = (first / "00_quickstart.ipynb").read_text()
    assert "application/vnd.jupyter.widget-view+json" in executed
    assert 'class=\\"ag-static-output\\"' in executed  # every widget also renders without a kernel
    html = (first / "00_quickstart.html").read_text()
    assert "ag-static-output" in html and "<script src=" not in html
    assert (first / "dataset" / "sft.jsonl").read_text().count("\n") == 4
    assert len(TrajectoryStore(first / "before.jsonl").read()) == 2
    assert len(TrajectoryStore(first / "after.jsonl").read()) == 2
    text = printed(first)
    assert "held-out success: base model" in text and re.search(r"quickstart ran in \d+ s", text)
    second = run_notebook(NOTEBOOK, TINY, out_root=tmp_path / "b", progress=False)
    assert deterministic_view(first / "before.jsonl") == deterministic_view(second / "before.jsonl")
    # the trained model is another folder each run (its checkpoint id is in the job keys): compare what it did
    assert played(first / "after.jsonl") == played(second / "after.jsonl")  # a seeded SFT step, greedy decoding


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.timeout(900)
def test_the_quickstart_with_its_defaults_shows_the_model_learning(tmp_path):
    run_dir = run_notebook(NOTEBOOK, {"serve": True}, out_root=tmp_path, progress=False)
    before = TrajectoryStore(run_dir / "before.jsonl").read()
    after = TrajectoryStore(run_dir / "after.jsonl").read()
    assert len(before) == len(after) == 8
    solved_before, solved_after = sum(t.success is True for t in before), sum(t.success is True for t in after)
    assert solved_before <= 1 < 6 <= solved_after, (solved_before, solved_after)
    text = printed(run_dir)
    assert f"held-out success: base model {solved_before}/8 -> after SFT {solved_after}/8" in text
    assert "exact McNemar p = " in text
    served = TrajectoryStore(run_dir / "served.jsonl").read()  # the trained model behind the OpenAI-compatible server
    assert len(served) == 2 and all(t.error is None for t in served)
    assert re.search(r"quickstart ran in \d+ s", text)
