"""Simulated customers: any `Policy` role-playing a task's user scenario, or a scripted stand-in.

A user simulator answers the agent's latest text with the next customer message. It ends the
conversation with an explicit stop signal (`###STOP###`, or τ²'s `###TRANSFER###` /
`###OUT-OF-SCOPE###`), or is stopped after `max_turns` messages. Its messages are recorded on the
trajectory as `Message(role="user", name="simulated_user")`.

* `SimulatedUser(policy)` — an LLM (the embedded model, any OpenAI-compatible model) sees the
  conversation with the roles flipped: the agent's messages as `user`, its own as `assistant`.
* `ScenarioUser()` — deterministic: opens with the scenario's reason for calling and what the
  customer knows, then stops. For oracle runs, tests and offline synthesis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from agent_gym.errors import ConfigError
from agent_gym.policies.base import Policy
from agent_gym.types import Message, Task, Usage

SIMULATED_USER = "simulated_user"
"""`Message.name` of every simulated-user message."""
STOP = "###STOP###"
TRANSFER = "###TRANSFER###"
OUT_OF_SCOPE = "###OUT-OF-SCOPE###"
STOP_SIGNALS: tuple[str, ...] = (STOP, TRANSFER, OUT_OF_SCOPE)
"""Tokens that end the conversation when a user message contains one."""

GREETING = "Hi! How can I help you today?"
"""The agent's opening line as the simulated user sees it (τ²'s default first agent message)."""

GUIDELINES = f"""# User Simulation Guidelines
You are playing the role of a customer contacting a customer service representative.
Your goal is to simulate realistic customer interactions while following specific scenario instructions.

## Core Principles
- Generate one message at a time, maintaining natural conversation flow.
- Strictly follow the scenario instructions you have received.
- Never make up or hallucinate information not provided in the scenario instructions.
- Avoid repeating the exact instructions verbatim. Use paraphrasing and natural language.
- Disclose information progressively. Wait for the agent to ask for specific information before providing it.

## Task Completion
- Continue the conversation until the task is complete.
- If the instruction goal is satisfied, generate the '{STOP}' token to end the conversation.
- If you are transferred to another agent, generate the '{TRANSFER}' token.
- If the scenario does not give you enough information to continue, generate the '{OUT_OF_SCOPE}' token."""
"""τ²-bench's user-simulation guidelines (MIT, Sierra Research), lightly shortened."""


@dataclass(frozen=True)
class UserReply:
    """The simulated user's next message and why the conversation stops, if it does."""

    message: Message
    """The user message (`name="simulated_user"`)."""
    stop: str | None = None
    """The stop signal found (`###STOP###` …), `max_turns` when cut off, else None."""
    usage: Usage = Usage()
    """Tokens the user model spent."""


@runtime_checkable
class UserSimulator(Protocol):
    """Anything that produces the customer's next message."""

    async def reply(self, task: Task, messages: Sequence[Message]) -> UserReply:
        """The next user message for `task`, given the agent-side conversation so far."""
        ...

    def config(self) -> dict[str, Any]:
        """Settings that change the conversations (part of the environment's resume key)."""
        ...


def user_message(text: str) -> Message:
    """A user message marked as written by the simulated user."""
    return Message(role="user", content=text, name=SIMULATED_USER)


def find_stop(text: str, signals: Sequence[str] = STOP_SIGNALS) -> str | None:
    """The first stop signal in `text`, or None."""
    return next((s for s in signals if s in text), None)


def user_turns(messages: Sequence[Message]) -> int:
    """How many simulated-user messages the conversation holds."""
    return sum(m.role == "user" and m.name == SIMULATED_USER for m in messages)


def scenario_text(task: Task) -> str:
    """The scenario the user plays: τ²'s persona and instructions, else the task prompt."""
    return str(task.metadata.get("user_scenario") or task.prompt)


def flip_roles(messages: Sequence[Message], greeting: str = GREETING) -> list[Message]:
    """The conversation from the user's side: agent text as `user`, own messages as `assistant`.

    Tool calls, tool results and environment feedback are not shown to the user.
    """
    flipped = [Message(role="user", content=greeting)] if greeting else []
    for m in messages:
        if m.role == "assistant" and m.content.strip() and not m.error:
            flipped.append(Message(role="user", content=m.content))
        elif m.role == "user" and m.name == SIMULATED_USER:
            flipped.append(Message(role="assistant", content=m.content))
    return flipped


class SimulatedUser:
    """A `Policy` role-playing the task's customer, τ²-style.

    Args:
        policy: The model behind the customer (`LocalPolicy`, `OpenAIPolicy`, `ScriptedPolicy` …).
        max_turns: After this many user messages the next one is a forced `###STOP###`.
        guidelines: The role-play instructions put before the `<scenario>`.
        fallback: Sent when the model answers with no text (weak models sometimes do).
    """

    def __init__(self, policy: Policy, *, max_turns: int = 10, guidelines: str = GUIDELINES,
                 fallback: str = "Sorry, could you say that again?") -> None:
        if not isinstance(policy, Policy):
            raise ConfigError(f"SimulatedUser needs a Policy (name, model, sampling, act), got {type(policy).__name__}.")
        if max_turns < 1:
            raise ConfigError(f"max_turns must be at least 1, got {max_turns}.")
        self.policy = policy
        self.max_turns = max_turns
        self.guidelines = guidelines
        self.fallback = fallback

    def __deepcopy__(self, memo: dict) -> SimulatedUser:
        return self  # stateless; its policy may hold HTTP clients that cannot be copied

    def config(self) -> dict[str, Any]:
        return {"user": "simulated", "policy": self.policy.name, "model": self.policy.model,
                "sampling": dict(self.policy.sampling), "max_turns": self.max_turns}

    def system_prompt(self, task: Task) -> str:
        """The user model's system prompt: guidelines and the scenario."""
        return f"{self.guidelines}\n\n<scenario>\n{scenario_text(task)}\n</scenario>"

    async def reply(self, task: Task, messages: Sequence[Message]) -> UserReply:
        if user_turns(messages) >= self.max_turns:
            return UserReply(user_message(f"Thanks, that is all. {STOP}"), stop="max_turns")
        view = [Message(role="system", content=self.system_prompt(task)), *flip_roles(messages)]
        output = await self.policy.act(view, [])
        text = output.message.content.strip() or self.fallback
        return UserReply(user_message(text), stop=find_stop(text), usage=output.usage)


class ScenarioUser:
    """A deterministic customer: states the reason for calling and what they know, then stops.

    Args:
        max_turns: Messages before the stop (1: the opening only). Middle turns say `middle`.
        middle: What the user says between the opening and the stop.
    """

    def __init__(self, max_turns: int = 1, middle: str = "Yes, please go ahead.") -> None:
        if max_turns < 1:
            raise ConfigError(f"max_turns must be at least 1, got {max_turns}.")
        self.max_turns = max_turns
        self.middle = middle

    def config(self) -> dict[str, Any]:
        return {"user": "scenario", "max_turns": self.max_turns}

    @staticmethod
    def opening(task: Task) -> str:
        """The first message: the reason for calling plus the identifying facts the user knows."""
        known = task.metadata.get("known_info")
        return task.prompt.strip() + (f"\n\n{known.strip()}" if known else "")

    async def reply(self, task: Task, messages: Sequence[Message]) -> UserReply:
        turn = user_turns(messages)
        if turn == 0:
            return UserReply(user_message(self.opening(task)))
        if turn >= self.max_turns:
            return UserReply(user_message(f"Thank you, that is everything. {STOP}"), stop=STOP)
        return UserReply(user_message(self.middle))
