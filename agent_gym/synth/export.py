"""Turning trajectories into training rows, and writing them.

* `openai_row` — OpenAI chat fine-tuning format: `messages` with native `tool_calls` (JSON-string
  arguments) and `tools`.
* `hf_row` — the same conversation for Hugging Face chat templates and TRL's `SFTTrainer`:
  tool-call arguments as objects, `tools` as a JSON string (TRL decodes it).
* `text_row` — seed 000's text format: the tool list JSON in the system message, `<think>` and
  `<tool_call>` in assistant turns, `<tool_response name="…">` in the following user turn.
* `grpo_prompt_row` — a task prompt with its env and task ids, for GRPO prompt datasets.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from agent_gym.formats import render_tools_json, to_text_conversation
from agent_gym.types import Message, Task, Trajectory


def _openai_message(message: Message, *, arguments_as_text: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.reasoning:
        out["reasoning_content"] = message.reasoning
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": json.dumps(call.arguments, ensure_ascii=False) if arguments_as_text else call.arguments,
                },
            }
            for call in message.tool_calls
        ]
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id or ""
        out["name"] = message.name or ""
    return out


def openai_row(trajectory: Trajectory, tools: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """`{"messages": [...], "tools": [...]}` in OpenAI's fine-tuning format (reasoning as `reasoning_content`)."""
    return {"messages": [_openai_message(m, arguments_as_text=True) for m in trajectory.messages], "tools": list(tools)}


def hf_row(trajectory: Trajectory, tools: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """`{"messages": [...], "tools": "<json>"}` that TRL's SFTTrainer and HF chat templates take as is."""
    messages = [_openai_message(m, arguments_as_text=False) for m in trajectory.messages]
    return {"messages": messages, "tools": json.dumps(list(tools), ensure_ascii=False)}


def text_row(trajectory: Trajectory, tools: Sequence[dict[str, Any]], think_type: str | None = None) -> dict[str, Any]:
    """`{"messages": [...]}` in seed 000's text format (role/content only); `think_type="quick"`
    writes `<think type="quick">` as seed 000's data does."""
    return {"messages": to_text_conversation(trajectory.messages, tools, instructions=False, think_type=think_type)}


def grpo_prompt_row(task: Task, env_name: str, opening: Sequence[Message]) -> dict[str, Any]:
    """A GRPO prompt row: the opening messages, the env and task ids, and the answer for rewards."""
    return {
        "prompt": [{"role": m.role, "content": m.content} for m in opening],
        "env": env_name,
        "task_id": task.id,
        "answer": None if task.answer is None else json.dumps(task.answer),
    }


def sft_features() -> Any:
    """`datasets.Features` for `hf_row` data: `messages` as JSON (so tool arguments of different
    shapes are not padded with nulls) and `tools` as a string.

    Load an exported file with `datasets.load_dataset("json", data_files=..., features=sft_features())`.
    """
    from datasets import Features, Json, Value

    return Features({"messages": Json(), "tools": Value("string")})


def to_hf_dataset(rows: Iterable[dict[str, Any]]) -> Any:
    """A `datasets.Dataset` of `hf_row` rows."""
    from datasets import Dataset

    rows = list(rows)
    columns = {"messages": [r["messages"] for r in rows], "tools": [r["tools"] for r in rows]}
    return Dataset.from_dict(columns, features=sft_features())


def write_jsonl(rows: Iterable[dict[str, Any]], path: Path) -> Path:
    """Write rows atomically (temp file, then rename): a crash never leaves a half file."""
    return write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), path)


def write_text(text: str, path: Path) -> Path:
    """Write a text file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def tools_json(tools: Sequence[dict[str, Any]]) -> str:
    """The tool list as compact JSON (what seed 000 puts in the system message)."""
    return render_tools_json(tools)
