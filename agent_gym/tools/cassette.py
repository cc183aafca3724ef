"""Tool mocking with cassettes: record real tool calls once, replay them deterministically.

```python
cassette = Cassette("runs/retail.cassette.jsonl", mode="record")
env = cassette.attach(CustomerServiceEnv("retail"))      # any ToolEnv; returns it
run_rollouts(env, policy, tasks)                      # real tools run; each call is recorded

replay = Cassette("runs/retail.cassette.jsonl", mode="replay", fallback=error_fallback)
env = replay.attach(CustomerServiceEnv("retail"))          # same call -> same recorded response
print(replay.summary())                                    # hits / misses per tool
```

A call is identified by the tool's name and its arguments as canonical JSON (sorted keys, the
tool's defaults filled in), so argument order and omitted defaults do not matter. The first recorded response of a call is the one replayed.

Modes:

* `record` — every call runs the real tool and is recorded (appended to the file at once).
* `replay` — recorded calls are answered from the cassette; an unseen call goes to `fallback`
  (`error_fallback` by default, or `LLMFallback(policy)`, which imitates the tool from its schema
  and nearby recorded examples) and is counted as a miss. The real tool never runs.
* `new` — replay what is recorded, run and record what is not.

It is one module because recording, replay, the fallback for missed calls and the hit statistics share
one file format and one key function (`call_key`).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent_gym.env import ToolEnv
from agent_gym.errors import ConfigError
from agent_gym.formats import ModelJSONError, loads_model_json
from agent_gym.policies.base import Policy
from agent_gym.tools.base import Tool, ToolResult
from agent_gym.types import Message

Mode = Literal["record", "replay", "new"]
MODES: tuple[str, ...] = ("record", "replay", "new")


@dataclass(frozen=True)
class Recording:
    """One recorded call and its response, one line of a cassette file."""

    tool: str
    """Tool name."""
    arguments: Any
    """The call's arguments (a JSON object, or the raw string when it was not valid JSON)."""
    content: str
    """The tool's response, byte for byte."""
    is_error: bool = False
    """Whether the response was an error."""

    @property
    def key(self) -> str:
        """Identity of the call: tool name + canonical JSON arguments."""
        return call_key(self.tool, self.arguments)

    def to_json(self) -> str:
        """One JSON line."""
        return json.dumps({"tool": self.tool, "arguments": self.arguments, "content": self.content,
                           "is_error": self.is_error}, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class MissedCall:
    """An unseen call in replay mode, handed to the fallback responder."""

    tool: Tool
    """The tool (name, description, JSON schema)."""
    arguments: Any
    """The arguments the model sent."""
    examples: tuple[Recording, ...]
    """Recorded calls of the same tool, nearest first."""


Fallback = Callable[[MissedCall], Awaitable[ToolResult]]


@dataclass
class ToolStats:
    """Counts for one tool."""

    calls: int = 0
    """Calls made through the cassette."""
    hits: int = 0
    """Calls answered from the cassette."""
    misses: int = 0
    """Unseen calls (answered by the fallback in replay mode, by the real tool in `new` mode)."""
    recorded: int = 0
    """Responses added to the cassette."""
    fallback_errors: int = 0
    """Misses whose fallback answered with an error."""

    @property
    def hit_rate(self) -> float:
        """hits / (hits + misses); 0 when nothing was looked up."""
        looked_up = self.hits + self.misses
        return self.hits / looked_up if looked_up else 0.0


def call_key(tool: str, arguments: Any) -> str:
    """Canonical identity of a call: `name:` + sorted-key compact JSON of the arguments."""
    if isinstance(arguments, str):
        try:
            arguments = loads_model_json(arguments) if arguments.strip() else {}
        except ModelJSONError:
            pass
    return f"{tool}:{json.dumps(arguments, sort_keys=True, separators=(',', ':'), ensure_ascii=False, default=str)}"


async def error_fallback(miss: MissedCall) -> ToolResult:
    """Answer an unseen call with an error the model can read (the default fallback)."""
    shown = json.dumps(miss.arguments, ensure_ascii=False, default=str)
    return ToolResult(f"Error: no recorded response for {miss.tool.name}({shown}); this tool is replayed "
                      "from a cassette and this call was never recorded.", is_error=True)


class LLMFallback:
    """Imitate an unseen call's response with a model, from the tool's schema and recorded examples.

    Args:
        policy: Any policy (the embedded model, an API model, a ScriptedPolicy in tests).
        examples: How many recorded calls of the same tool to show.
        max_chars: Cap on each example response's length in the prompt.
    """

    def __init__(self, policy: Policy, examples: int = 3, max_chars: int = 1500) -> None:
        self.policy = policy
        self.examples = examples
        self.max_chars = max_chars

    def __deepcopy__(self, memo: dict) -> LLMFallback:
        return self

    def prompt(self, miss: MissedCall) -> list[Message]:
        """The model's conversation: the tool, recorded examples, the unseen call."""
        lines = [f"Tool: {miss.tool.name}", f"Description: {miss.tool.description}",
                 f"Parameters (JSON schema): {json.dumps(miss.tool.parameters)}", ""]
        for ex in miss.examples[: self.examples]:
            lines += [f"Call: {json.dumps(ex.arguments, ensure_ascii=False)}",
                      f"Response: {ex.content[: self.max_chars]}", ""]
        lines += [f"Call: {json.dumps(miss.arguments, ensure_ascii=False, default=str)}", "Response:"]
        instruction = ("You imitate a software tool. Given its description and recorded calls, write the "
                       "response the tool would return for the new call, in the same format as the "
                       "examples. Reply with the response only.")
        return [Message(role="system", content=instruction), Message(role="user", content="\n".join(lines))]

    async def __call__(self, miss: MissedCall) -> ToolResult:
        try:
            output = await self.policy.act(self.prompt(miss), [])
        except Exception as exc:  # noqa: BLE001 - the fallback must answer, not crash the episode
            return ToolResult(f"Error: the mock of {miss.tool.name} failed ({type(exc).__name__}: {exc}).", True)
        text = _strip_fence(output.message.content)
        if not text:
            return ToolResult(f"Error: the mock of {miss.tool.name} returned nothing.", True)
        return ToolResult(text, text.startswith("Error"))


def _strip_fence(text: str) -> str:
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text.strip()


class Cassette:
    """Recorded tool calls and responses, with hit/miss counts per tool.

    Args:
        path: JSONL file; loaded if it exists, appended to as calls are recorded. None keeps the
            cassette in memory (`save(path)` writes it).
        mode: `record`, `replay` or `new` (see the module docstring).
        fallback: Answers unseen calls in replay mode (`error_fallback`, `LLMFallback(policy)`, or
            any async function `MissedCall -> ToolResult`).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, mode: Mode = "replay",
                 fallback: Fallback = error_fallback) -> None:
        if mode not in MODES:
            raise ConfigError(f"Cassette mode must be one of {MODES}, got {mode!r}.")
        if not callable(fallback):
            raise ConfigError("fallback must be an async function MissedCall -> ToolResult (e.g. error_fallback).")
        self.path = None if path is None else Path(path)
        if mode == "replay" and self.path is not None and not self.path.exists():
            raise ConfigError(f"No cassette at {self.path} to replay; record one first with mode='record'.")
        self.mode: Mode = mode
        self.fallback = fallback
        self.recordings: dict[str, Recording] = {}
        self.by_tool: dict[str, list[Recording]] = {}
        self.stats: dict[str, ToolStats] = {}
        self.missed: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        if self.path is not None and self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    data = json.loads(line)
                    self._add(Recording(data["tool"], data["arguments"], data["content"], data.get("is_error", False)))

    def __deepcopy__(self, memo: dict) -> Cassette:
        return self  # one cassette is shared by every episode's copy of the environment

    def __len__(self) -> int:
        return len(self.recordings)

    def __repr__(self) -> str:
        return f"Cassette({str(self.path) if self.path else None!r}, mode={self.mode!r}, recordings={len(self)})"

    # ---- installing --------------------------------------------------------------------------

    def wrap(self, tool: Tool) -> CassetteTool:
        """A tool that goes through this cassette (rewraps a tool already wrapped by a cassette)."""
        inner = tool.inner if isinstance(tool, CassetteTool) else tool
        return CassetteTool(fn=inner.fn, name=inner.name, description=inner.description,
                            parameters=inner.parameters, args_model=inner.args_model, blocking=inner.blocking,
                            needs_self=inner.needs_self, inner=inner, cassette=self)

    def wrap_tools(self, tools: Sequence[Tool]) -> list[Tool]:
        """`wrap` each tool, for building a ToolEnv: `ToolEnv(tools=cassette.wrap_tools([...]))`."""
        return [self.wrap(t) for t in tools]

    def attach(self, env: ToolEnv) -> ToolEnv:
        """Route every tool of `env` (any ToolEnv, including subclasses) through this cassette."""
        if not isinstance(env, ToolEnv):
            raise ConfigError(f"A cassette attaches to a ToolEnv, got {type(env).__name__}; "
                              "for your own Environment, build its tools with cassette.wrap_tools(...).")
        env._tools = self.wrap_tools(env._tools)  # noqa: SLF001 - ToolEnv has no public setter
        return env

    # ---- recording and replaying -------------------------------------------------------------

    def lookup(self, tool: str, arguments: Any) -> Recording | None:
        """The recorded response of this call, if any."""
        return self.recordings.get(call_key(tool, arguments))

    def add(self, tool: Tool, arguments: Any, content: str, is_error: bool = False) -> Recording:
        """Pre-fill a response (e.g. from logged traffic); arguments are canonicalized like live calls."""
        return self.record(tool.name, _canonical(tool, arguments), ToolResult(content, is_error))

    def record(self, tool: str, arguments: Any, result: ToolResult) -> Recording:
        """Add a call and its response (appended to the file); the first recording of a call wins."""
        recording = Recording(tool, arguments, result.content, result.is_error)
        with self._lock:
            new = recording.key not in self.recordings
            self._add(recording)
            self._stats(tool).recorded += 1
            if self.path is not None and new:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(recording.to_json() + "\n")
        return recording

    async def respond(self, tool: CassetteTool, arguments: Any) -> ToolResult:
        """Answer one call according to the mode."""
        arguments = _canonical(tool.inner, arguments)
        stats = self._stats(tool.name)
        stats.calls += 1
        if self.mode == "record":
            result = await tool.inner.run(arguments)
            self.record(tool.name, arguments, result)
            return result
        hit = self.lookup(tool.name, arguments)
        if hit is not None:
            stats.hits += 1
            return ToolResult(hit.content, hit.is_error)
        stats.misses += 1
        self.missed.append((tool.name, arguments))
        if self.mode == "new":
            result = await tool.inner.run(arguments)
            self.record(tool.name, arguments, result)
            return result
        miss = MissedCall(tool=tool.inner, arguments=arguments, examples=tuple(self.nearest(tool.name, arguments)))
        try:
            result = await self.fallback(miss)
        except Exception as exc:  # noqa: BLE001 - a broken fallback must not kill the episode
            result = ToolResult(f"Error: the fallback for {tool.name} failed ({type(exc).__name__}: {exc}).", True)
        stats.fallback_errors += result.is_error
        return result

    def nearest(self, tool: str, arguments: Any, k: int = 5) -> list[Recording]:
        """Recorded calls of `tool`, most similar arguments first (shared keys and equal values)."""
        def score(rec: Recording) -> tuple[int, int]:
            if not (isinstance(rec.arguments, dict) and isinstance(arguments, dict)):
                return (0, 0)
            same = sum(rec.arguments.get(k) == v for k, v in arguments.items())
            return (same, len(set(rec.arguments) & set(arguments)))
        return sorted(self.by_tool.get(tool, []), key=score, reverse=True)[:k]

    # ---- reporting ---------------------------------------------------------------------------

    def report(self) -> dict[str, dict[str, float]]:
        """Per tool: calls, hits, misses, recorded, fallback_errors and hit_rate, plus a `TOTAL` row."""
        rows = {name: _row(s) for name, s in sorted(self.stats.items())}
        total = ToolStats(*(sum(getattr(s, f) for s in self.stats.values())
                            for f in ("calls", "hits", "misses", "recorded", "fallback_errors")))
        rows["TOTAL"] = _row(total)
        return rows

    def summary(self) -> str:
        """The report as a text table."""
        head = f"{'tool':32} {'calls':>6} {'hits':>6} {'misses':>6} {'recorded':>8} {'fb_err':>6} {'hit_rate':>8}"
        lines = [head]
        for name, r in self.report().items():
            lines.append(f"{name:32} {r['calls']:>6.0f} {r['hits']:>6.0f} {r['misses']:>6.0f} {r['recorded']:>8.0f} "
                         f"{r['fallback_errors']:>6.0f} {r['hit_rate']:>8.2f}")
        return "\n".join(lines)

    def reset_stats(self) -> None:
        """Zero the counters (recordings are kept)."""
        with self._lock:
            self.stats.clear()
            self.missed.clear()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write every recording to `path` (JSONL) and return it."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(r.to_json() + "\n" for r in self.recordings.values()), encoding="utf-8")
        return target

    def _add(self, recording: Recording) -> None:
        if recording.key not in self.recordings:
            self.recordings[recording.key] = recording
            self.by_tool.setdefault(recording.tool, []).append(recording)

    def _stats(self, tool: str) -> ToolStats:
        return self.stats.setdefault(tool, ToolStats())


def _row(s: ToolStats) -> dict[str, float]:
    return {"calls": s.calls, "hits": s.hits, "misses": s.misses, "recorded": s.recorded, "fallback_errors": s.fallback_errors,
            "hit_rate": s.hit_rate}


def _canonical(tool: Tool, arguments: Any) -> Any:
    """Decoded arguments with the tool's defaults filled in (as given when they do not validate)."""
    if isinstance(arguments, str):
        try:
            arguments = loads_model_json(arguments) if arguments.strip() else {}
        except ModelJSONError:
            return arguments
    try:
        return tool.args_model.model_validate(arguments).model_dump(mode="json")
    except Exception:  # noqa: BLE001 - invalid arguments are keyed as sent; the tool explains the error
        return arguments


@dataclass(frozen=True)
class CassetteTool(Tool):
    """A tool whose calls go through a `Cassette` (made by `Cassette.wrap`)."""

    inner: Tool = field(default=None, repr=False, kw_only=True)  # type: ignore[assignment]
    """The real tool."""
    cassette: Cassette = field(default=None, repr=False, kw_only=True)  # type: ignore[assignment]
    """The cassette that answers or records."""

    async def run(self, arguments: dict[str, Any] | str) -> ToolResult:
        return await self.cassette.respond(self, arguments)


__all__ = ["MODES", "Cassette", "CassetteTool", "LLMFallback", "MissedCall", "Recording", "ToolStats",
           "call_key", "error_fallback"]
