"""Tasks: loading them from lists, JSON/JSONL/Parquet files or a `datasets.Dataset`; the running episode's task."""

from __future__ import annotations

import contextvars
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agent_gym.errors import TaskError
from agent_gym.types import Task

PROMPT_FIELDS = ("prompt", "question", "instruction", "query", "problem")
"""Record fields accepted as the task prompt, in order of preference."""
ANSWER_FIELDS = ("answer", "solution", "ground_truth", "target")
"""Record fields accepted as the ground-truth answer."""


def task_from_record(record: Mapping[str, Any], index: int = 0) -> Task:
    """A Task from a dict: `id` (default: the index), a prompt field, an answer field, the rest as metadata."""
    if isinstance(record, Task):
        return record
    if not isinstance(record, Mapping):
        raise TaskError(f"Task #{index} is a {type(record).__name__}; each task must be an object with a 'prompt'.")
    prompt_key = next((k for k in PROMPT_FIELDS if k in record), None)
    if prompt_key is None:
        raise TaskError(
            f"Task #{index} has no prompt: give it one of the fields {PROMPT_FIELDS} (it has {sorted(record)})."
        )
    answer_key = next((k for k in ANSWER_FIELDS if k in record), None)
    used = {"id", "metadata", prompt_key, answer_key}
    metadata = dict(record.get("metadata") or {}) | {k: v for k, v in record.items() if k not in used}
    try:
        return Task(
            id=str(record.get("id", index)),
            prompt=str(record[prompt_key]),
            answer=record[answer_key] if answer_key else None,
            metadata=metadata,
        )
    except ValidationError as exc:
        raise TaskError(f"Task #{index} is malformed: {exc}") from exc


def load_tasks(source: str | os.PathLike[str] | Iterable[Any], *, limit: int | None = None) -> list[Task]:
    """Tasks from a path (.json list, .jsonl, .parquet), a `datasets.Dataset`, or an iterable of dicts/Tasks.

    Ids must be unique; a missing id defaults to the record's position.
    """
    if isinstance(source, (str, os.PathLike)):
        records = _read_file(Path(source))
    else:
        records = list(source)
    tasks = [task_from_record(r, i) for i, r in enumerate(records[:limit] if limit is not None else records)]
    seen: set[str] = set()
    for task in tasks:
        if task.id in seen:
            raise TaskError(f"Task id {task.id!r} appears twice; ids must be unique (they key resume and results).")
        seen.add(task.id)
    return tasks


def save_tasks(tasks: Iterable[Task], path: str | os.PathLike[str]) -> Path:
    """Write tasks as JSONL (one `Task` per line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(t.to_json() + "\n" for t in tasks))
    return path


def _read_file(path: Path) -> list[Any]:
    if not path.exists():
        raise TaskError(f"Task file {path} does not exist.")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        records = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise TaskError(f"{path}:{number} is not valid JSON ({exc.msg}).") from exc
        return records
    if suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise TaskError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}).") from exc
        if isinstance(data, dict) and isinstance(data.get("tasks"), list):
            data = data["tasks"]
        if not isinstance(data, list):
            raise TaskError(f"{path} must hold a JSON list of tasks (or {{'tasks': [...]}}).")
        return data
    if suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(path).to_dict(orient="records")
    raise TaskError(f"Unsupported task file {path.name}: use .json, .jsonl or .parquet.")


CURRENT_TASK: contextvars.ContextVar[Task | None] = contextvars.ContextVar("agent_gym_current_task", default=None)


def current_task() -> Task | None:
    """The task of the episode running in this asyncio task (None outside `rollout`).

    For policies that need the task record, such as scripted experts and oracles; model policies
    see only the conversation, as a real model would.
    """
    return CURRENT_TASK.get()
