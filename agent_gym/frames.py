"""Run tables: one row per trajectory, built from the stored JSON without validating whole records.

The one frame builder: `TrajectoryStore.to_pandas()`, the widgets' `RunTable` and the plots all make
their tables with `run_frame`, from the rows of `summary_row` (a record in memory) or
`summary_from_dict` (a store's JSON line, several times faster than building the record).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter
from typing_extensions import TypedDict

from agent_gym.types import Trajectory

if TYPE_CHECKING:
    import pandas as pd

SUMMARY_COLUMNS = (
    "id", "env", "task_id", "sample_index", "policy", "model", "reward", "success", "turns", "tool_calls",
    "prompt_tokens", "completion_tokens", "total_tokens", "seconds", "queue_seconds", "error", "error_message",
    "terminated", "truncated", "started_at", "final_answer",
)
"""Columns of a summary row (reward components follow as `reward/<name>`)."""
FINAL_ANSWER_CHARS = 200
"""How much of the last assistant message a row keeps."""

class _Counted(TypedDict, total=False):
    """A list item that is only counted (a step): its fields are skipped."""


class _Error(TypedDict, total=False):
    kind: str
    message: str


class _Summarized(TypedDict, total=False):
    """The fields of a stored trajectory that a summary row reads; the rest of the line is skipped."""

    id: str
    env: str
    task_id: str
    sample_index: int
    policy: str
    model: str | None
    reward: float
    success: bool | None
    steps: list[_Counted]
    metrics: dict[str, float]
    usage: dict[str, int]
    seconds: float
    error: _Error | None
    terminated: bool
    truncated: bool
    started_at: float
    reward_components: dict[str, float]
    job_key: str
    schema_version: int


_SUMMARIZED = TypeAdapter(_Summarized)
_SUMMARY_FIELDS = set(_Summarized.__annotations__)
_LAST_ANSWER = b'{"role":"assistant","content":'
_STEPS = b',"steps":[{"action_index":'  # what follows the messages in a stored line with steps
_DECODER = json.JSONDecoder()


def summarized_json(line: bytes) -> dict[str, Any]:
    """The fields of one stored line that a summary row needs, parsed without building the record
    (`ValueError` when the line is not a trajectory's JSON).

    The messages are skipped, except the last assistant message's text, which is found from the end of
    the messages as the store writes them (compact JSON, `Message` fields in their declared order; the
    task record after them may hold messages of its own). A line without steps, one written otherwise,
    or one pydantic's parser rejects (lone surrogates), is parsed whole with `json`.
    """
    end = line.find(_STEPS)
    start = line.rfind(_LAST_ANSWER, 0, end) if end >= 0 else -1
    if start >= 0:
        try:
            data = dict(_SUMMARIZED.validate_json(line))
        except ValueError:
            pass
        else:
            text = line[start + len(_LAST_ANSWER):].decode("utf-8", "surrogatepass")
            data["final_answer"] = _DECODER.raw_decode(text)[0]
            return data
    return json.loads(line)  # summary_from_dict finds the answer in its messages


def summary_from_dict(d: Mapping[str, Any]) -> dict[str, Any]:
    """The summary row of a trajectory's JSON object (plus its `job_key`), without building the record.
    The final answer is `d["final_answer"]` when given, else the last assistant message's text."""
    usage, error = d.get("usage") or {}, d.get("error")
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    final_answer = d.get("final_answer")
    if final_answer is None:
        final_answer = next((m.get("content", "") for m in reversed(d.get("messages") or ()) if m.get("role") == "assistant"), "")
    row: dict[str, Any] = {
        "id": d["id"], "env": d["env"], "task_id": d["task_id"], "sample_index": d.get("sample_index", 0),
        "policy": d["policy"], "model": d.get("model"), "reward": d.get("reward", 0.0), "success": d.get("success"),
        "turns": len(d.get("steps") or ()), "tool_calls": int((d.get("metrics") or {}).get("tool_calls", 0)),
        "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
        "seconds": d.get("seconds", 0.0), "queue_seconds": float((d.get("metrics") or {}).get("queue_seconds", 0.0)),
        "error": error["kind"] if error else None,
        "error_message": error["message"] if error else None, "terminated": d.get("terminated", False),
        "truncated": d.get("truncated", False), "started_at": d.get("started_at", 0.0),
        "final_answer": final_answer[:FINAL_ANSWER_CHARS], "job_key": d.get("job_key", ""),
    }
    row.update({f"reward/{name}": value for name, value in (d.get("reward_components") or {}).items()})
    return row


def summary_row(t: Trajectory) -> dict[str, Any]:
    """The summary row of a trajectory record (plus its `job_key`)."""
    return summary_from_dict(t.model_dump(include=_SUMMARY_FIELDS) | {"final_answer": t.final_answer})


def run_frame(runs: Mapping[str | None, Iterable[Mapping[str, Any] | Trajectory]]) -> pd.DataFrame:
    """One row per trajectory of every run. Rows may be summary rows or records.

    Named runs get a `run` column and a `key` (`run/id`, unique across runs); a single run named
    None gets neither (that is `TrajectoryStore.to_pandas()`). `job_key` is left out.
    """
    import pandas as pd

    named = any(name is not None for name in runs)
    rows = []
    for name, items in runs.items():
        for item in items:
            row = summary_row(item) if isinstance(item, Trajectory) else dict(item)
            row.pop("job_key", None)
            if named:
                row["run"] = name
            rows.append(row)
    columns = [*(("run",) if named else ()), *SUMMARY_COLUMNS]
    if not rows:
        return pd.DataFrame(columns=[*columns, *(("key",) if named else ())])
    df = pd.DataFrame(rows)
    if named:
        df["key"] = df["run"].astype(str) + "/" + df["id"].astype(str)
    return df
