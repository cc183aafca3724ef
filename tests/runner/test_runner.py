import asyncio

import pytest

from agent_gym import (
    ConfigError,
    Environment,
    PolicyOutput,
    ScriptedPolicy,
    StepResult,
    Task,
    ToolEnv,
    TrajectoryStore,
    assistant,
    rollout,
    run_rollouts,
    run_rollouts_async,
    user,
)
from agent_gym.envs.calculator import CalculatorEnv, CalculatorExpert
from agent_gym.testing.toys import add, correct

ENV = ToolEnv(tools=[add], reward=correct, name="adder")
SCRIPT = ScriptedPolicy(['<tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}</tool_call>', "5"])
TASKS = [Task(id=str(i), prompt="2+3?", answer="5") for i in range(4)]


async def test_rollout_records_messages_steps_and_reward():
    t = await rollout(ENV.clone(), SCRIPT, TASKS[0])
    assert [m.role for m in t.messages] == ["user", "assistant", "tool", "assistant"]
    assert [s.action_index for s in t.steps] == [1, 3] and t.steps[0].observation_count == 1
    assert t.reward == 1.0 and t.success is True and t.terminated and not t.truncated
    assert t.reward_components == {"correct": 1.0} and t.metrics["tool_calls"] == 1.0 and t.error is None
    assert t.env == "adder" and t.policy == "scripted"


async def test_max_turns_truncates():
    looping = ScriptedPolicy(lambda messages, tools: '<tool_call>{"name": "add", "arguments": {"a": 1, "b": 1}}</tool_call>')
    t = await rollout(ENV.clone(), looping, TASKS[0], max_turns=3)
    assert t.num_turns == 3 and t.truncated and not t.terminated and t.reward == 0


class FlakyEnv(Environment):
    name = "flaky"

    async def reset(self, task):
        self.task = task
        return [user(task.prompt)]

    async def step(self, action):
        if self.task.id == "bad":
            raise RuntimeError("env exploded")
        return StepResult(reward=1.0, terminated=True, success=True)


async def test_one_failed_episode_is_recorded_and_the_rest_go_on(tmp_path):
    tasks = [Task(id="ok1", prompt="a"), Task(id="bad", prompt="b"), Task(id="ok2", prompt="c")]
    store = TrajectoryStore(tmp_path / "s.jsonl")
    out = await run_rollouts_async(FlakyEnv(), ScriptedPolicy(["done"]), tasks, store=store, progress=False)
    assert [t.task_id for t in out] == ["ok1", "bad", "ok2"]
    bad = out[1]
    assert bad.error.kind == "RuntimeError" and "env exploded" in bad.error.message and "Traceback" in bad.error.traceback
    assert [m.role for m in bad.messages] == ["user", "assistant"]  # the conversation so far is kept
    assert len(store) == 3 and out[0].success and out[2].success


async def test_concurrency_is_bounded():
    running = peak = 0

    class Slow:
        name, model, sampling = "slow", None, {}

        async def act(self, messages, tools, *, seed=None):
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1
            return PolicyOutput(assistant("5"))

    out = await run_rollouts_async(ENV, Slow(), TASKS, n=5, max_concurrency=3, progress=False)
    assert len(out) == 20 and peak == 3


async def test_resume_skips_done_jobs_and_never_duplicates(tmp_path):
    path = tmp_path / "run.jsonl"
    calls = 0

    class CountingExpert(CalculatorExpert):
        async def act(self, messages, tools, *, seed=None):
            nonlocal calls
            calls += 1
            return await super().act(messages, tools, seed=seed)

    env, tasks = CalculatorEnv(), CalculatorEnv().default_tasks()[:5]
    first = await run_rollouts_async(env, CountingExpert(), tasks[:3], n=2, store=path, progress=False)
    assert calls == 12 and len(TrajectoryStore(path)) == 6
    both = await run_rollouts_async(env, CountingExpert(), tasks, n=2, store=path, progress=False)
    assert calls == 12 + 8  # only the 2 new tasks x 2 samples ran
    assert [t.id for t in both[:6]] == [t.id for t in first]
    records = TrajectoryStore(path).read()
    assert len(records) == 10 and len({r.job_key for r in records}) == 10


async def test_interrupted_run_resumes_without_loss_or_duplicates(tmp_path):
    path = tmp_path / "run.jsonl"
    env, tasks = CalculatorEnv(), CalculatorEnv().default_tasks()[:10]

    class Slow(CalculatorExpert):
        async def act(self, messages, tools, *, seed=None):
            await asyncio.sleep(0.002)
            return await super().act(messages, tools, seed=seed)

    job = asyncio.ensure_future(run_rollouts_async(env, Slow(), tasks, n=3, max_concurrency=4, store=path, progress=False))
    while len(TrajectoryStore(path)) < 7:
        await asyncio.sleep(0.002)
    job.cancel()  # like a kernel interrupt in the middle of the run
    with pytest.raises(asyncio.CancelledError):
        await job
    partial = len(TrajectoryStore(path))
    assert 7 <= partial < 30
    out = await run_rollouts_async(env, Slow(), tasks, n=3, max_concurrency=4, store=path, progress=False)
    records = TrajectoryStore(path).read()
    assert len(out) == 30 and len(records) == 30 and len({r.job_key for r in records}) == 30
    assert all(r.success for r in records)


async def test_failed_jobs_are_retried_unless_kept(tmp_path):
    path = tmp_path / "run.jsonl"
    tasks = [Task(id="bad", prompt="x")]
    await run_rollouts_async(FlakyEnv(), ScriptedPolicy(["a"]), tasks, store=path, progress=False)
    kept = await run_rollouts_async(FlakyEnv(), ScriptedPolicy(["a"]), tasks, store=path, retry_failed=False, progress=False)
    assert len(TrajectoryStore(path).read()) == 1 and kept.counts["kept_failed"] == 1 and kept.ran == 0
    again = await run_rollouts_async(FlakyEnv(), ScriptedPolicy(["a"]), tasks, store=path, progress=False)
    store = TrajectoryStore(path)
    assert len(store.read()) == 2 and len(store.latest()) == 1 and store.latest()[0].id == again[0].id
    assert (again.ran, again.retried) == (1, 1)


def test_sync_twin_works_in_scripts_and_inside_a_running_loop():
    assert run_rollouts(ENV, SCRIPT, TASKS[:2], progress=False)[0].reward == 1.0

    async def inside_loop():  # what a Jupyter cell is
        return run_rollouts(ENV, SCRIPT, TASKS[:2], progress=False)

    assert len(asyncio.run(inside_loop())) == 2


def test_same_seed_same_keys_and_bad_settings_are_rejected():
    a = run_rollouts(ENV, SCRIPT, TASKS[:1], seed=7, progress=False)[0]
    b = run_rollouts(ENV, SCRIPT, TASKS[:1], seed=7, progress=False)[0]
    assert a.job_key == b.job_key and a.sampling["seed"] == b.sampling["seed"]
    with pytest.raises(ConfigError):
        run_rollouts(ENV, SCRIPT, TASKS, n=0)
    with pytest.raises(ConfigError, match="unique"):
        run_rollouts(ENV, SCRIPT, [TASKS[0], TASKS[0]])
    with pytest.raises(ConfigError, match="Policy protocol"):
        run_rollouts(ENV, object(), TASKS)  # type: ignore[arg-type]


async def test_on_result_sees_each_new_trajectory_once(tmp_path):
    seen = []
    await run_rollouts_async(ENV, SCRIPT, TASKS, n=2, store=tmp_path / "s.jsonl", progress=False, on_result=seen.append)
    await run_rollouts_async(ENV, SCRIPT, TASKS, n=2, store=tmp_path / "s.jsonl", progress=False, on_result=seen.append)
    assert len(seen) == 8 and len({t.job_key for t in seen}) == 8


async def test_current_task_is_visible_to_policies_during_their_episode():
    from agent_gym import current_task

    class Echo:
        name, model, sampling = "echo", None, {}

        async def act(self, messages, tools, *, seed=None):
            await asyncio.sleep(0.001)  # interleave episodes: each must still see its own task
            return PolicyOutput(assistant(current_task().answer))

    tasks = [Task(id=str(i), prompt="2+3?", answer=str(i)) for i in range(6)]
    out = await run_rollouts_async(ToolEnv(), Echo(), tasks, max_concurrency=6, progress=False)
    assert [t.final_answer for t in out] == [str(i) for i in range(6)]
    assert current_task() is None


def test_an_unreachable_model_server_is_one_clear_error_before_any_episode(tmp_path):
    import socket

    from agent_gym import OpenAIPolicy
    from agent_gym.errors import PolicyError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    policy = OpenAIPolicy("m", base_url=url, max_retries=0)
    with pytest.raises(PolicyError, match=f"Nothing answers at {url}.*'m'"):
        run_rollouts(ENV, policy, TASKS, store=tmp_path / "s.jsonl", progress=False)
    assert not (tmp_path / "s.jsonl").exists()
    out = run_rollouts(ENV, policy, TASKS[:1], progress=False, preflight=False)  # the check can be skipped
    assert out[0].error is not None and out[0].error.kind == "PolicyError"
