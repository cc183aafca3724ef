"""`ScriptedPolicy`: fixed replies or a function, for tests, tutorials and experts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agent_gym.errors import ConfigError, PolicyError
from agent_gym.formats import parse_assistant_text
from agent_gym.policies.base import PolicyOutput
from agent_gym.types import Message, Usage

ScriptReply = str | Message
Script = Sequence[ScriptReply] | Callable[[Sequence[Message], Sequence[dict[str, Any]]], ScriptReply]


class ScriptedPolicy:
    """Replies from a script: a list (the i-th assistant turn gets item i) or a function.

    Text replies are parsed like a text-format model's output, so
    `'<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>'` is a tool call.
    Stateless, so one instance serves many concurrent episodes.
    """

    def __init__(self, script: Script, *, name: str = "scripted") -> None:
        if isinstance(script, (str, bytes)) or not (callable(script) or isinstance(script, Sequence)):
            raise ConfigError("ScriptedPolicy takes a list of replies or a function (messages, tools) -> reply.")
        self.script = script
        self.name = name
        self.model: str | None = None
        self.sampling: Mapping[str, Any] = {}

    async def act(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *, seed: int | None = None
    ) -> PolicyOutput:
        if callable(self.script):
            reply = self.script(messages, tools)
        else:
            turn = sum(m.role == "assistant" for m in messages)
            if turn >= len(self.script):
                raise PolicyError(
                    f"The script has {len(self.script)} replies but turn {turn + 1} was asked for; "
                    "add replies or let the environment end the episode sooner."
                )
            reply = self.script[turn]
        if isinstance(reply, Message):
            return PolicyOutput(reply, Usage(calls=1))
        names = [t["function"]["name"] for t in tools]
        return PolicyOutput(parse_assistant_text(reply, tool_names=names, allow_parallel=True), Usage(calls=1))
