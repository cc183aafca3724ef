"""Running episodes: `rollout` (one), `run_rollouts` (many, async, bounded) and `run_rollouts_sync`."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

from .env import Environment, TimeLimit
from .errors import ConfigError
from .policy import Policy
from .store import TrajectoryStore
from .types import ErrorInfo, Message, Step, Task, Trajectory, Usage

T = TypeVar("T")

_CURRENT_TASK: contextvars.ContextVar[Task | None] = contextvars.ContextVar("agent_gym_current_task", default=None)


def current_task() -> Task | None:
    """The task of the episode running in this asyncio task (None outside `rollout`).

    For policies that need the task record, such as scripted experts and oracles; model policies
    see only the conversation, as a real model would.
    """
    return _CURRENT_TASK.get()


def job_key(env: Environment, policy: Policy, task: Task, sample_index: int, seed: int | None = None) -> str:
    """Resume key of one episode: env settings, task, sample index, policy, model, sampling, seed."""
    payload = {
        "env": env.config(),
        "task": task.id,
        "sample": sample_index,
        "policy": policy.name,
        "model": policy.model,
        "sampling": dict(policy.sampling),
        "seed": seed,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def episode_seed(seed: int | None, task: Task, sample_index: int) -> int | None:
    """A per-episode seed derived from the run's seed, stable across runs and processes."""
    if seed is None:
        return None
    digest = hashlib.sha256(f"{seed}:{task.id}:{sample_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


async def rollout(
    env: Environment,
    policy: Policy,
    task: Task,
    *,
    sample_index: int = 0,
    seed: int | None = None,
    max_turns: int | None = None,
    timeout: float | None = None,
    trajectory_id: str | None = None,
    key: str = "",
) -> Trajectory:
    """Run one episode of `task` on `env` (used as is: pass a fresh or cloned environment).

    Any exception from the environment or the policy ends the episode and is recorded on the
    returned trajectory's `error`, with the conversation up to that point. The episode is truncated
    after `max_turns` turns (default: the environment's `max_turns`); `timeout` bounds its wall
    time in seconds.
    """
    env = TimeLimit(env, max_turns or env.max_turns)
    messages: list[Message] = []
    steps: list[Step] = []
    error: ErrorInfo | None = None
    started_at, t0 = time.time(), time.perf_counter()
    tools = env.tool_schemas()
    token = _CURRENT_TASK.set(task)
    try:
        async with asyncio.timeout(timeout):
            messages.extend(await env.reset(task))
            while True:
                t1 = time.perf_counter()
                output = await policy.act(messages, tools, seed=seed)
                t2 = time.perf_counter()
                messages.append(output.message)
                result = await env.step(output.message)
                messages.extend(result.observation)
                steps.append(
                    Step(
                        action_index=len(messages) - len(result.observation) - 1,
                        observation_count=len(result.observation),
                        reward=result.reward,
                        components=result.components,
                        terminated=result.terminated,
                        truncated=result.truncated,
                        info=result.info,
                        usage=output.usage,
                        policy_seconds=t2 - t1,
                        env_seconds=time.perf_counter() - t2,
                    )
                )
                if result.terminated or result.truncated:
                    break
            success = result.success
    except Exception as exc:  # noqa: BLE001 - one failed episode must not stop the run
        error = ErrorInfo(kind=type(exc).__name__, message=str(exc) or repr(exc), traceback=traceback.format_exc())
        success = None
    finally:
        _CURRENT_TASK.reset(token)
        try:
            await env.close()
        except Exception as exc:  # noqa: BLE001
            error = error or ErrorInfo(kind=type(exc).__name__, message=f"close() failed: {exc}")
    return _trajectory(
        env, policy, task, messages, steps, error, success,
        sample_index=sample_index, seed=seed, started_at=started_at, seconds=time.perf_counter() - t0,
        trajectory_id=trajectory_id, key=key,
    )


def _trajectory(
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


async def run_rollouts(
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


def run_rollouts_sync(
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
    """`run_rollouts` for scripts and notebook cells (works inside Jupyter's running loop)."""
    return run_sync(
        closing_policy(
            policy,
            run_rollouts(
                env, policy, tasks, n=n, max_concurrency=max_concurrency, store=store, max_turns=max_turns,
                timeout=timeout, seed=seed, retry_failed=retry_failed, progress=progress, on_result=on_result,
            ),
        )
    )
