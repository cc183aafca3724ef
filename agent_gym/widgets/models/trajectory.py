"""A trajectory as the plain, JSON-ready "view model" the front-end renders.

The browser never sees a `Trajectory`: it gets this dict, in which every message is split into
segments (text, `<think>`, JSON), tool calls are paired with their responses, long texts are
truncated (the full text is sent on demand), and each turn carries its reward, cumulative reward,
flags and judge rationale. All text stays text: the front-end inserts it with `textContent`, so
HTML in model output is shown, never run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from agent_gym.types import Message, Step, Trajectory

MAX_CHARS = 10_000
"""Characters of one text segment sent to the browser before it is truncated (head + tail)."""
EXPAND_LIMIT = 2_000_000
"""Characters sent when the user asks for the full text of a truncated segment."""

_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL)
_JUDGE_KEYS = ("rationale", "judge_rationale", "explanation")


def coerce_trajectory(data: Trajectory | Mapping[str, Any]) -> tuple[Trajectory, list[str]]:
    """A `Trajectory` from a record or a (possibly damaged) dict, and what had to be repaired.

    Missing required fields get placeholders; unreadable messages or steps are dropped one by one
    instead of failing the whole record.
    """
    if isinstance(data, Trajectory):
        return data, []
    if not isinstance(data, Mapping):
        raise TypeError(f"expected a Trajectory or a dict, got {type(data).__name__}")
    try:
        return Trajectory.model_validate(dict(data)), []
    except ValidationError:
        pass
    warnings: list[str] = []
    fields = Trajectory.model_fields
    clean: dict[str, Any] = {k: v for k, v in data.items() if k in fields}
    for name in ("id", "task_id", "env", "policy"):
        if not isinstance(clean.get(name), str):
            warnings.append(f"missing field {name!r}")
            clean[name] = "?"
    for name, kind in (("messages", Message), ("steps", Step)):
        items = clean.get(name)
        if items is None:
            continue
        kept = []
        for item in items if isinstance(items, list | tuple) else []:
            try:
                kept.append(kind.model_validate(item))
            except ValidationError:
                warnings.append(f"dropped an unreadable entry of {name!r}")
        clean[name] = kept
    for name in list(clean):
        if name in ("id", "task_id", "env", "policy", "messages", "steps"):
            continue
        try:
            Trajectory.model_validate({"id": "x", "task_id": "x", "env": "x", "policy": "x", name: clean[name]})
        except ValidationError:
            warnings.append(f"ignored unreadable field {name!r}")
            del clean[name]
    return Trajectory.model_validate(clean), warnings


def segment(kind: str, text: str, max_chars: int = MAX_CHARS) -> dict[str, Any]:
    """One piece of a message; texts over `max_chars` keep a head and a tail and say what is omitted."""
    if len(text) <= max_chars:
        return {"kind": kind, "text": text}
    head = int(max_chars * 0.8)
    tail = max_chars - head
    return {
        "kind": kind, "text": text[:head], "tail": text[-tail:] if tail else "",
        "truncated": True, "omitted": len(text) - head - tail, "length": len(text),
    }


def split_content(message: Message, max_chars: int = MAX_CHARS) -> list[dict[str, Any]]:
    """The message's visible parts in order: reasoning (`think`), text, or pretty `json` for tool output."""
    parts: list[dict[str, Any]] = []
    if message.reasoning:
        parts.append(segment("think", message.reasoning, max_chars))
    text = message.content or ""
    if message.role == "tool":
        pretty = _pretty_json(text)
        if pretty is not None:
            return parts + [segment("json", pretty, max_chars)]
    position = 0
    for match in _THINK.finditer(text):  # think blocks left in the text (raw model output)
        before = text[position:match.start()]
        if before.strip():
            parts.append(segment("text", before.strip("\n"), max_chars))
        parts.append(segment("think", match.group(1).strip("\n"), max_chars))
        position = match.end()
    rest = text[position:]
    if rest.strip() or not parts:
        parts.append(segment("text", rest.strip("\n") if position else rest, max_chars))
    return parts


def full_segment_text(message: Message, index: int, limit: int = EXPAND_LIMIT) -> str:
    """The untruncated text of segment `index` of `message` (as `split_content` numbers them)."""
    parts = split_content(message, max_chars=limit)
    if not 0 <= index < len(parts):
        raise IndexError(f"message has {len(parts)} segments, not {index + 1}")
    part = parts[index]
    return part["text"] + (f"\n… [{part['omitted']:,} more characters not sent]" if part.get("truncated") else "")


def _pretty_json(text: str) -> str | None:
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{" or len(stripped) > 5 * EXPAND_LIMIT:
        return None
    try:
        return json.dumps(json.loads(stripped), indent=2, ensure_ascii=False)
    except ValueError:
        return None


def _is_tool_error(message: Message) -> bool:
    return message.role == "tool" and message.content.lstrip().lower().startswith("error")


def message_view(index: int, message: Message, max_chars: int = MAX_CHARS) -> dict[str, Any]:
    """One message for the front-end."""
    view: dict[str, Any] = {
        "index": index, "role": message.role, "segments": split_content(message, max_chars),
        "tool_calls": [
            {"id": call.id, "name": call.name, "arguments": json.dumps(call.arguments, indent=2, ensure_ascii=False)}
            for call in message.tool_calls
        ],
    }
    if message.name:
        view["name"] = message.name
    if message.tool_call_id:
        view["tool_call_id"] = message.tool_call_id
    if message.error:
        view["error"] = message.error
    if _is_tool_error(message):
        view["tool_error"] = True
    return view


def judge_rationale(info: Mapping[str, Any]) -> str | None:
    """A judge's rationale in step info or metadata: `rationale`, or `judge: {rationale}` / `judge: "…"`."""
    for key in _JUDGE_KEYS:
        if isinstance(info.get(key), str):
            return info[key]
    judge = info.get("judge")
    if isinstance(judge, str):
        return judge
    if isinstance(judge, Mapping):
        for key in _JUDGE_KEYS:
            if isinstance(judge.get(key), str):
                return judge[key]
    return None


def _pair_tool_calls(messages: list[dict[str, Any]], action: int, observations: list[int]) -> None:
    """Mark each tool response with the call it answers (by id, else by position)."""
    calls = messages[action]["tool_calls"] if 0 <= action < len(messages) else []
    by_id = {call["id"]: n for n, call in enumerate(calls) if call["id"]}
    free = [n for n in range(len(calls))]
    for obs in observations:
        view = messages[obs]
        if view["role"] != "tool":
            continue
        n = by_id.get(view.get("tool_call_id", ""))
        if n is None or n not in free:
            n = free[0] if free else None
        if n is None:
            continue
        free.remove(n)
        view["reply_to"] = [action, n]
        calls[n]["response"] = obs


def trajectory_view(data: Trajectory | Mapping[str, Any], max_chars: int = MAX_CHARS) -> dict[str, Any]:
    """Everything the viewer shows of one trajectory, as plain JSON-ready data."""
    t, warnings = coerce_trajectory(data)
    messages = [message_view(i, m, max_chars) for i, m in enumerate(t.messages)]
    turns: list[dict[str, Any]] = []
    covered = 0
    cumulative = 0.0
    for k, step in enumerate(t.steps):
        action = step.action_index
        if not 0 <= action < len(messages):
            warnings.append(f"turn {k + 1} points at message {action}, which does not exist")
            action = -1
        observations = [i for i in range(action + 1, action + 1 + step.observation_count) if 0 <= i < len(messages)] if action >= 0 else []
        cumulative += step.reward
        flags = []
        if action >= 0 and t.messages[action].error:
            flags.append("parse_error")
        if step.info.get("parse_error"):
            flags.append("parse_error")
        if step.info.get("tool_errors") or any(messages[i].get("tool_error") for i in observations):
            flags.append("tool_error")
        turn = {
            "index": k, "action": action, "observations": observations, "reward": step.reward,
            "cumulative": cumulative, "components": dict(step.components), "terminated": step.terminated,
            "truncated": step.truncated, "info": step.info, "usage": step.usage.model_dump(),
            "policy_seconds": step.policy_seconds, "queue_seconds": step.queue_seconds, "env_seconds": step.env_seconds,
            "flags": sorted(set(flags)), "judge": judge_rationale(step.info),
        }
        if action >= 0:
            _pair_tool_calls(messages, action, observations)
            covered = max(covered, action + 1 + len(observations))
        turns.append(turn)
    first_action = next((turn["action"] for turn in turns if turn["action"] >= 0), len(messages))
    preamble = list(range(0, min(first_action, len(messages))))
    leftover = list(range(max(covered, len(preamble)), len(messages)))
    if leftover or (t.error is not None and not turns):
        turns.append({  # what happened after the last recorded step: usually where the episode failed
            "index": len(turns), "action": -1, "observations": leftover, "reward": 0.0, "cumulative": cumulative,
            "components": {}, "terminated": False, "truncated": False, "info": {}, "usage": {},
            "policy_seconds": 0.0, "env_seconds": 0.0, "flags": ["unfinished"], "judge": None, "partial": True,
        })
    if t.error is not None:
        turns[-1]["flags"] = sorted(set(turns[-1]["flags"]) | {"error"})
    first_error = next((turn["index"] for turn in turns if set(turn["flags"]) - {"unfinished"}), None)
    changes = [turn["index"] for turn in turns if turn["reward"] != 0.0]
    return {
        "id": t.id, "task_id": t.task_id, "env": t.env, "policy": t.policy, "model": t.model,
        "sample_index": t.sample_index, "reward": t.reward, "reward_components": dict(t.reward_components),
        "success": t.success, "terminated": t.terminated, "truncated": t.truncated, "metrics": dict(t.metrics),
        "usage": t.usage.model_dump() | {"total_tokens": t.usage.total_tokens}, "seconds": t.seconds,
        "started_at": t.started_at, "sampling": dict(t.sampling), "metadata": dict(t.metadata),
        "job_key": t.job_key, "error": t.error.model_dump() if t.error else None,
        "messages": messages, "preamble": preamble, "turns": turns,
        "first_error_turn": first_error, "reward_change_turns": changes,
        "judge": judge_rationale(t.metadata), "final_answer": t.final_answer, "warnings": warnings,
        "task": task_view(t), "expected_answer": expected_answer(t), "tools_offered": tools_view(t),
        "environment": dict(t.environment), "policy_info": dict(t.policy_info), "tokens_recorded": t.tokens is not None,
    }


def expected_answer(t: Trajectory) -> str | None:
    """The task's expected answer as text (JSON for structured answers); None when the record has none."""
    if t.task is None or t.task.answer is None:
        return None
    answer = t.task.answer
    return answer if isinstance(answer, str) else json.dumps(answer, indent=2, ensure_ascii=False, default=str)


def task_view(t: Trajectory, max_chars: int = MAX_CHARS) -> dict[str, Any] | None:
    """The task as given (prompt segment and metadata); None for records older than schema 2."""
    if t.task is None:
        return None
    return {"id": t.task.id, "prompt": segment("text", t.task.prompt, max_chars), "metadata": dict(t.task.metadata)}


def tools_view(t: Trajectory) -> list[dict[str, Any]]:
    """Each tool offered: name, description and its parameters as pretty JSON."""
    out = []
    for schema in t.tools:
        function = schema.get("function", schema)
        out.append({"name": str(function.get("name", "?")), "description": str(function.get("description", "")),
                    "parameters": json.dumps(function.get("parameters", {}), indent=2, ensure_ascii=False)})
    return out


def jump_target(view: Mapping[str, Any], current: int, where: str) -> int:
    """The turn to go to: `first`, `last`, `next`, `prev`, `error` (first error), `change` (next reward change)."""
    count = len(view.get("turns", ()))
    if count == 0:
        return 0
    targets = {
        "first": 0, "last": count - 1, "next": min(current + 1, count - 1), "prev": max(current - 1, 0),
    }
    if where in targets:
        return targets[where]
    if where == "error":
        found = view.get("first_error_turn")
        return current if found is None else found
    if where == "change":
        changes = view.get("reward_change_turns", [])
        after = [k for k in changes if k > current]
        return after[0] if after else (changes[0] if changes else current)
    raise ValueError(f"unknown jump {where!r}; use first, last, next, prev, error or change")
