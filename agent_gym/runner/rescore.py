"""Re-scoring: a recorded interaction scored again with a changed reward, instead of replayed.

`rescore_store` (and `agent-gym rescore`) scores a whole store's records with any reward function or judge
into a new store. Inside a run (`run_rollouts(..., rescore=True)`) it happens only where that is exact: environments that score the final answer with a `Rubric` of
`(task, messages)` functions (`ToolEnv` and subclasses that keep its `finish`), on a record that ended
with that answer. Anything else is replayed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_gym.env import Environment, ToolEnv
from agent_gym.errors import ConfigError, RewardError, StoreError
from agent_gym.rewards.rubric import RewardFn, Rubric, as_rubric
from agent_gym.runner.keys import unwrapped
from agent_gym.runner.record import RecordContext, summed_components
from agent_gym.runner.sync import run_sync
from agent_gym.store import TrajectoryStore
from agent_gym.types import ErrorInfo, Task, Trajectory


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


@dataclass(frozen=True)
class RescoreResult:
    """What `rescore_store` wrote: the new records, and how many were rescored, kept as they were, or failed."""

    trajectories: list[Trajectory]
    rescored: int
    kept: int
    """Records copied unchanged: failed episodes, and records without their task (schema 1)."""
    failed: int
    """Records whose new reward raised (stored with the RewardError)."""

    def report(self) -> str:
        return f"rescored {self.rescored}, kept {self.kept} unchanged, {self.failed} failed"


async def rescore_records(trajectories: Sequence[Trajectory], reward: Rubric | RewardFn, *, source: str = "",
                          reward_name: str = "", success_threshold: float | None = 1.0) -> RescoreResult:
    """Score recorded episodes again with `reward` (a function `(task, messages) -> float` or a Rubric, an
    LLM judge included) without replaying them. Each new record's reward is the new score, set on its last
    step (earlier steps' rewards become 0); `metadata["rescored"]` says where it came from (`source`, the
    old id, `reward_name`, the previous reward and success). Failed episodes and records without their task
    are copied unchanged with the reason in `metadata["rescored"]`; a reward that raises is stored as the
    record's error. Nothing is written: see `rescore_store`."""
    rubric = as_rubric(reward)
    if rubric is None:
        raise ConfigError("rescore needs a reward function or a Rubric.")
    name = reward_name or ", ".join(f"{k}={getattr(f, '__qualname__', type(f).__name__)}" for k, f in rubric.funcs.items())
    out: list[Trajectory] = []
    rescored = kept = failed = 0
    for old in trajectories:
        origin = {"from_store": source, "from_id": old.id, "reward": name, "previous_reward": old.reward,
                  "previous_success": old.success, "at": time.time()}
        reason = ("the episode failed" if old.error is not None else
                  "the record has no task (written before schema 2)" if old.task is None else
                  "the record has no steps" if not old.steps else "")
        if reason:
            out.append(old.model_copy(update={"metadata": {**old.metadata, "rescored": origin | {"skipped": reason}}}))
            kept += 1
            continue
        assert old.task is not None
        update: dict[str, Any] = {"id": f"{old.id}-rescored", "metadata": {**old.metadata, "rescored": origin}}
        try:
            scored = await rubric.score(old.task, old.messages)
        except RewardError as exc:
            out.append(old.model_copy(update=update | {"success": None, "error": ErrorInfo(kind="RewardError", message=str(exc))}))
            failed += 1
            continue
        zeroed = [s.model_copy(update={"reward": 0.0, "components": {}}) for s in old.steps[:-1]]
        steps = (*zeroed, old.steps[-1].model_copy(update={"reward": scored.reward, "components": scored.components}))
        success = None if success_threshold is None else scored.reward >= success_threshold
        out.append(old.model_copy(update=update | {"steps": steps, "reward": scored.reward,
                                                   "reward_components": summed_components(steps), "success": success}))
        rescored += 1
    return RescoreResult(out, rescored, kept, failed)


def rescore_store(source: str | Path, out: str | Path, reward: Rubric | RewardFn, *, reward_name: str = "",
                  success_threshold: float | None = 1.0, overwrite: bool = False) -> RescoreResult:
    """`rescore_records` over the newest record of each job in the store at `source`, written to a new store
    at `out`; the source is never modified. StoreError if `out` is the source, or exists and is not empty
    (unless `overwrite`)."""
    source, out = Path(source), Path(out)
    if not source.is_file():
        raise StoreError(f"No trajectory store at {source}.")
    if out.resolve() == source.resolve():
        raise StoreError(f"Write the rescored records to a new store, not to {source} itself: pass another --out.")
    if out.exists() and out.stat().st_size and not overwrite:
        raise StoreError(f"{out} already holds records; choose a new --out, or pass --overwrite to replace it.")
    result = run_sync(rescore_records(TrajectoryStore(source).latest(), reward, source=str(source),
                                      reward_name=reward_name, success_threshold=success_threshold))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("")
    TrajectoryStore(out).extend(result.trajectories)
    return result
