"""Many episodes: `run_rollouts_async` (bounded concurrency, resumable through a store) and its
blocking twin `run_rollouts`, which also works inside Jupyter's running loop."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

from agent_gym.env import Environment
from agent_gym.errors import ConfigError
from agent_gym.policies.base import Policy
from agent_gym.runner.episodes import rollout
from agent_gym.runner.keys import episode_seed, job_key
from agent_gym.store import TrajectoryStore
from agent_gym.types import Task, Trajectory

T = TypeVar("T")


async def run_rollouts_async(
    env: Environment,
    policy: Policy,
    tasks: Sequence[Task],
    *,
    n: int = 1,
    max_concurrency: int = 8,
    store: TrajectoryStore | str | Path | None = None,
    max_turns: int | None = None,
    timeout: float | None = None,
    seed: int | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    on_result: Callable[[Trajectory], None] | None = None,
) -> list[Trajectory]:
    """Run `n` episodes of every task, at most `max_concurrency` at once; return them in task order.

    Each episode gets its own `env.clone()`. With a `store`, each finished trajectory is appended
    as soon as it ends, and episodes already in the store (same resume key) are not run again —
    failed ones neither, unless `retry_failed`. A failed episode is recorded and the rest go on.
    `on_result` is called with each newly finished trajectory (after it is stored).
    """
    if n < 1 or max_concurrency < 1:
        raise ConfigError(f"n and max_concurrency must be at least 1 (got n={n}, max_concurrency={max_concurrency}).")
    if not isinstance(env, Environment):
        raise ConfigError(f"env must be an Environment, got {type(env).__name__}.")
    if not isinstance(policy, Policy):
        raise ConfigError(f"policy must implement the Policy protocol (name, model, sampling, act), got {type(policy).__name__}.")
    tasks = list(tasks)
    ids = [t.id for t in tasks]
    if len(set(ids)) != len(ids):
        raise ConfigError("Task ids must be unique; the resume key is built from them.")
    if isinstance(store, (str, Path)):
        store = TrajectoryStore(store)
    done = store.latest_by_key() if store is not None else {}

    jobs = [(task, i) for task in tasks for i in range(n)]
    keys = [job_key(env, policy, task, i, seed) for task, i in jobs]
    results: list[Trajectory | None] = [None] * len(jobs)
    todo = []
    for index, key in enumerate(keys):
        previous = done.get(key)
        if previous is not None and not (retry_failed and previous.error is not None):
            results[index] = previous
        else:
            todo.append(index)

    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=f"{env.name} rollouts", disable=not progress)
    errors = 0
    semaphore = asyncio.Semaphore(max_concurrency)

    async def one(index: int) -> None:
        nonlocal errors
        task, sample = jobs[index]
        previous = done.get(keys[index])
        attempt_id = keys[index] if previous is None else f"{keys[index]}-{uuid.uuid4().hex[:8]}"
        async with semaphore:
            trajectory = await rollout(
                env.clone(), policy, task, sample_index=sample, seed=episode_seed(seed, task, sample),
                max_turns=max_turns, timeout=timeout, trajectory_id=attempt_id, key=keys[index],
            )
        if store is not None:
            store.append(trajectory)
        if on_result is not None:
            on_result(trajectory)
        results[index] = trajectory
        errors += trajectory.error is not None
        bar.update(1)
        bar.set_postfix(errors=errors, refresh=False)

    try:
        await asyncio.gather(*(one(i) for i in todo))
    finally:
        bar.close()
    return [r for r in results if r is not None]


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, also inside a running loop (Jupyter).

    With a running loop the coroutine runs on a fresh loop in a worker thread; an interrupt of
    the waiting cell cancels it.
    """
    try:
        asyncio.get_running_loop()
        in_loop = True
    except RuntimeError:
        in_loop = False
    if not in_loop:
        return asyncio.run(coro)
    box: dict[str, Any] = {}
    loop = asyncio.new_event_loop()

    def worker() -> None:
        try:
            box["task"] = loop.create_task(coro)
            box["value"] = loop.run_until_complete(box["task"])
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc
        finally:
            loop.close()

    thread = threading.Thread(target=worker, name="agent-gym-run-sync", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.1)
    except KeyboardInterrupt:
        if "task" in box:
            loop.call_soon_threadsafe(box["task"].cancel)
        thread.join()
        raise
    if "error" in box:
        raise box["error"]
    return box["value"]


async def closing_policy(policy: Policy, coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro`, then close the policy's HTTP client of this loop (the sync twins run each call on
    a loop of their own, so nothing else will reuse it)."""
    try:
        return await coro
    finally:
        close = getattr(policy, "aclose", None)
        if callable(close):
            await close()


def run_rollouts(
    env: Environment,
    policy: Policy,
    tasks: Sequence[Task],
    *,
    n: int = 1,
    max_concurrency: int = 8,
    store: TrajectoryStore | str | Path | None = None,
    max_turns: int | None = None,
    timeout: float | None = None,
    seed: int | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    on_result: Callable[[Trajectory], None] | None = None,
) -> list[Trajectory]:
    """The blocking twin of `run_rollouts_async`, for scripts and notebook cells (works inside Jupyter's running loop)."""
    return run_sync(
        closing_policy(
            policy,
            run_rollouts_async(
                env, policy, tasks, n=n, max_concurrency=max_concurrency, store=store, max_turns=max_turns,
                timeout=timeout, seed=seed, retry_failed=retry_failed, progress=progress, on_result=on_result,
            ),
        )
    )
