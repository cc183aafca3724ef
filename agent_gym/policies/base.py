"""The policy protocol: what produces the assistant's next message, and what one call returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from agent_gym.types import Message, TokenRecord, Usage


@dataclass(frozen=True)
class PolicyOutput:
    """The assistant's message and what producing it cost."""

    message: Message
    """The assistant message (tool calls parsed, reasoning split out)."""
    usage: Usage = Usage()
    """Tokens used by this call."""
    queue_seconds: float = 0.0
    """Of the call's wall time, how long it waited for the model to be free (0 when the policy cannot tell)."""


@runtime_checkable
class Policy(Protocol):
    """Anything that answers a conversation with an assistant message.

    Optional: `async preflight()`, which the runner awaits once before a run that has episodes to play, so
    an unreachable model server is one clear error instead of every episode failing after retries.
    """

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


@runtime_checkable
class EpisodeSession(Protocol):
    """One episode's view of a policy that keeps state across its turns (token-capable policies).

    A policy with `start_episode() -> EpisodeSession` gets one session per episode from the runner, which
    calls `session.act` for every turn and `session.finish()` once when the episode ends, failed or not.
    """

    async def act(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *, seed: int | None = None
    ) -> PolicyOutput:
        """The next assistant message; `messages` is the whole conversation so far."""
        ...

    def finish(self) -> TokenRecord | None:
        """End the episode; return its token record (None for a text-only session)."""
        ...
