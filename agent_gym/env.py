"""Environments: the Gym-shaped, async `reset(task)` / `step(action)` API, `ToolEnv` and wrappers."""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from agent_gym.errors import ConfigError, EnvError
from agent_gym.rewards.rubric import RewardFn, Rubric, as_rubric
from agent_gym.tools.base import Tool, ToolResult, as_tool
from agent_gym.types import Message, StepResult, Task, system, user

if TYPE_CHECKING:
    from agent_gym.tools.mcp import MCPServer, MCPServers


class Environment(ABC):
    """An episode-at-a-time world the policy acts in.

    `reset(task)` returns the first messages of the conversation; `step(action)` takes the
    assistant's message and returns a `StepResult` (new messages, reward, terminated, truncated).
    One instance runs one episode at a time: the runner calls `clone()` once per episode.
    """

    name: str = "env"
    """Short name stored on trajectories and used by `agent-gym eval`."""
    max_turns: int = 30
    """Turn limit that rollouts use when the caller gives none."""

    @property
    def tools(self) -> Sequence[Tool]:
        """Tools offered to the policy (none by default)."""
        return ()

    def tool_schemas(self) -> list[dict[str, Any]]:
        """OpenAI schemas of `tools`."""
        return [t.schema() for t in self.tools]

    @abstractmethod
    async def reset(self, task: Task) -> list[Message]:
        """Start an episode on `task`; return the opening messages (system prompt, user request)."""

    @abstractmethod
    async def step(self, action: Message) -> StepResult:
        """Apply the assistant's message; return what the environment answers."""

    async def close(self) -> None:  # noqa: B027 - an optional hook, a no-op by default
        """Release per-episode resources (processes, files). Called after every episode."""

    def clone(self) -> Environment:
        """A fresh copy for one episode. Override if the environment holds unshareable resources."""
        return copy.deepcopy(self)

    def config(self) -> dict[str, Any]:
        """Settings that change what an episode means; part of the resume key."""
        return {"name": self.name}

    def default_tasks(self) -> list[Task]:
        """Tasks this environment ships with (used by `agent-gym eval` without `--tasks`)."""
        return []


class ToolEnv(Environment):
    """The common case: a system prompt, the task as the user's request, tools, and a final-answer reward.

    Each assistant turn either calls tools (each answered by a tool message, errors included) or
    answers; an answer ends the episode and is scored by `reward`. An unparseable tool call is
    answered with an explanation and the episode goes on.

    `mcp_servers` adds the tools of MCP servers (`agent_gym.tools.mcp.MCPServer`): the environment starts
    them when it is built, its clones share them, and `await env.close()` on this environment (not on a
    clone) stops them.
    """

    def __init__(
        self,
        tools: Sequence[Tool | Callable[..., Any]] = (),
        reward: Rubric | RewardFn | None = None,
        system_prompt: str = "",
        *,
        name: str = "tool_env",
        success_threshold: float | None = 1.0,
        mcp_servers: Sequence[MCPServer] = (),
    ) -> None:
        self._tools = [as_tool(t) for t in tools]
        self._mcp: MCPServers | None = None
        if mcp_servers:
            from agent_gym.tools.mcp import MCPServers

            self._mcp = MCPServers(mcp_servers)
            self._tools += self._mcp.tools()
        names = [t.name for t in self._tools]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            hint = "pass `name=` to @tool"
            if self._mcp is not None:
                self._mcp.stop()
                hint += " or `prefix=` to MCPServer"
            raise ConfigError(f"Two tools share the name(s) {duplicates}; {hint} to tell them apart.")
        self.rubric = as_rubric(reward)
        self.system_prompt = system_prompt
        self.name = name
        self.success_threshold = success_threshold
        self.task: Task | None = None
        self.messages: list[Message] = []

    @property
    def tools(self) -> Sequence[Tool]:
        return self._tools

    async def close(self) -> None:
        """Stop the MCP servers this environment started (a no-op on clones and without servers)."""
        if getattr(self, "_mcp", None) is not None:
            await self._mcp.close()

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "tools": [t.name for t in self.tools], "system_prompt": self.system_prompt}

    def prompt_messages(self, task: Task) -> list[Message]:
        """The opening messages; override to shape them differently."""
        opening = [system(self.system_prompt)] if self.system_prompt else []
        return [*opening, user(task.prompt)]

    async def reset(self, task: Task) -> list[Message]:
        self.task = task
        self.messages = self.prompt_messages(task)
        return list(self.messages)

    async def step(self, action: Message) -> StepResult:
        if self.task is None:
            raise EnvError(f"{type(self).__name__}.step() was called before reset(task); call reset first.")
        if action.role != "assistant":
            raise EnvError(f"step() takes the assistant's message, got a {action.role!r} message.")
        self.messages.append(action)
        if action.error:
            result = StepResult(observation=(self.parse_feedback(action.error),), info={"parse_error": True})
        elif action.tool_calls:
            result = await self.call_tools(action)
        else:
            result = await self.answered()
        self.messages.extend(result.observation)
        return result

    def parse_feedback(self, error: str) -> Message:
        """The message that explains an unparseable tool call to the agent (a user turn by default)."""
        return user(error)

    async def answered(self) -> StepResult:
        """The agent answered without calling a tool: score the answer and end the episode."""
        return await self.finish()

    async def call_tools(self, action: Message) -> StepResult:
        """Run every requested tool; each result (or error) becomes a tool message."""
        by_name = {t.name: t for t in self.tools}
        replies: list[Message] = []
        errors = 0
        for call in action.tool_calls:
            chosen = by_name.get(call.name)
            if chosen is None:
                outcome = ToolResult(f"Error: unknown tool {call.name!r}. Available tools: {', '.join(by_name) or 'none'}.", True)
            else:
                outcome = await chosen.run(call.arguments)
            errors += outcome.is_error
            replies.append(
                Message(role="tool", content=outcome.content, name=call.name, tool_call_id=call.id, is_error=outcome.is_error)
            )
        return StepResult(observation=tuple(replies), info={"tool_calls": len(replies), "tool_errors": errors})

    async def finish(self) -> StepResult:
        """Score the final answer and end the episode."""
        assert self.task is not None
        if self.rubric is None:
            return StepResult(terminated=True)
        scored = await self.rubric.score(self.task, self.messages)
        success = None if self.success_threshold is None else scored.reward >= self.success_threshold
        return StepResult(reward=scored.reward, components=scored.components, terminated=True, success=success)


class Wrapper(Environment):
    """Wraps an environment and forwards everything; override what you change."""

    def __init__(self, env: Environment) -> None:
        if not isinstance(env, Environment):
            raise ConfigError(f"{type(self).__name__} wraps an Environment, got {type(env).__name__}.")
        self.env = env

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.env.name

    @property
    def tools(self) -> Sequence[Tool]:
        return self.env.tools

    @property
    def max_turns(self) -> int:  # type: ignore[override]
        return self.env.max_turns

    async def reset(self, task: Task) -> list[Message]:
        return await self.env.reset(task)

    async def step(self, action: Message) -> StepResult:
        return await self.env.step(action)

    async def close(self) -> None:  # noqa: B027 - an optional hook, a no-op by default
        await self.env.close()

    def config(self) -> dict[str, Any]:
        return self.env.config()

    def default_tasks(self) -> list[Task]:
        return self.env.default_tasks()

    def clone(self) -> Environment:
        """A copy of the wrapper around a clone of the wrapped environment (its own `clone` rules)."""
        twin = copy.copy(self)
        twin.env = self.env.clone()
        return twin


class TimeLimit(Wrapper):
    """Truncates the episode after `max_turns` policy turns (gymnasium's TimeLimit, counted in turns)."""

    def __init__(self, env: Environment, max_turns: int) -> None:
        super().__init__(env)
        if max_turns < 1:
            raise ConfigError(f"max_turns must be at least 1, got {max_turns}.")
        self.limit = max_turns
        self.turns = 0

    @property
    def max_turns(self) -> int:  # type: ignore[override]
        return self.limit

    async def reset(self, task: Task) -> list[Message]:
        self.turns = 0
        return await self.env.reset(task)

    async def step(self, action: Message) -> StepResult:
        result = await self.env.step(action)
        self.turns += 1
        if self.turns >= self.limit and not result.terminated:
            return result.model_copy(update={"truncated": True})
        return result

    def config(self) -> dict[str, Any]:
        return {**self.env.config(), "max_turns": self.limit}
