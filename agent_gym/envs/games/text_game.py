"""The shared base of the text games (BabyAI, TextCraft, TextWorld, ScienceWorld).

How the agent acts, in every text game:

* The environment offers one tool, `act(command: str)`. Each call runs one game command
  ("move forward", "craft 4 oak planks using 1 oak log", "open door") and the tool message holds
  what the game answers. This works with native tool calling and the text `<tool_call>` format.
* `act("help")` lists the commands available right now; it does not cost a game step.
  (`show_actions=True` appends that list to every observation instead.)
* An unknown or impossible command is answered with an explanation; the episode goes on.
* A reply without a tool call gets a reminder (or, with `text_commands=True`, its last line is
  read as the command: the "Thought: … Action: …" style of AgentGym).
* A step's reward is the game's reward for it; `success` is True once the game is won and False
  before. The episode terminates when the game ends (won or lost).

A game subclass implements four hooks, all synchronous and all about the game alone:
`start(task) -> str`, `command(text) -> Outcome`, `available_actions() -> list[str]` and
`stop()`, and keeps its running game in `self.game`; `expert()` returns its expert policy. Games
that block for long (a JVM, an interpreter) set `blocking = True` so their hooks run in a worker
thread and other episodes go on meanwhile.

`clone()` copies the settings and, mid-episode, replays the commands so far into a new game (the
games are deterministic), so a copy can branch off without touching the original.
"""

from __future__ import annotations

import asyncio
import copy
import re
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from agent_gym.env import Environment
from agent_gym.errors import EnvError
from agent_gym.policies.base import Policy
from agent_gym.tools.base import Tool, tool
from agent_gym.types import Message, StepResult, Task, ToolCall, system, user

T = TypeVar("T")

HELP_COMMANDS = frozenset({"help", "actions", "available actions", "check valid actions", "valid actions"})
"""Commands that list the available actions instead of playing a move."""

_ACTION_PREFIX = re.compile(r"^\s*(?:action|command)\s*:\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Outcome:
    """What the game answered to one command."""

    text: str
    """The game's reply, as the agent reads it."""
    reward: float = 0.0
    """Reward for this command."""
    done: bool = False
    """The game ended (won or lost)."""
    won: bool = False
    """The goal is reached."""
    valid: bool = True
    """False when the command was not understood or not possible (no game step was taken)."""
    info: dict[str, Any] = field(default_factory=dict)
    """Diagnostics (JSON-compatible), merged into the step's info."""


@tool(blocking=False)
def act(command: str) -> str:
    """Send one command to the game and read what happens. Use "help" to list the commands available now.

    Args:
        command: One game command, for example "move forward" or "help".
    """
    return command  # never run: TextGameEnv.step handles calls to `act` itself


class TextGameEnv(Environment):
    """A text game behind the `act(command)` tool; subclasses implement the game hooks."""

    name = "text_game"
    system_prompt = "You are playing a text game. Act with the act tool, one command per call."
    blocking = False
    """Run the game hooks in a worker thread (for games whose steps take milliseconds or more)."""
    max_turns = 50
    """A turn limit under which the expert finishes every default task (pass it to `run_rollouts_async`)."""

    def __init__(self, *, show_actions: bool = False, text_commands: bool = False) -> None:
        self.show_actions = show_actions
        self.text_commands = text_commands
        self.task: Task | None = None
        self.history: list[str] = []
        """Commands that reached the game this episode (replayed by `clone`)."""
        self.won = False
        self.over = False
        self.game_steps = 0
        self.game: Any = None
        """The running game (None when stopped). Keep all per-episode game state in it: `clone`
        copies the environment shallowly and replays `history` into a new game."""

    # ---- the game hooks ------------------------------------------------------------------------

    @abstractmethod
    def start(self, task: Task) -> str:
        """Start the game of `task` (level and seed in `task.metadata`); return the opening text."""

    @abstractmethod
    def command(self, text: str) -> Outcome:
        """Play one command (never a help command) and return the game's answer."""

    @abstractmethod
    def available_actions(self) -> list[str]:
        """The commands (or command patterns) that make sense now."""

    def stop(self) -> None:
        """Release the running game (processes, files) and set `game` to None. Called by `close`
        and before a new `start`."""
        self.game = None

    def expert(self) -> Policy:
        """The game's expert policy (solves the default tasks; for tests, tutorials and synthesis)."""
        raise NotImplementedError(f"{type(self).__name__} has no expert policy.")

    # ---- the Environment API -------------------------------------------------------------------

    @property
    def tools(self) -> Sequence[Tool]:
        return (act,)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "show_actions": self.show_actions, "text_commands": self.text_commands}

    async def reset(self, task: Task) -> list[Message]:
        await self._run(self.stop)
        self.task, self.history, self.won, self.over, self.game_steps = task, [], False, False, 0
        opening = await self._run(self.start, task)
        return [system(self.system_prompt), user(await self._with_actions(opening))]

    async def step(self, action: Message) -> StepResult:
        if self.task is None:
            raise EnvError(f"{type(self).__name__}.step() was called before reset(task); call reset first.")
        if action.role != "assistant":
            raise EnvError(f"step() takes the assistant's message, got a {action.role!r} message.")
        if self.over:
            return self._result((user("The game is over."),), 0.0, {"after_end": 1})
        if action.error:
            return self._result((user(action.error),), 0.0, {"parse_error": 1})
        if not action.tool_calls:
            command = _command_from_text(action.content) if self.text_commands else ""
            if not command:
                hint = 'Act by calling the act tool with one command, e.g. act(command="help") to list the commands.'
                return self._result((user(hint),), 0.0, {"no_action": 1})
            text, reward, info = await self._play(command)
            return self._result((user(text),), reward, info)
        replies: list[Message] = []
        reward, infos = 0.0, []
        for call in action.tool_calls:
            text, gained, info = await self._play_call(call.name, call.arguments)
            reward += gained
            infos.append(info)
            replies.append(Message(role="tool", content=text, name=call.name, tool_call_id=call.id))
        return self._result(tuple(replies), reward, _merge(infos))

    async def close(self) -> None:
        await self._run(self.stop)

    def clone(self) -> TextGameEnv:
        """An independent copy: same settings and, mid-episode, the same game state (by replay)."""
        new = copy.copy(self)
        new._forget_game()
        new.task, new.history, new.won, new.over, new.game_steps = None, [], False, False, 0
        if self.task is not None and self.game is not None:
            new.task = self.task
            new.start(self.task)
            for command in self.history:
                new._apply(new.command(command))
                new.history.append(command)
        return new

    # ---- internals -----------------------------------------------------------------------------

    def _forget_game(self) -> None:
        """Drop references to the running game without stopping it (the copy must not share it)."""
        self.game = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.blocking:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)

    async def _play_call(self, name: str, arguments: dict[str, Any]) -> tuple[str, float, dict[str, Any]]:
        if self.over:
            return "The game is over; this command was not run.", 0.0, {"after_end": 1}
        if name != act.name:
            return f"Error: unknown tool {name!r}. The only tool is act(command).", 0.0, {"tool_errors": 1}
        command = arguments.get("command")
        if not isinstance(command, str) or set(arguments) - {"command"}:
            return 'Error: act takes one argument, a string: act(command="help").', 0.0, {"tool_errors": 1}
        return await self._play(command)

    async def _play(self, command: str) -> tuple[str, float, dict[str, Any]]:
        cleaned = " ".join(command.strip().split())
        if not cleaned:
            return 'Empty command. Use "help" to list the commands.', 0.0, {"invalid": 1}
        if cleaned.lower() in HELP_COMMANDS:
            actions = await self._run(self.available_actions)
            return "Available commands:\n" + "\n".join(actions), 0.0, {"help": 1}
        outcome = await self._run(self.command, cleaned)
        self._apply(outcome)
        if outcome.valid:
            self.history.append(cleaned)
        info = {"commands": [cleaned], "invalid": int(not outcome.valid), **outcome.info}
        text = outcome.text if self.over else await self._with_actions(outcome.text)
        return text, outcome.reward, info

    def _apply(self, outcome: Outcome) -> None:
        self.game_steps += outcome.valid
        self.won = self.won or outcome.won
        self.over = self.over or outcome.done

    async def _with_actions(self, text: str) -> str:
        if not self.show_actions:
            return text
        actions = await self._run(self.available_actions)
        return f"{text}\n\nAvailable commands: {', '.join(actions)}"

    def _result(self, observation: tuple[Message, ...], reward: float, info: dict[str, Any]) -> StepResult:
        info = {**info, "game_steps": self.game_steps}
        return StepResult(
            observation=observation, reward=reward, terminated=self.over, info=info, success=self.won
        )


def _command_from_text(text: str) -> str:
    """The command in a plain-text reply: its last non-empty line, without an `Action:` prefix."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return _ACTION_PREFIX.sub("", lines[-1]).strip().strip("`\"'") if lines else ""


def _merge(infos: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the counters and join the command lists of several calls' infos."""
    merged: dict[str, Any] = {}
    for info in infos:
        for key, value in info.items():
            if isinstance(value, list):
                merged[key] = merged.get(key, []) + value
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and key in merged:
                merged[key] = merged[key] + value
            else:
                merged[key] = value
    return merged


def commands_in(messages: Sequence[Message]) -> list[str]:
    """The `act` commands of the assistant turns of a conversation, in order (for experts)."""
    found = []
    for message in messages:
        if message.role == "assistant":
            found.extend(
                str(call.arguments.get("command", ""))
                for call in message.tool_calls
                if call.name == act.name
            )
    return found


def opening_text(messages: Sequence[Message]) -> str:
    """The first user message of a conversation (the game's opening text)."""
    return next((m.content for m in messages if m.role == "user"), "")


async def play_commands(env: TextGameEnv, task: Task, commands: Sequence[str]) -> list[str]:
    """Reset `env` on `task`, send each command through `act`, and return the texts the agent read
    (the opening message, then one reply per command). The episode stays open: call `env.close()`."""
    seen = [m.content for m in await env.reset(task) if m.role == "user"]
    for index, command in enumerate(commands):
        call = ToolCall(name=act.name, arguments={"command": command}, id=f"call_{index}")
        result = await env.step(Message(role="assistant", tool_calls=(call,)))
        seen.extend(m.content for m in result.observation)
    return seen


def play_log(messages: Sequence[Message], *, limit: int | None = None) -> str:
    """A text game's conversation as a play log: the opening, then `> command` and the reply, per turn.

    `limit` keeps the first `limit` commands (and the last one, after a `…`).
    """
    opening = opening_text(messages)
    turns: list[str] = []
    for index, message in enumerate(messages):
        if message.role != "assistant":
            continue
        said = [f"> {call.arguments.get('command', call.arguments)}" for call in message.tool_calls]
        if not message.tool_calls:
            said = [f"(no tool call) {message.content}".strip()]
        replies = []
        for reply in messages[index + 1:]:
            if reply.role == "assistant":
                break
            replies.append(reply.content)
        turns.append("\n".join([*said, *replies]))
    if limit is not None and len(turns) > limit + 1:
        turns = [*turns[:limit], f"… ({len(turns) - limit - 1} more turns)", turns[-1]]
    return "\n\n".join([opening, *turns])
