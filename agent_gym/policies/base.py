"""The policy protocol: what produces the assistant's next message, and what one call returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from agent_gym.types import Message, Usage


@dataclass(frozen=True)
class PolicyOutput:
    """The assistant's message and what producing it cost."""

    message: Message
    """The assistant message (tool calls parsed, reasoning split out)."""
    usage: Usage = Usage()
    """Tokens used by this call."""


@runtime_checkable
class Policy(Protocol):
    """Anything that answers a conversation with an assistant message."""

    name: str
    """Short name stored on trajectories (e.g. `openai`, `scripted`)."""
    model: str | None
    """Model behind the policy, if any."""
    sampling: Mapping[str, Any]
    """Sampling settings; part of the resume key."""

    async def act(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *, seed: int | None = None
    ) -> PolicyOutput:
        """Produce the next assistant message for `messages`, offering `tools` (OpenAI schemas)."""
        ...
