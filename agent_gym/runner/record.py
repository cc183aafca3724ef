"""The Trajectory builder: one finished (or failed) episode's messages, steps and tokens as a complete record."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from agent_gym.env import Environment
from agent_gym.policies.base import Policy
from agent_gym.runner.keys import environment_identity, policy_identity
from agent_gym.store import TrajectoryStore
from agent_gym.types import ErrorInfo, Message, Step, Task, TokenRecord, Trajectory, Usage


@dataclass(frozen=True)
class RecordContext:
    """What every trajectory of a run shares: identities, tools offered, and the job's keys."""

    environment: dict[str, Any] = field(default_factory=dict)
    """`keys.environment_identity` of the environment."""
    policy_info: dict[str, Any] = field(default_factory=dict)
    """`keys.policy_identity` of the policy."""
    tools: tuple[dict[str, Any], ...] = ()
    """The tool schemas offered."""
    job_key: str = ""
    replay_key: str = ""


def summed_components(steps: list[Step] | tuple[Step, ...]) -> dict[str, float]:
    """Each named reward component summed over the steps."""
    components: dict[str, float] = {}
    for step in steps:
        for name, value in step.components.items():
            components[name] = components.get(name, 0.0) + value
    return components


def episode_metrics(messages: list[Message] | tuple[Message, ...], steps: list[Step] | tuple[Step, ...],
                    tokens: TokenRecord | None) -> dict[str, float]:
    """The numbers every trajectory carries: tool calls, parse errors, each numeric step counter summed
    (tool errors, a text game's invalid moves …), and the token counts when tokens were recorded."""
    assistant = [messages[s.action_index] for s in steps]
    metrics: dict[str, float] = {"tool_calls": 0.0, "parse_errors": 0.0, "tool_errors": 0.0}
    for step in steps:
        for name, value in step.info.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics[name] = metrics.get(name, 0.0) + float(value)
    metrics["tool_calls"] = float(sum(len(m.tool_calls) for m in assistant))
    metrics["parse_errors"] = float(sum(m.error is not None for m in assistant))
    queued = sum(s.queue_seconds for s in steps)
    if queued:  # time calls waited for a busy model server (LocalPolicy measures it)
        metrics["queue_seconds"] = queued
    if tokens is not None:
        generated = tokens.generated_tokens
        metrics["prompt_tokens"] = float(len(tokens.prompt_ids))
        metrics["generated_tokens"] = float(generated)
        metrics["env_tokens"] = float(len(tokens.completion_ids) - generated)
    return metrics


def build_trajectory(
    env: Environment, policy: Policy, task: Task, messages: list[Message], steps: list[Step],
    error: ErrorInfo | None, success: bool | None, *, sample_index: int, seed: int | None,
    started_at: float, seconds: float, trajectory_id: str | None, key: str = "",
    context: RecordContext | None = None, tokens: TokenRecord | None = None, truncated: bool | None = None,
) -> Trajectory:
    """The record of one episode. `context` carries what the run shares (computed here when None);
    `truncated` overrides the last step's flag (an episode the policy's budget ended)."""
    if context is None:
        context = RecordContext(environment_identity(env), policy_identity(policy), tuple(env.tool_schemas()), key)
    sampling = dict(policy.sampling) | ({"seed": seed} if seed is not None else {})
    public = {k: v for k, v in task.metadata.items() if not k.startswith("_")}
    return Trajectory(
        id=trajectory_id or uuid.uuid4().hex,
        task_id=task.id,
        env=env.name,
        policy=policy.name,
        model=policy.model,
        sample_index=sample_index,
        job_key=context.job_key or key,
        replay_key=context.replay_key,
        sampling=sampling,
        messages=tuple(messages),
        steps=tuple(steps),
        reward=sum(s.reward for s in steps),
        reward_components=summed_components(steps),
        success=success if error is None else None,
        terminated=bool(steps) and steps[-1].terminated,
        truncated=truncated if truncated is not None else bool(steps) and steps[-1].truncated,
        metrics=episode_metrics(messages, steps, tokens),
        usage=sum((s.usage for s in steps), Usage()),
        started_at=started_at,
        seconds=seconds,
        error=error,
        metadata={"task": public} if public else {},
        task=task,
        tools=context.tools,
        environment=context.environment,
        policy_info=context.policy_info,
        tokens=tokens,
    )


def store_trajectory(store: TrajectoryStore, trajectory: Trajectory) -> Trajectory:
    """Append `trajectory` to `store` and return what was stored. A record JSON cannot hold (an object in a
    step's `info` or a task's metadata) is stored as a copy whose such values are text, with an error that
    says so: one episode's record never ends the run, and a re-run retries it."""
    try:
        store.append(trajectory)
        return trajectory
    except PydanticSerializationError as exc:
        unstorable = _storable_copy(trajectory, exc)
    store.append(unstorable)
    return unstorable


def _storable_copy(trajectory: Trajectory, exc: Exception) -> Trajectory:
    error = ErrorInfo(kind="UnstorableRecord", message=(
        f"The trajectory could not be written as JSON ({exc}); values JSON cannot hold were stored as text. "
        "Return JSON-compatible values (str, numbers, bools, lists, dicts) from tools, rewards and step info."))
    data = trajectory.model_dump(mode="json", fallback=lambda value: f"<{type(value).__name__}: {value!r:.200}>")
    try:
        return Trajectory.model_validate(data | {"success": None, "error": error.model_dump()})
    except (ValidationError, PydanticSerializationError):  # keep what identifies the episode, and the error
        return trajectory.model_copy(update={"messages": (), "steps": (), "tokens": None, "task": None,
                                             "metadata": {}, "success": None, "error": error})
