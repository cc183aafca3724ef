"""`ConversationEnv`: a multi-turn tool environment where a simulated user answers the agent's text.

The loop: the user opens; each agent turn either calls tools (answered by tool messages) or speaks;
when it speaks, the user replies — and when the reply carries a stop signal (or the user's turn
limit is reached) the episode ends and the conversation is scored by the rubric. `CustomerServiceEnv`
(τ² domains) and `SGDEnv` (Schema-Guided-Dialogue folders) are built on it; any tools work.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from typing import Any

from agent_gym.env import ToolEnv
from agent_gym.envs.dialogue.users import ScenarioUser, UserSimulator
from agent_gym.errors import ConfigError
from agent_gym.rewards.rubric import RewardFn, Rubric
from agent_gym.tools.base import Tool
from agent_gym.types import Message, StepResult, Task

DIALOGUE_TASK: contextvars.ContextVar[Task | None] = contextvars.ContextVar("agent_gym_cs_task", default=None)
"""The task of the episode running in this asyncio task (set by `ConversationEnv.reset`).

`rollout` calls `reset` and the policy in the same asyncio task, so an expert policy such as
`OraclePolicy` can read the task it is solving; `run_rollouts_async` runs each episode in its own task."""

FEEDBACK = "environment"
"""`Message.name` of user-role messages the environment writes (parse-error feedback)."""


class ConversationEnv(ToolEnv):
    """Tools plus a simulated user; the user's stop signal ends and scores the episode.

    Args:
        tools: The agent's tools (plain functions or `Tool`s; wrap them with a cassette to mock).
        user: `SimulatedUser(policy)`, `ScenarioUser()` (default) or any `UserSimulator`.
        reward: Rubric or reward function scored when the user stops.
        system_prompt: The agent's system prompt.
        name: Environment name on trajectories.
        success_component: When set, success is `components[success_component] >= 1` (so a judge
            or shaping terms weighted into the reward do not change what counts as solved).
    """

    def __init__(self, tools: Sequence[Tool | Callable[..., Any]] = (), user: UserSimulator | None = None, *,
                 reward: Rubric | RewardFn | None = None, system_prompt: str = "", name: str = "conversation",
                 success_component: str | None = None) -> None:
        super().__init__(tools, reward, system_prompt, name=name)
        self.user: UserSimulator = user if user is not None else ScenarioUser()
        if not (callable(getattr(self.user, "reply", None)) and callable(getattr(self.user, "config", None))):
            raise ConfigError("user must have async reply(task, messages) and config(); use SimulatedUser(policy).")
        self.success_component = success_component

    def config(self) -> dict[str, Any]:
        return {**super().config(), "user": self.user.config(),
                "reward": sorted(self.rubric.funcs) if self.rubric else None}

    async def reset(self, task: Task) -> list[Message]:
        self.task = task
        DIALOGUE_TASK.set(task)
        opening = [Message(role="system", content=self.system_prompt)] if self.system_prompt else []
        first = await self.user.reply(task, [])
        self.messages = [*opening, first.message]
        return list(self.messages)

    def parse_feedback(self, error: str) -> Message:
        """Parse errors come as a user-role message named `FEEDBACK`, so the simulated user's turns stay apart."""
        return Message(role="user", content=error, name=FEEDBACK)

    async def answered(self) -> StepResult:
        """The agent spoke to the user: the user answers (see `user_turn`)."""
        return await self.user_turn()

    async def user_turn(self) -> StepResult:
        """The user answers the agent's text; on a stop signal the episode is scored and ends."""
        assert self.task is not None
        reply = await self.user.reply(self.task, self.messages)
        info: dict[str, Any] = {"user_tokens": reply.usage.total_tokens, "user_calls": reply.usage.calls}
        if reply.stop is None:
            return StepResult(observation=(reply.message,), info=info)
        scored = await self.finish()
        return scored.model_copy(update={"observation": (reply.message,),
                                         "info": {**info, **scored.info, "user_stop": reply.stop}})

    async def finish(self) -> StepResult:
        result = await super().finish()
        if self.success_component is not None and self.success_component in result.components:
            result = result.model_copy(update={"success": result.components[self.success_component] >= 1.0})
        return result
