"""Resuming an interrupted GRPO run: which checkpoint, and what of the crashed run is dropped."""

from __future__ import annotations

import json

import pytest

from agent_gym.errors import ConfigError
from agent_gym.train.resume import checkpoint_step, find_checkpoint, forget_after


def _checkpoint(folder, step):
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return folder


def test_find_checkpoint_takes_the_last_step_not_the_last_name(tmp_path):
    for step in (2, 10, 9):
        _checkpoint(tmp_path / f"checkpoint-{step}", step)
    (tmp_path / "checkpoint-final").mkdir()
    assert find_checkpoint(tmp_path, True) == tmp_path / "checkpoint-10"
    assert checkpoint_step(find_checkpoint(tmp_path, True)) == 10
    assert find_checkpoint(tmp_path, tmp_path / "checkpoint-2") == tmp_path / "checkpoint-2"
    assert find_checkpoint(tmp_path, False) is None
    assert find_checkpoint(tmp_path / "fresh", True) is None  # nothing saved yet: start from scratch
    with pytest.raises(ConfigError, match="not a trainer checkpoint.*resume=True"):
        find_checkpoint(tmp_path, tmp_path / "checkpoint-final")


def test_forget_after_drops_later_metrics_and_episodes_and_torn_lines(tmp_path):
    metrics, store = tmp_path / "metrics.jsonl", tmp_path / "trajectories.jsonl"
    metrics.write_text("".join(json.dumps({"step": s, "loss": 0.1}) + "\n" for s in (1, 2, 3)) + '{"step": 4, "lo')
    episodes = [{"id": f"e{i}", "metadata": {"grpo": {"step": s}}} for i, s in enumerate((0, 0, 1, 2, 2))]
    store.write_text("".join(json.dumps(e) + "\n" for e in episodes))
    assert forget_after(2, metrics, store) == {"metrics": 2, "episodes": 2}
    assert [json.loads(line)["step"] for line in metrics.read_text().splitlines()] == [1, 2]
    # the episodes of steps 1 and 2 were played at step counts 0 and 1; those of step 3, at 2
    assert [json.loads(line)["id"] for line in store.read_text().splitlines()] == ["e0", "e1", "e2"]
    assert forget_after(2, metrics, store) == {"metrics": 0, "episodes": 0}
    assert forget_after(0, tmp_path / "none.jsonl", None) == {"metrics": 0}
