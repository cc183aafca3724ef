"""Re-scoring: a recorded interaction scored again with a changed reward, instead of replayed.

Only where that is exact: environments that score the final answer with a `Rubric` of
`(task, messages)` functions (`ToolEnv` and subclasses that keep its `finish`), on a record that ended
with that answer. Anything else is replayed.
"""

from __future__ import annotations

from agent_gym.env import Environment, ToolEnv
from agent_gym.runner.keys import unwrapped
from agent_gym.runner.record import RecordContext, summed_components
from agent_gym.types import Task, Trajectory


def can_rescore(env: Environment, trajectory: Trajectory) -> bool:
    """Whether `trajectory` can be scored again by `env`'s reward without replaying it."""
    base = unwrapped(env)
    return (
        isinstance(base, ToolEnv) and base.rubric is not None and type(base).finish is ToolEnv.finish
        and trajectory.error is None and trajectory.terminated and bool(trajectory.steps)
        and trajectory.steps[-1].terminated and trajectory.steps[-1].observation_count == 0
    )


async def rescore_trajectory(env: Environment, task: Task, old: Trajectory, context: RecordContext) -> Trajectory | None:
    """`old` scored with `env`'s current reward, as a new record with `context`'s keys and identities;
    None where it cannot be (see the module docstring). The new record's `metadata["rescored_from"]`
    names the old one."""
    if not can_rescore(env, old):
        return None
    base = unwrapped(env)
    assert isinstance(base, ToolEnv) and base.rubric is not None
    scored = await base.rubric.score(task, old.messages)
    success = None if base.success_threshold is None else scored.reward >= base.success_threshold
    last = old.steps[-1].model_copy(update={"reward": scored.reward, "components": scored.components})
    steps = (*old.steps[:-1], last)
    return old.model_copy(update={
        "id": f"{context.job_key}-rescored", "job_key": context.job_key, "replay_key": context.replay_key,
        "steps": steps, "reward": sum(s.reward for s in steps), "reward_components": summed_components(steps), "success": success,
        "task": task, "environment": context.environment, "metadata": {**old.metadata, "rescored_from": old.id},
    })
