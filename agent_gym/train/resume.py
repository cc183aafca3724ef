"""Resuming an interrupted GRPO run from its last checkpoint, without duplicate metrics or episodes.

A run saved with `save_strategy="steps"` keeps `checkpoint-N` folders (weights or adapter, optimizer,
scheduler, RNG state). After a crash, the metrics file and the trajectory store also hold what was
logged and played after the last checkpoint; `forget_after` drops those records so that the resumed
run writes them once, then `trainer.train(resume_from_checkpoint=...)` goes on from step N.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent_gym.errors import ConfigError


def find_checkpoint(output_dir: str | os.PathLike[str], resume: bool | str | os.PathLike[str]) -> Path | None:
    """The checkpoint to resume from: `resume=True` takes the last `checkpoint-N` in `output_dir` (None
    when there is none yet: a fresh start), a path names one, False resumes nothing."""
    if resume is False or resume is None:
        return None
    if resume is True:
        from transformers.trainer_utils import get_last_checkpoint

        last = get_last_checkpoint(output_dir) if Path(output_dir).is_dir() else None
        return Path(last) if last else None
    path = Path(resume)
    if not (path / "trainer_state.json").exists():
        raise ConfigError(f"{path} is not a trainer checkpoint (no trainer_state.json); pass resume=True to take the "
                          f"last checkpoint-N of the output folder, or a checkpoint-N folder.")
    return path


def checkpoint_step(checkpoint: str | os.PathLike[str]) -> int:
    """The optimizer step a checkpoint was saved at."""
    return int(json.loads((Path(checkpoint) / "trainer_state.json").read_text())["global_step"])


def forget_after(step: int, metrics_path: str | os.PathLike[str], store_path: str | os.PathLike[str] | None) -> dict[str, int]:
    """Drop the metric lines logged after optimizer step `step` and the training episodes played for
    later steps (an episode records the step count when it was played, so the episodes of step
    `step + 1` carry `step`). Returns how many records of each were dropped."""
    dropped = {"metrics": _filter_jsonl(metrics_path, lambda row: row.get("step", 0) <= step)}
    if store_path is not None:
        dropped["episodes"] = _filter_jsonl(
            store_path, lambda row: (row.get("metadata") or {}).get("grpo", {}).get("step", -1) < step)
    return dropped


def _filter_jsonl(path: str | os.PathLike[str], keep: Callable[[dict[str, Any]], bool]) -> int:
    path = Path(path)
    if not path.exists():
        return 0
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if not line.strip() or _keep(line, keep)]
    if len(kept) < len(lines):
        tmp = path.with_name(path.name + ".resume")
        tmp.write_text("".join(line if line.endswith("\n") else line + "\n" for line in kept))
        os.replace(tmp, path)
    return len(lines) - len(kept)


def _keep(line: str, keep: Callable[[dict[str, Any]], bool]) -> bool:
    try:
        return bool(keep(json.loads(line)))
    except json.JSONDecodeError:
        return False  # a line torn by the crash
