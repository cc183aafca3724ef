"""Resume that cannot go stale: what a re-run reuses, retries, replays and rescores — and what it reports.

Also: two processes on one job never both play an episode, a SIGKILL mid-episode leaves nothing
half-written, and stores written before schema 2 still load.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agent_gym import PolicyOutput, ScriptedPolicy, Task, ToolEnv, TrajectoryStore, run_rollouts
from agent_gym.runner.keys import fingerprints
from agent_gym.testing.toys import add, correct
from agent_gym.types import SCHEMA_VERSION, Trajectory, assistant

CALL = '<tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}</tool_call>'
TASKS = [Task(id=str(i), prompt="2+3?", answer="5") for i in range(3)]
FIXTURE = Path(__file__).parents[1] / "fixtures" / "store_schema1.jsonl"


class Counting(ScriptedPolicy):
    """The add-then-answer script, counting its model calls."""

    def __init__(self) -> None:
        super().__init__([CALL, "5"])
        self.calls = 0

    async def act(self, messages, tools, *, seed=None):
        self.calls += 1
        return await super().act(messages, tools, seed=seed)


def half_credit(task, messages):
    return 0.5 * correct(task, messages)


def test_a_changed_reward_function_is_a_new_job_and_the_run_says_so(tmp_path):
    store = tmp_path / "run.jsonl"
    first = run_rollouts(ToolEnv(tools=[add], reward=correct), Counting(), TASKS, store=store, progress=False)
    assert first.report() == "reused 0, ran 3, retried 0, rescored 0"
    policy = Counting()
    again = run_rollouts(ToolEnv(tools=[add], reward=correct), policy, TASKS, store=store, progress=False)
    assert (again.reused, again.ran, policy.calls) == (3, 0, 0) and [t.id for t in again] == [t.id for t in first]
    changed = run_rollouts(ToolEnv(tools=[add], reward=half_credit), policy, TASKS, store=store, progress=False)
    assert (changed.reused, changed.ran, policy.calls) == (0, 3, 6)
    assert {t.reward for t in changed} == {0.5} and {t.job_key for t in changed}.isdisjoint(t.job_key for t in first)
    assert changed[0].environment["reward"][0]["function"].endswith("half_credit")


def test_a_changed_prompt_under_the_same_task_id_is_played_again(tmp_path):
    store = tmp_path / "run.jsonl"
    env = ToolEnv(tools=[add], reward=correct)
    run_rollouts(env, Counting(), TASKS[:1], store=store, progress=False)
    edited = [TASKS[0].model_copy(update={"prompt": "What is 2 + 3?"})]
    policy = Counting()
    run = run_rollouts(env, policy, edited, store=store, progress=False)
    assert (run.reused, run.ran, policy.calls) == (0, 1, 2) and run[0].task.prompt == "What is 2 + 3?"
    also_answer = [TASKS[0].model_copy(update={"answer": "6"})]
    assert run_rollouts(env, Counting(), also_answer, store=store, progress=False).ran == 1


def test_a_changed_turn_limit_is_a_new_job(tmp_path):
    store = tmp_path / "run.jsonl"
    env = ToolEnv(tools=[add], reward=correct)
    run_rollouts(env, Counting(), TASKS[:1], store=store, progress=False, max_turns=1)
    run = run_rollouts(env, Counting(), TASKS[:1], store=store, progress=False, max_turns=5)
    assert run.ran == 1 and run[0].success


class Down:
    """A policy whose server is down until `up` is set."""

    name, model, sampling = "flaky-server", "m", {}

    def __init__(self, up: bool) -> None:
        self.up = up

    async def act(self, messages, tools, *, seed=None):
        if not self.up:
            raise ConnectionError("server down")
        return PolicyOutput(assistant("5"))


def test_failed_episodes_are_retried_by_default_and_counted(tmp_path):
    store = tmp_path / "run.jsonl"
    env = ToolEnv(tools=[add], reward=correct)
    failed = run_rollouts(env, Down(up=False), TASKS, store=store, progress=False)
    assert all(t.error is not None for t in failed) and "3 with errors" in failed.report()
    fixed = run_rollouts(env, Down(up=True), TASKS, store=store, progress=False)
    assert (fixed.reused, fixed.ran, fixed.retried) == (0, 3, 3) and all(t.success for t in fixed)
    assert run_rollouts(env, Down(up=True), TASKS, store=store, progress=False).reused == 3


SERVICE = {"up": False}


def fragile(task, messages):
    """A reward that calls a service (a judge, a database) that may be down."""
    if not SERVICE["up"]:
        raise ConnectionError("the grading service is down")
    return correct(task, messages)


def test_a_reward_that_raised_is_retried_once_it_works(tmp_path):
    store = tmp_path / "run.jsonl"
    env = ToolEnv(tools=[add], reward=fragile)
    SERVICE["up"] = False
    assert all(t.error is not None for t in run_rollouts(env, Counting(), TASKS[:2], store=store, progress=False))
    SERVICE["up"] = True
    run = run_rollouts(env, Counting(), TASKS[:2], store=store, progress=False)
    assert run.retried == 2 and all(t.reward == 1.0 for t in run)


def test_only_the_reward_changed_rescore_scores_the_recorded_interaction(tmp_path):
    store = tmp_path / "run.jsonl"
    first = run_rollouts(ToolEnv(tools=[add], reward=correct), Counting(), TASKS, store=store, progress=False)
    policy = Counting()
    run = run_rollouts(ToolEnv(tools=[add], reward=half_credit), policy, TASKS, store=store, progress=False, rescore=True)
    assert (run.rescored, run.ran, policy.calls) == (3, 0, 0)
    assert [t.reward for t in run] == [0.5] * 3 and [t.messages for t in run] == [t.messages for t in first]
    assert run[0].metadata["rescored_from"] == first[0].id and run[0].replay_key == first[0].replay_key
    assert run_rollouts(ToolEnv(tools=[add], reward=half_credit), policy, TASKS, store=store, progress=False).reused == 3


def test_the_record_is_complete():
    env = ToolEnv(tools=[add], reward=correct, name="adder")
    [t] = run_rollouts(env, Counting(), TASKS[:1], progress=False, seed=3)
    assert t.task == TASKS[0] and t.task.answer == "5" and t.tools == tuple(env.tool_schemas())
    assert t.environment["name"] == "adder" and t.environment["class"] == "agent_gym.env.ToolEnv"
    assert t.environment["config"]["tools"] == ["add"] and len(t.environment["reward"][0]["source_hash"]) == 16
    assert t.policy_info["class"].endswith("Counting") and t.policy_info["tokens"] is False and t.tokens is None
    keys = fingerprints(env, t_policy := Counting(), TASKS[0], 0, 3)
    assert t.job_key == keys.job_key and t.replay_key == keys.replay_key and t_policy.calls == 0
    assert Trajectory.from_json(t.to_json()) == t and t.schema_version == SCHEMA_VERSION == 2


def test_a_store_written_by_schema_1_still_loads_and_its_jobs_run_again():
    store = TrajectoryStore(FIXTURE)
    old = store.read()
    assert len(old) == 4 and {t.schema_version for t in old} == {1} and all(t.task is None for t in old)
    assert sum(t.error is not None for t in old) == 1 and len(store.summaries()) == 4
    assert store.to_pandas()["success"].sum() == 3


SLOW_RUN = textwrap.dedent('''
    import asyncio, sys
    from agent_gym import ScriptedPolicy, Task, ToolEnv, run_rollouts
    from agent_gym.testing.toys import add, correct

    class Slow(ScriptedPolicy):
        async def act(self, messages, tools, *, seed=None):
            await asyncio.sleep(float(sys.argv[2]))
            return await super().act(messages, tools, seed=seed)

    tasks = [Task(id=str(i), prompt="2+3?", answer="5") for i in range(int(sys.argv[3]))]
    policy = Slow(['<tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}</tool_call>', "5"])
    run = run_rollouts(ToolEnv(tools=[add], reward=correct), policy, tasks, store=sys.argv[1], max_concurrency=4,
                       progress=False)
    print("COUNTS", run.counts["ran"], run.counts["reused"], flush=True)
''')


def _spawn(tmp_path: Path, store: Path, delay: float, tasks: int) -> subprocess.Popen:
    script = tmp_path / "slow_run.py"
    script.write_text(SLOW_RUN)
    return subprocess.Popen([sys.executable, str(script), str(store), str(delay), str(tasks)],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.mark.timeout(180)
def test_two_processes_on_one_job_never_both_play_an_episode(tmp_path):
    store = tmp_path / "run.jsonl"
    a, b = _spawn(tmp_path, store, 0.3, 12), _spawn(tmp_path, store, 0.3, 12)
    outs = [p.communicate(timeout=150)[0] for p in (a, b)]
    assert a.returncode == b.returncode == 0, outs
    ran = [int(line.split()[1]) for out in outs for line in out.splitlines() if line.startswith("COUNTS")]
    records = TrajectoryStore(store).read()
    assert sum(ran) == 12 and len(records) == 12 and len({r.job_key for r in records}) == 12
    assert all(r.success for r in records) and not list((tmp_path / "run.jsonl.leases").iterdir())


@pytest.mark.timeout(180)
def test_a_run_killed_mid_episode_leaves_whole_records_and_resumes_without_duplicates(tmp_path):
    store = tmp_path / "run.jsonl"
    victim = _spawn(tmp_path, store, 0.4, 12)
    deadline = time.monotonic() + 120
    while (not store.exists() or store.read_bytes().count(b"\n") < 4) and time.monotonic() < deadline:
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)  # mid-episode: four others are between their two model calls
    victim.wait(timeout=30)
    lines = store.read_bytes().splitlines()
    assert 4 <= len(lines) < 12 and all(json.loads(line)["error"] is None for line in lines)
    survivor = _spawn(tmp_path, store, 0.01, 12)
    out = survivor.communicate(timeout=150)[0]
    counts = next(line for line in out.splitlines() if line.startswith("COUNTS"))
    ran, reused = (int(x) for x in counts.split()[1:])
    records = TrajectoryStore(store).read()
    assert reused == len(lines) and ran == 12 - len(lines)
    assert len(records) == 12 and len({r.job_key for r in records}) == 12 and all(r.success for r in records)


def test_a_lease_is_exclusive_and_given_back(tmp_path):
    store = TrajectoryStore(tmp_path / "run.jsonl")
    lease = store.try_lease("job")
    assert lease is not None and store.try_lease("job") is None  # another holder (a second descriptor) is refused
    lease.release()
    again = store.try_lease("job")
    assert again is not None
    again.release()
