"""Where a run plays its episodes: the `Executor` protocol, the in-process default and `as_executor`.

A run (`run_episodes_async`) keeps everything that touches the store on the driver: resume keys, leases,
rescoring, appending each finished trajectory once, the progress bar. It hands only the episodes to play
(`EpisodeJob`s) to an executor's `EpisodePlayer`; the in-process one plays them on this event loop, the
Ray one (`agent_gym.distributed.RayExecutor`) on workers across a cluster.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, runtime_checkable

from agent_gym.env import Environment
from agent_gym.errors import ConfigError
from agent_gym.policies.base import Policy
from agent_gym.runner.episodes import EpisodeJob, play_job
from agent_gym.runner.record import RecordContext
from agent_gym.types import Trajectory


@runtime_checkable
class EpisodePlayer(Protocol):
    """Plays the episodes of one run (opened by `Executor.open`)."""

    where: str
    """Where the episodes run, for the progress bar (e.g. `ray: 2 workers on 2 nodes`; empty in-process)."""

    async def play(self, job: EpisodeJob) -> Trajectory:
        """Play one episode; a failure of the environment or the policy is recorded on the trajectory."""
        ...


@runtime_checkable
class Executor(Protocol):
    """Opens an `EpisodePlayer` for one run."""

    def open(self, env: Environment, policy: Policy, sources: tuple[Any, Any], shared: RecordContext,
             max_concurrency: int) -> AbstractAsyncContextManager[EpisodePlayer]:
        """A player for a run of `env` and `policy` with at most `max_concurrency` episodes at once.

        `sources` are what the run was given for them: the objects themselves, or an `EnvSpec` and a
        `PolicySpec` that a remote worker builds; `shared` is what every record of the run shares.
        """
        ...


class _LocalPlayer:
    where = ""

    def __init__(self, env: Environment, policy: Policy, shared: RecordContext) -> None:
        self.env, self.policy, self.shared = env, policy, shared

    async def play(self, job: EpisodeJob) -> Trajectory:
        return await play_job(self.env, self.policy, job, self.shared)


class InProcessExecutor:
    """Plays episodes on the run's own event loop (the default): one `env.clone()` per episode."""

    def __repr__(self) -> str:
        return "InProcessExecutor()"

    @asynccontextmanager
    async def open(self, env: Environment, policy: Policy, sources: tuple[Any, Any], shared: RecordContext,
                   max_concurrency: int) -> AsyncIterator[EpisodePlayer]:
        yield _LocalPlayer(env, policy, shared)


def as_executor(executor: Executor | str | None) -> Executor:
    """An executor from what a caller passed: None (in-process), an `Executor`, or a Ray address
    (`"auto"`, `"ray://host:10001"`, `"host:6379"`, `"local"` for a Ray started in this process)."""
    if executor is None:
        return InProcessExecutor()
    if isinstance(executor, str):
        from agent_gym.distributed.ray_executor import RayExecutor

        return RayExecutor(executor)
    if not isinstance(executor, Executor):
        raise ConfigError(f"executor must be None, a Ray address such as 'auto', or an Executor (InProcessExecutor, "
                          f"RayExecutor); got {type(executor).__name__}.")
    return executor
