"""The Trajectory builder: one finished (or failed) episode's messages and steps as a record."""

from __future__ import annotations

import uuid

from agent_gym.env import Environment
from agent_gym.policies.base import Policy
from agent_gym.types import ErrorInfo, Message, Step, Task, Trajectory, Usage


def build_trajectory(
    env: Environment, policy: Policy, task: Task, messages: list[Message], steps: list[Step],
    error: ErrorInfo | None, success: bool | None, *, sample_index: int, seed: int | None,
    started_at: float, seconds: float, trajectory_id: str | None, key: str,
) -> Trajectory:
    components: dict[str, float] = {}
    for step in steps:
        for name, value in step.components.items():
            components[name] = components.get(name, 0.0) + value
    assistant = [messages[s.action_index] for s in steps]
    metrics: dict[str, float] = {"tool_calls": 0.0, "parse_errors": 0.0, "tool_errors": 0.0}
    for step in steps:  # numeric step counters (tool_errors, invalid actions …) add up
        for name, value in step.info.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics[name] = metrics.get(name, 0.0) + float(value)
    metrics["tool_calls"] = float(sum(len(m.tool_calls) for m in assistant))
    metrics["parse_errors"] = float(sum(m.error is not None for m in assistant))
    usage = sum((s.usage for s in steps), Usage())
    sampling = dict(policy.sampling) | ({"seed": seed} if seed is not None else {})
    return Trajectory(
        id=trajectory_id or uuid.uuid4().hex,
        task_id=task.id,
        env=env.name,
        policy=policy.name,
        model=policy.model,
        sample_index=sample_index,
        job_key=key,
        sampling=sampling,
        messages=tuple(messages),
        steps=tuple(steps),
        reward=sum(s.reward for s in steps),
        reward_components=components,
        success=success,
        terminated=bool(steps) and steps[-1].terminated,
        truncated=bool(steps) and steps[-1].truncated,
        metrics=metrics,
        usage=usage,
        started_at=started_at,
        seconds=seconds,
        error=error,
        metadata={"task": public} if (public := {k: v for k, v in task.metadata.items() if not k.startswith("_")}) else {},
    )
