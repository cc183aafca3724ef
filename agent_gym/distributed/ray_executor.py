"""`RayExecutor`: a run's episodes played by workers across a Ray cluster, the store kept on the driver.

    with RayExecutor("auto") as ray_cluster:          # a cluster started with `ray start --head`
        run_rollouts(EnvSpec("shell"), PolicySpec("agent_gym.envs.code.shell:ShellExpert"), tasks,
                     max_concurrency=64, store="runs/shell.jsonl", executor=ray_cluster)

The driver (the process that calls the run) checks the resume keys, holds the job leases, appends each
finished trajectory once and shows the one progress bar; workers (`EpisodeWorker` actors, one per node by
default) only play episodes, each at most its share of `max_concurrency` at once. A worker whose process or
node dies is restarted by Ray on a node with room, and its unfinished episodes are played again there
(`max_task_retries` times); an episode that still has no worker is recorded with a `WorkerLost` error, which
the next run retries. A policy or environment error stays an episode error, as in-process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import math
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from agent_gym.distributed.specs import check_picklable
from agent_gym.distributed.worker import EpisodeWorker
from agent_gym.env import Environment
from agent_gym.errors import ConfigError
from agent_gym.policies.base import Policy
from agent_gym.runner.episodes import EpisodeJob
from agent_gym.runner.record import RecordContext, build_trajectory
from agent_gym.types import ErrorInfo, Trajectory

INSTALL_HINT = "pip install 'agent-gym[distributed]'"


class RayNotInstalled(ConfigError, ImportError):
    """Ray is needed (the `distributed` extra) and is not installed."""


def import_ray() -> Any:
    """The `ray` module, or RayNotInstalled saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise RayNotInstalled(f"Running episodes on a Ray cluster needs Ray: {INSTALL_HINT}") from exc
    return ray


@dataclasses.dataclass
class _Worker:
    actor: Any
    where: dict[str, Any]
    busy: int = 0


@dataclasses.dataclass
class _Pool:
    key: str
    workers: list[_Worker]

    def describe(self) -> str:
        nodes = {w.where["node"] for w in self.workers}
        return f"ray: {len(self.workers)} workers on {len(nodes)} node{'s' * (len(nodes) != 1)}"


class RayExecutor:
    """Plays episodes on `EpisodeWorker` actors of a Ray cluster.

    Args:
        address: The cluster: `"auto"` (the one `ray start` started on this machine, or `$RAY_ADDRESS`),
            `"host:6379"`, `"ray://host:10001"` (Ray Client), or `"local"` (start Ray in this process).
            If this process is already connected (`ray.init` was called), that connection is used.
        workers: How many workers; default one per node with at least `num_cpus` CPUs.
        num_cpus: CPUs Ray reserves for each worker. Leave room somewhere for a restarted worker.
        max_task_retries: How many times an episode whose worker died is played again on a restarted one.
        keep_workers: Keep the workers between runs of the same environment, policy and concurrency (until
            `close()`), so later runs skip their start-up.
        start_timeout: Seconds to wait for every worker to start before raising.
        init: Extra `ray.init` arguments (e.g. `{"runtime_env": {...}}`).
    """

    def __init__(self, address: str | None = "auto", *, workers: int | None = None, num_cpus: float = 1.0,
                 max_task_retries: int = 3, keep_workers: bool = False, start_timeout: float = 180.0,
                 init: Mapping[str, Any] | None = None) -> None:
        if workers is not None and workers < 1:
            raise ConfigError(f"workers must be at least 1 (got {workers}); None means one per node.")
        if num_cpus < 0 or max_task_retries < 0:
            raise ConfigError("num_cpus and max_task_retries must be >= 0.")
        self.ray = import_ray()
        self.address, self.workers, self.num_cpus = address, workers, num_cpus
        self.max_task_retries, self.keep_workers, self.start_timeout = max_task_retries, keep_workers, start_timeout
        self.init = dict(init or {})
        self._pool: _Pool | None = None

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, workers={self.workers!r}, num_cpus={self.num_cpus!r})"

    def connect(self) -> None:
        """Connect this process to the cluster (once; a connection made elsewhere is reused)."""
        ray = self.ray
        if ray.is_initialized():
            return
        address = None if self.address in (None, "local") else self.address
        options = {"include_dashboard": False} if address is None else {}
        try:
            ray.init(address=address, **(options | self.init))
        except ConnectionError as exc:
            raise ConfigError(f"No Ray cluster at {self.address!r} ({exc}). Start one with `ray start --head` "
                              "(and `ray start --address HEAD:6379` on the other machines), or use "
                              "address='local' for a Ray inside this process.") from exc

    @asynccontextmanager
    async def open(self, env: Environment, policy: Policy, sources: tuple[Any, Any], shared: RecordContext,
                   max_concurrency: int) -> AsyncIterator[_RayPlayer]:
        """Start (or reuse) the workers for this run; yield the player that hands them episodes."""
        pool = await self._start(sources, shared, max_concurrency)
        try:
            yield _RayPlayer(self, pool, env, policy, shared)
        finally:
            if not self.keep_workers:
                self._stop()

    async def _start(self, sources: tuple[Any, Any], shared: RecordContext, max_concurrency: int) -> _Pool:
        self.connect()
        env_bytes, policy_bytes = check_picklable(sources[0], "environment"), check_picklable(sources[1], "policy")
        key = hashlib.sha256(env_bytes + policy_bytes + repr((shared, max_concurrency)).encode()).hexdigest()
        if self._pool is not None and self._pool.key == key:
            return self._pool
        self._stop()
        nodes = self._nodes()
        count = self.workers or max(1, len(nodes))
        per_worker = max(1, math.ceil(max_concurrency / count))
        remote = self.ray.remote(EpisodeWorker)
        actors = []
        for index in range(count):
            options: dict[str, Any] = {"num_cpus": self.num_cpus, "max_concurrency": per_worker,
                                       "max_restarts": -1, "max_task_retries": self.max_task_retries}
            if self.workers is None and nodes:  # one per node; soft: a restart may land elsewhere
                from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(nodes[index], soft=True)
            else:
                options["scheduling_strategy"] = "SPREAD"
            actors.append(remote.options(**options).remote(sources[0], sources[1], shared))
        self._pool = _Pool(key, [])
        try:
            ready = await asyncio.wait_for(asyncio.gather(*(a.ready.remote() for a in actors)), self.start_timeout)
        except TimeoutError:
            self._pool.workers = [_Worker(a, {}) for a in actors]
            self._stop()
            raise ConfigError(f"{count} Ray workers needing {self.num_cpus:g} CPU each did not all start within "
                              f"{self.start_timeout:g} s; the cluster has {self.ray.available_resources()} free. "
                              "Pass fewer workers= or a smaller num_cpus=, or add nodes.") from None
        except self.ray.exceptions.RayError as exc:
            self._pool.workers = [_Worker(a, {}) for a in actors]
            self._stop()
            raise ConfigError(f"A Ray worker could not build the environment or the policy: {exc}. Every node "
                              "needs agent_gym and the modules the specs name installed.") from exc
        self._pool.workers = [_Worker(a, where) for a, where in zip(actors, ready, strict=True)]
        return self._pool

    def _nodes(self) -> list[str]:
        """Ids of the alive nodes that have room for a worker."""
        return [n["NodeID"] for n in self.ray.nodes()
                if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= max(self.num_cpus, 1e-9)]

    def _stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        closing = [w.actor.close.remote() for w in pool.workers if w.where]
        if closing:
            self.ray.wait(closing, num_returns=len(closing), timeout=10)
        for worker in pool.workers:
            self.ray.kill(worker.actor, no_restart=True)

    def close(self) -> None:
        """Stop the workers kept by `keep_workers`."""
        self._stop()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _RayPlayer:
    """Hands each episode to the least busy worker; a worker lost for good becomes an episode error."""

    def __init__(self, executor: RayExecutor, pool: _Pool, env: Environment, policy: Policy,
                 shared: RecordContext) -> None:
        self.executor, self.pool, self.env, self.policy, self.shared = executor, pool, env, policy, shared
        self.where = pool.describe()

    async def play(self, job: EpisodeJob) -> Trajectory:
        exceptions = self.executor.ray.exceptions
        worker = min(self.pool.workers, key=lambda w: w.busy)
        worker.busy += 1
        started = time.time()
        try:
            return await worker.actor.play.remote(job)
        except (exceptions.RayActorError, exceptions.ActorUnavailableError, exceptions.WorkerCrashedError,
                exceptions.ObjectLostError) as exc:
            return self._failed(job, started, "WorkerLost", f"The Ray worker playing this episode was lost "
                                f"{self.executor.max_task_retries + 1} times ({type(exc).__name__}: {exc}); a "
                                "re-run retries it.")
        except exceptions.RayTaskError as exc:  # raised outside the episode's own guard (e.g. unpicklable)
            cause = exc.cause if isinstance(exc.cause, BaseException) else exc
            return self._failed(job, started, type(cause).__name__, str(cause) or repr(cause))
        finally:
            worker.busy -= 1

    def _failed(self, job: EpisodeJob, started: float, kind: str, message: str) -> Trajectory:
        context = dataclasses.replace(self.shared, job_key=job.job_key, replay_key=job.replay_key)
        return build_trajectory(
            self.env, self.policy, job.task, [], [], ErrorInfo(kind=kind, message=message), None,
            sample_index=job.sample_index, seed=job.seed, started_at=started, seconds=time.time() - started,
            trajectory_id=job.trajectory_id, key=job.job_key, context=context)
