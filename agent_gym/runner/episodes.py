"""One episode: `rollout` plays a task on an environment with a policy and returns its Trajectory;
`EpisodeJob` is one episode as a run hands it to an executor (in-process, or a Ray worker), `play_job` plays it."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import traceback

from agent_gym.env import Environment, TimeLimit
from agent_gym.errors import ContextFull
from agent_gym.policies.base import EpisodeSession, Policy
from agent_gym.runner.record import RecordContext, build_trajectory
from agent_gym.tasks import CURRENT_TASK
from agent_gym.types import ErrorInfo, Message, Step, Task, Trajectory


@dataclasses.dataclass(frozen=True)
class EpisodeJob:
    """One episode to play: what the driver of a run sends to where it is played (picklable)."""

    task: Task
    sample_index: int
    seed: int | None
    """The episode's own seed (`keys.episode_seed`), or None."""
    max_turns: int
    timeout: float | None
    trajectory_id: str
    job_key: str
    replay_key: str


async def play_job(env: Environment, policy: Policy, job: EpisodeJob, shared: RecordContext) -> Trajectory:
    """`rollout` of one job on a clone of `env`; `shared` is what the run's records share (its keys are set here)."""
    context = dataclasses.replace(shared, job_key=job.job_key, replay_key=job.replay_key)
    return await rollout(
        env.clone(), policy, job.task, sample_index=job.sample_index, seed=job.seed, max_turns=job.max_turns,
        timeout=job.timeout, trajectory_id=job.trajectory_id, key=job.job_key, context=context,
    )


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
    context: RecordContext | None = None,
) -> Trajectory:
    """Run one episode of `task` on `env` (used as is: pass a fresh or cloned environment).

    Any exception from the environment or the policy ends the episode and is recorded on the
    returned trajectory's `error`, with the conversation up to that point. The episode is truncated
    after `max_turns` turns (default: the environment's `max_turns`); `timeout` bounds its wall
    time in seconds.

    A policy with `start_episode()` (a token-capable one) gets one session for the episode; its token
    record goes on the trajectory. When its budget cannot fit another turn (`ContextFull`) the episode
    ends truncated, not failed. `context` carries what a run's records share (`RecordContext`).
    """
    env = TimeLimit(env, max_turns or env.max_turns)
    messages: list[Message] = []
    steps: list[Step] = []
    error: ErrorInfo | None = None
    started_at, t0 = time.time(), time.perf_counter()
    tools = env.tool_schemas()
    start = getattr(policy, "start_episode", None)
    session: EpisodeSession | None = start() if callable(start) else None
    actor = session if session is not None else policy
    cut_short: bool | None = None
    success: bool | None = None
    token = CURRENT_TASK.set(task)
    try:
        async with asyncio.timeout(timeout):
            messages.extend(await env.reset(task))
            while True:
                t1 = time.perf_counter()
                try:
                    output = await actor.act(messages, tools, seed=seed)
                except ContextFull:
                    cut_short = True
                    break
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
                        policy_seconds=max(0.0, t2 - t1 - getattr(output, "queue_seconds", 0.0)),
                        queue_seconds=getattr(output, "queue_seconds", 0.0),
                        env_seconds=time.perf_counter() - t2,
                    )
                )
                success = result.success
                if result.terminated or result.truncated:
                    break
    except Exception as exc:  # noqa: BLE001 - one failed episode must not stop the run
        error = ErrorInfo(kind=type(exc).__name__, message=str(exc) or repr(exc), traceback=traceback.format_exc())
        success = None
    finally:
        CURRENT_TASK.reset(token)
        tokens = session.finish() if session is not None else None
        try:
            await env.close()
        except Exception as exc:  # noqa: BLE001
            error = error or ErrorInfo(kind=type(exc).__name__, message=f"close() failed: {exc}")
    return build_trajectory(
        env, policy, task, messages, steps, error, success,
        sample_index=sample_index, seed=seed, started_at=started_at, seconds=time.perf_counter() - t0,
        trajectory_id=trajectory_id, key=key, context=context, tokens=tokens, truncated=cut_short,
    )
