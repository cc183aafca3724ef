"""Many episodes: `run_episodes_async`, the one engine (bounded concurrency, resumable through a store);
`run_rollouts_async` (every task × n samples) and its blocking twin `run_rollouts`, which also works
inside Jupyter's running loop. Each returns a `RunResult`: the trajectories and what was reused, ran,
retried and rescored. Where the episodes are played is the `executor`'s business (in-process by default,
or a Ray cluster: `executor="auto"`); the driver keeps the store, the resume keys and the progress bar."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TypeVar

from tqdm.auto import tqdm

from agent_gym.distributed.executor import EpisodePlayer, Executor, as_executor
from agent_gym.distributed.specs import EnvSpec, PolicySpec, build_env, build_policy
from agent_gym.env import Environment
from agent_gym.errors import ConfigError
from agent_gym.policies.base import Policy
from agent_gym.runner.episodes import EpisodeJob
from agent_gym.runner.keys import (
    Fingerprints,
    environment_identity,
    episode_seed,
    fingerprints,
    policy_identity,
)
from agent_gym.runner.record import RecordContext, store_trajectory
from agent_gym.runner.rescore import rescore_trajectory
from agent_gym.runner.sync import closing_policy, run_sync
from agent_gym.store import TrajectoryStore
from agent_gym.types import Task, Trajectory

T = TypeVar("T")


class RunResult(list[Trajectory]):
    """The trajectories of a run in job order (a list), and what the run did with each job.

    `reused`: finished records of the same fingerprint taken from the store; `ran`: episodes played now,
    of which `retried` had failed before; `rescored`: recorded interactions scored again with a changed
    reward, not replayed; `kept_failed`: failed records kept because `retry_failed=False`.
    """

    def __init__(self, trajectories: Sequence[Trajectory] = (), counts: dict[str, int] | None = None) -> None:
        super().__init__(trajectories)
        self.counts: dict[str, int] = {key: 0 for key in COUNTS} | dict(counts or {})

    reused = property(lambda self: self.counts["reused"], doc="Finished records reused from the store.")
    ran = property(lambda self: self.counts["ran"], doc="Episodes played by this run.")
    retried = property(lambda self: self.counts["retried"], doc="Episodes played again after a failure.")
    rescored = property(lambda self: self.counts["rescored"], doc="Recorded interactions scored again.")

    def report(self) -> str:
        """One line: `reused N, ran M, retried K, rescored R` (and errors, kept failures when any)."""
        c = self.counts
        text = f"reused {c['reused']}, ran {c['ran']}, retried {c['retried']}, rescored {c['rescored']}"
        errors = sum(t.error is not None for t in self)
        if c["kept_failed"]:
            text += f", kept {c['kept_failed']} failed"
        return text + (f"; {errors} with errors" if errors else "")


COUNTS = ("reused", "ran", "retried", "rescored", "kept_failed")


async def run_rollouts_async(
    env: Environment | EnvSpec,
    policy: Policy | PolicySpec,
    tasks: Sequence[Task],
    *,
    n: int = 1,
    max_concurrency: int = 8,
    store: TrajectoryStore | str | Path | None = None,
    max_turns: int | None = None,
    timeout: float | None = None,
    seed: int | None = None,
    retry_failed: bool = True,
    rescore: bool = False,
    progress: bool = True,
    on_result: Callable[[Trajectory], None] | None = None,
    preflight: bool = True,
    executor: Executor | str | None = None,
) -> RunResult:
    """Run `n` episodes of every task, at most `max_concurrency` at once; return them in task order.

    Each episode gets its own `env.clone()`. With a `store`, each finished trajectory is appended as
    soon as it ends, and a re-run reuses what is still valid: a finished record with the same job
    fingerprint (environment configuration and reward identity, task content, policy and sampling, turn
    limit, sample index, seed — see `keys`) is reused; a failed one is played again (`retry_failed=False`
    keeps it); with `rescore=True`, a record whose interaction is the same and only the reward changed is
    scored again instead of replayed (environments scored by a `Rubric` at the final answer). Two
    processes running the same job on one store never both play it (a lease in the store). A failed
    episode is recorded and the rest go on. `on_result` is called with each new trajectory (after it
    is stored). The result's `report()` says what was reused, ran, retried and rescored. Before playing
    anything, a policy with a `preflight()` (OpenAIPolicy: one `/models` request) is checked once, so an
    unreachable server raises one PolicyError naming it (`preflight=False` skips the check).

    `executor` says where episodes are played: None plays them here; `RayExecutor(address)` (or just the
    address, e.g. `"auto"`) on the workers of a Ray cluster, each running up to its share of
    `max_concurrency` at once. `env` and `policy` may be given as `EnvSpec`/`PolicySpec`, which each worker
    builds for itself (objects are pickled to the workers). The store stays on this machine: only this
    process writes it.
    """
    if n < 1:
        raise ConfigError(f"n must be at least 1 (got n={n}).")
    tasks = list(tasks)
    ids = [t.id for t in tasks]
    if len(set(ids)) != len(ids):
        raise ConfigError("Task ids must be unique; the job fingerprint counts samples per task id.")
    return await run_episodes_async(
        env, policy, [(task, i) for task in tasks for i in range(n)], max_concurrency=max_concurrency, store=store,
        max_turns=max_turns, timeout=timeout, seed=seed, retry_failed=retry_failed, rescore=rescore,
        progress=progress, on_result=on_result, preflight=preflight, executor=executor,
    )


async def run_episodes_async(
    env: Environment | EnvSpec,
    policy: Policy | PolicySpec,
    jobs: Sequence[tuple[Task, int]],
    *,
    max_concurrency: int = 8,
    store: TrajectoryStore | str | Path | None = None,
    max_turns: int | None = None,
    timeout: float | None = None,
    seed: int | None = None,
    retry_failed: bool = True,
    rescore: bool = False,
    progress: bool = True,
    on_result: Callable[[Trajectory], None] | None = None,
    trajectory_ids: Sequence[str] | None = None,
    preflight: bool = True,
    executor: Executor | str | None = None,
) -> RunResult:
    """The one episode engine: play `(task, sample_index)` jobs (see `run_rollouts_async` for the rules).

    `run_rollouts_async`, `synthesize`, `evaluate` and GRPO's `MultiTurnRollout` all run through here.
    `trajectory_ids` names the new trajectories (one per job; default: the job key, plus a suffix on retries).
    """
    if max_concurrency < 1:
        raise ConfigError(f"max_concurrency must be at least 1 (got {max_concurrency}).")
    if not isinstance(env, (Environment, EnvSpec)):
        raise ConfigError(f"env must be an Environment or an EnvSpec, got {type(env).__name__}.")
    if not isinstance(policy, (Policy, PolicySpec)):
        raise ConfigError(f"policy must implement the Policy protocol (name, model, sampling, act), got {type(policy).__name__}.")
    if trajectory_ids is not None and len(trajectory_ids) != len(jobs):
        raise ConfigError(f"trajectory_ids has {len(trajectory_ids)} ids for {len(jobs)} jobs.")
    if isinstance(store, (str, Path)):
        store = TrajectoryStore(store)
    jobs, sources, executor = list(jobs), (env, policy), as_executor(executor)
    owned = isinstance(policy, PolicySpec)  # built here: nobody else will close its HTTP client
    env, policy = build_env(env), build_policy(policy)
    identity, policy_info, tools = environment_identity(env), policy_identity(policy), tuple(env.tool_schemas())
    limit = max_turns or env.max_turns
    keys = [fingerprints(env, policy, task, i, seed, max_turns=limit, identity=identity, policy_info=policy_info)
            for task, i in jobs]
    done = store.latest_by_key() if store is not None else {}
    by_replay = {t.replay_key: t for t in done.values() if t.replay_key and t.error is None} if rescore else {}
    counts = dict.fromkeys(COUNTS, 0)
    results: list[Trajectory | None] = [None] * len(jobs)
    todo = []
    for index, key in enumerate(keys):
        previous = done.get(key.job_key)
        if previous is not None and (previous.error is None or not retry_failed):
            results[index] = previous
            counts["reused" if previous.error is None else "kept_failed"] += 1
        else:
            todo.append(index)

    async with AsyncExitStack() as stack:
        if owned and callable(close := getattr(policy, "aclose", None)):
            stack.push_async_callback(close)
        player: EpisodePlayer | None = None
        if todo:  # opened before the preflight: a Ray worker gets the policy before the check gives it a client
            player = await stack.enter_async_context(
                executor.open(env, policy, sources, RecordContext(identity, policy_info, tools), max_concurrency))
            if preflight and (check := getattr(policy, "preflight", None)) is not None:
                await check()  # e.g. nothing listens at the model server: one PolicyError, not N failed episodes
        where = f" ({player.where})" if player is not None and player.where else ""
        bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=f"{env.name} rollouts{where}",
                   disable=not progress)
        bar.set_postfix(reused=counts["reused"], refresh=False)
        errors = 0
        semaphore = asyncio.Semaphore(max_concurrency)

        def finished(index: int, trajectory: Trajectory, kind: str) -> None:
            nonlocal errors
            results[index] = trajectory
            counts[kind] += 1
            errors += kind != "reused" and trajectory.error is not None
            bar.update(1)
            bar.set_postfix(reused=counts["reused"], ran=counts["ran"], retried=counts["retried"],
                            rescored=counts["rescored"], errors=errors, refresh=False)

        async def one(index: int) -> None:
            task, sample = jobs[index]
            key = keys[index]
            previous = done.get(key.job_key)
            while True:
                async with semaphore:
                    lease = store.try_lease(key.job_key) if store is not None else None
                    if store is None or lease is not None:
                        try:
                            await play(index, task, sample, key, previous)
                        finally:
                            if lease is not None:
                                lease.release()
                        return
                await asyncio.sleep(0.05)  # another process holds this job: let other jobs run meanwhile

        async def play(index: int, task: Task, sample: int, key: Fingerprints, previous: Trajectory | None) -> None:
            if store is not None:  # another process may have finished it since the run began
                latest = store.latest_of(key.job_key)
                if latest is not None and (latest.error is None or previous is None or latest.id != previous.id):
                    finished(index, latest, "reused")
                    return
            context = RecordContext(identity, policy_info, tools, key.job_key, key.replay_key)
            old = by_replay.get(key.replay_key)
            trajectory = await rescore_trajectory(env, task, old, context) if old is not None else None
            kind = "rescored"
            if trajectory is None:
                if trajectory_ids is not None:
                    attempt_id = trajectory_ids[index]
                else:
                    attempt_id = key.job_key if previous is None else f"{key.job_key}-{uuid.uuid4().hex[:8]}"
                assert player is not None
                trajectory = await player.play(EpisodeJob(
                    task, sample, episode_seed(seed, task, sample), limit, timeout, attempt_id, key.job_key,
                    key.replay_key))
                kind = "ran"
                if previous is not None:
                    counts["retried"] += 1
            if store is not None:
                trajectory = store_trajectory(store, trajectory)
            if on_result is not None:
                on_result(trajectory)
            finished(index, trajectory, kind)

        try:
            await asyncio.gather(*(one(i) for i in todo))
        finally:
            bar.close()
        return RunResult([r for r in results if r is not None], counts)


def run_rollouts(
    env: Environment | EnvSpec,
    policy: Policy | PolicySpec,
    tasks: Sequence[Task],
    *,
    n: int = 1,
    max_concurrency: int = 8,
    store: TrajectoryStore | str | Path | None = None,
    max_turns: int | None = None,
    timeout: float | None = None,
    seed: int | None = None,
    retry_failed: bool = True,
    rescore: bool = False,
    progress: bool = True,
    on_result: Callable[[Trajectory], None] | None = None,
    preflight: bool = True,
    executor: Executor | str | None = None,
) -> RunResult:
    """The blocking twin of `run_rollouts_async`, for scripts and notebook cells (works inside Jupyter's running loop)."""
    return run_sync(
        closing_policy(
            policy,
            run_rollouts_async(
                env, policy, tasks, n=n, max_concurrency=max_concurrency, store=store, max_turns=max_turns,
                timeout=timeout, seed=seed, retry_failed=retry_failed, rescore=rescore, progress=progress,
                on_result=on_result, preflight=preflight, executor=executor,
            ),
        )
    )
