"""`ConversationEnv`: a multi-turn tool environment where a simulated user answers the agent's text.

The loop: the user opens; each agent turn either calls tools (answered by tool messages) or speaks;
when it speaks, the user replies — and when the reply carries the user's own stop signal the episode
ends and the conversation is scored by the rubric. `CustomerServiceEnv` (τ² domains) and `SGDEnv`
(Schema-Guided-Dialogue folders) are built on it; any tools work.

Limits, as τ²-bench's orchestrator counts them (`max_steps`, `max_errors`): every message — the
user's, the agent's, a turn's tool results (one step however many calls), parse feedback — is one
step; after a step that hands the turn to the agent or the user, reaching `max_steps` steps or
`max_errors` failed tool calls ends the episode with reward 0, even when the user has just stopped.
The final step's `info["termination_reason"]` says why it ended, in τ²'s words (`user_stop`,
`max_steps`, `too_many_errors`), or `max_user_turns` for a user cut off by its own limit.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from typing import Any

from agent_gym.env import ToolEnv
from agent_gym.envs.dialogue.users import USER_LIMIT, ScenarioUser, UserSimulator
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

USER_STOP, MAX_STEPS, TOO_MANY_ERRORS, MAX_USER_TURNS = "user_stop", "max_steps", "too_many_errors", "max_user_turns"
"""Values of the final step's `info["termination_reason"]` (the first three are τ²'s `TerminationReason`s)."""


class ConversationEnv(ToolEnv):
    """Tools plus a simulated user; the user's own stop signal ends and scores the episode.

    Args:
        tools: The agent's tools (plain functions or `Tool`s; wrap them with a cassette to mock).
        user: `SimulatedUser(policy)`, `ScenarioUser()` (default) or any `UserSimulator`.
        reward: Rubric or reward function scored when the user stops.
        system_prompt: The agent's system prompt.
        name: Environment name on trajectories.
        success_component: When set, success is `components[success_component] >= 1` (so a judge
            or shaping terms weighted into the reward do not change what counts as solved).
        max_steps: τ²'s step limit over all messages (None: none; the runner's turn limit still applies).
        max_errors: Failed tool calls that end the episode unscored (None: no limit).
    """

    def __init__(self, tools: Sequence[Tool | Callable[..., Any]] = (), user: UserSimulator | None = None, *,
                 reward: Rubric | RewardFn | None = None, system_prompt: str = "", name: str = "conversation",
                 success_component: str | None = None, max_steps: int | None = None,
                 max_errors: int | None = None) -> None:
        super().__init__(tools, reward, system_prompt, name=name)
        self.user: UserSimulator = user if user is not None else ScenarioUser()
        if not (callable(getattr(self.user, "reply", None)) and callable(getattr(self.user, "config", None))):
            raise ConfigError("user must have async reply(task, messages) and config(); use SimulatedUser(policy).")
        for label, value in (("max_steps", max_steps), ("max_errors", max_errors)):
            if value is not None and value < 1:
                raise ConfigError(f"{label} must be at least 1 (or None for no limit), got {value}.")
        self.success_component = success_component
        self.max_steps = max_steps
        self.max_errors = max_errors
        if max_steps is not None:
            self.max_turns = max_steps  # the step limit binds first: the runner's turn limit must not
        self.step_count = 0
        """Steps so far, counted as τ²'s orchestrator does."""
        self.error_count = 0
        """Failed tool calls so far."""

    def config(self) -> dict[str, Any]:
        limits = {"max_steps": self.max_steps, "max_errors": self.max_errors}
        return {**super().config(), "user": self.user.config(),
                "reward": sorted(self.rubric.funcs) if self.rubric else None,
                **{k: v for k, v in limits.items() if v is not None}}

    async def reset(self, task: Task) -> list[Message]:
        self.task = task
        DIALOGUE_TASK.set(task)
        opening = [Message(role="system", content=self.system_prompt)] if self.system_prompt else []
        first = await self.user.reply(task, [])
        self.messages = [*opening, first.message]
        self.step_count, self.error_count = 1, 0  # the user's opening (τ²'s greeting is no step)
        return list(self.messages)

    def parse_feedback(self, error: str) -> Message:
        """Parse errors come as a user-role message named `FEEDBACK`, so the simulated user's turns stay apart."""
        return Message(role="user", content=error, name=FEEDBACK)

    async def step(self, action: Message) -> StepResult:
        self.step_count += 1  # the agent's message
        result = await super().step(action)
        if action.error or action.tool_calls:  # tool results or feedback: one more step, back to the agent
            self.step_count += 1
            self.error_count += int(result.info.get("tool_errors", 0))
            return self.limited(result) or result
        return result

    async def answered(self) -> StepResult:
        """The agent spoke to the user: unless a limit is reached first, the user answers (`user_turn`)."""
        return self.limited(StepResult()) or await self.user_turn()

    def limited(self, result: StepResult) -> StepResult | None:
        """`result` turned into an unscored end when a limit is reached, else None (τ²'s checks: both
        apply, and the error limit's reason wins when both are reached)."""
        if self.max_errors is not None and self.error_count >= self.max_errors:
            return self.unscored(result, TOO_MANY_ERRORS, truncated=False)
        if self.max_steps is not None and self.step_count >= self.max_steps:
            return self.unscored(result, MAX_STEPS, truncated=True)
        return None

    @staticmethod
    def unscored(result: StepResult, reason: str, *, truncated: bool) -> StepResult:
        """An end with reward 0, as τ²'s evaluator scores every dialogue its user did not stop."""
        return result.model_copy(update={
            "reward": 0.0, "components": {}, "success": False, "terminated": not truncated, "truncated": truncated,
            "info": {**result.info, "termination_reason": reason}})

    async def user_turn(self) -> StepResult:
        """The user answers the agent's text; on the user's own stop the episode is scored and ends."""
        assert self.task is not None
        reply = await self.user.reply(self.task, self.messages)
        info: dict[str, Any] = {"user_tokens": reply.usage.total_tokens, "user_calls": reply.usage.calls}
        if reply.stop == USER_LIMIT:
            return self.unscored(StepResult(info=info), MAX_USER_TURNS, truncated=True)
        self.step_count += 1
        if reply.stop is None:
            result = StepResult(observation=(reply.message,), info=info)
            return self.limited(result) or result
        scored = await self.finish()
        result = scored.model_copy(update={
            "observation": (reply.message,),
            "info": {**info, **scored.info, "user_stop": reply.stop, "termination_reason": USER_STOP}})
        return self.limited(result) or result

    async def finish(self) -> StepResult:
        result = await super().finish()
        if self.success_component is not None and self.success_component in result.components:
            result = result.model_copy(update={"success": result.components[self.success_component] >= 1.0})
        return result
