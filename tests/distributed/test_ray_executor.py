"""The Ray executor on a real cluster on loopback (tests/distributed/conftest.py): the same trajectories as
in-process, a policy error stays an episode error, `evaluate`, `synthesize` and `agent-gym eval --ray`, a node removed mid-run (no loss,
no duplicate) and a driver killed mid-run then run again (no duplicate, every job present).

The node and driver tests play episodes against the scripted OpenAI-compatible server (its own process) with
a fixed latency, so a run lasts long enough to be interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from agent_gym.cli.commands import main
from agent_gym.distributed import EnvSpec, PolicySpec, RayExecutor
from agent_gym.envs.calculator import make_tasks
from agent_gym.runner import run_rollouts
from agent_gym.store import TrajectoryStore
from agent_gym.synth import synthesize
from agent_gym.testing.scripted_server import serve_scripted
from agent_gym.train.evaluation import evaluate

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
ROOT = Path(__file__).resolve().parents[2]
CALCULATOR = EnvSpec("calculator")
EXPERT = PolicySpec("agent_gym.envs.calculator:CalculatorExpert")


def comparable(trajectory):
    """A trajectory without what differs between executors: timings and the worker that played it."""
    data = trajectory.model_dump(mode="json")
    for key in ("started_at", "seconds"):
        data.pop(key)
    data["metadata"].pop("worker", None)
    for step in data["steps"]:
        step.pop("policy_seconds"), step.pop("env_seconds")
    return data


def served(base_url: str) -> PolicySpec:
    return PolicySpec("agent_gym.policies.openai:OpenAIPolicy", {"model": "scripted", "base_url": base_url})


@pytest.fixture(scope="module")
def slow_server():
    """The scripted server answering every model call after 0.4 s (an episode: 2 calls)."""
    with serve_scripted(latency=0.4) as server:
        yield server


def test_the_cluster_plays_the_same_trajectories_as_in_process(ray_cluster, tmp_path):
    tasks = make_tasks(8)
    here = run_rollouts(CALCULATOR, EXPERT, tasks, n=2, seed=11, progress=False)
    with RayExecutor(ray_cluster.address, keep_workers=True) as cluster:
        there = run_rollouts(CALCULATOR, EXPERT, tasks, n=2, seed=11, progress=False, store=tmp_path / "r.jsonl",
                             executor=cluster)
        workers = {t.metadata["worker"]["pid"] for t in there}
        again = run_rollouts(CALCULATOR, EXPERT, make_tasks(10), n=2, seed=11, progress=False,
                             store=tmp_path / "r.jsonl", executor=cluster)
        assert {t.metadata["worker"]["pid"] for t in again if "worker" in t.metadata} <= workers  # kept workers
    assert [comparable(t) for t in there] == [comparable(t) for t in here]
    assert all(t.success and t.error is None for t in there)
    assert len({t.metadata["worker"]["node"] for t in there}) == 2  # one worker on each node
    assert (again.reused, again.ran) == (16, 4)
    assert len(TrajectoryStore(tmp_path / "r.jsonl").read()) == 20


def test_a_policy_error_stays_an_episode_error(ray_cluster):
    one_reply = PolicySpec("agent_gym.policies.scripted:ScriptedPolicy", {"script": [
        '<tool_call>{"name": "calculate", "arguments": {"expression": "2 + 2"}}</tool_call>']})
    tasks = make_tasks(3)
    here = run_rollouts(CALCULATOR, one_reply, tasks, progress=False)
    there = run_rollouts(CALCULATOR, one_reply, tasks, progress=False, executor=RayExecutor(ray_cluster.address))
    assert [t.error.kind for t in there] == ["PolicyError"] * 3
    assert [comparable(t) for t in there] == [comparable(t) for t in here]
    assert there.ran == 3 and "3 with errors" in there.report()


def test_evaluate_and_synthesize_run_on_the_cluster(ray_cluster, tmp_path):
    tasks = make_tasks(6)
    with RayExecutor(ray_cluster.address, keep_workers=True) as cluster:
        result = synthesize(CALCULATOR, EXPERT, tasks, out=tmp_path / "data", formats=("openai",), progress=False,
                            executor=cluster)
        scored = evaluate(CALCULATOR, EXPERT, tasks, batch_size=8, progress=False, executor=cluster)
    assert len(result.kept) == 6 and len((tmp_path / "data" / "openai.jsonl").read_text().splitlines()) == 6
    assert scored.summary["success_rate"] == 1.0 and scored.label == "calculator-expert"
    assert {t.metadata["worker"]["pid"] for t in scored.trajectories} <= {
        t.metadata["worker"]["pid"] for t in result.seen}  # the same kept workers played both


def test_agent_gym_eval_runs_on_the_cluster(ray_cluster, tmp_path, capsys):
    out = tmp_path / "eval.jsonl"
    code = main(["eval", "calculator", "--policy", "agent_gym.envs.calculator:CalculatorExpert", "--limit", "6",
                 "--ray", ray_cluster.address, "--out", str(out), "--json", "--min-success", "1"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["episodes"] == 6 and summary["run_ran"] == 6 and summary["success_rate"] == 1.0
    assert {t.metadata["worker"]["pid"] for t in TrajectoryStore(out).read()}


def test_a_node_removed_mid_run_loses_nothing_and_duplicates_nothing(ray_cluster, slow_server, tmp_path):
    store, tasks = tmp_path / "n.jsonl", make_tasks(24)
    victim = ray_cluster.worker_nodes()[0]
    removed = threading.Event()

    def remove_when_running() -> None:
        while len(TrajectoryStore(store)) < 4:
            time.sleep(0.05)
        ray_cluster.cluster.remove_node(victim)
        removed.set()

    remover = threading.Thread(target=remove_when_running, daemon=True)
    remover.start()
    try:
        run = run_rollouts(CALCULATOR, served(slow_server.base_url), tasks, max_concurrency=6, store=store,
                           progress=False, executor=RayExecutor(ray_cluster.address))
        remover.join(30)
        assert removed.is_set(), "the run ended before the node was removed"
        records = TrajectoryStore(store).read()
        assert len(run) == 24 and all(t.error is None for t in run), run.report()
        assert sorted(Counter(t.job_key for t in records).values()) == [1] * 24  # each job stored once
        nodes = Counter(t.metadata["worker"]["node"] for t in records)
        assert nodes[victim.node_id] >= 1 and len(nodes) == 2, nodes  # some before, the rest on the survivor
    finally:
        remover.join(30)
        ray_cluster.restore()


DRIVER = """
import sys
from agent_gym.distributed import EnvSpec, PolicySpec, RayExecutor
from agent_gym.envs.calculator import make_tasks
from agent_gym.runner import run_rollouts
address, base_url, store = sys.argv[1:]
policy = PolicySpec("agent_gym.policies.openai:OpenAIPolicy", {"model": "scripted", "base_url": base_url})
run = run_rollouts(EnvSpec("calculator"), policy, make_tasks(24), max_concurrency=4, store=store, progress=False,
                   executor=RayExecutor(address))
print(run.report())
"""


def test_a_driver_killed_mid_run_resumes_without_duplicates(ray_cluster, slow_server, tmp_path):
    store = tmp_path / "d.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, ray_cluster.address, slow_server.base_url, str(store)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while len(TrajectoryStore(store)) < 6 and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert driver.poll() is None, driver.communicate()[1][-3000:]
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.kill()
        driver.wait()
    before = len(TrajectoryStore(store).read())
    assert 6 <= before < 24
    run = run_rollouts(CALCULATOR, served(slow_server.base_url), make_tasks(24), max_concurrency=8, store=store,
                       progress=False, executor=RayExecutor(ray_cluster.address))
    records = TrajectoryStore(store).read()
    assert (run.reused, run.ran, len(run)) == (before, 24 - before, 24)
    assert sorted(Counter(t.job_key for t in records).values()) == [1] * 24
    assert all(t.error is None for t in records)


def test_without_retries_a_lost_node_leaves_worker_lost_errors_that_a_rerun_plays(ray_cluster, slow_server, tmp_path):
    store, tasks = tmp_path / "w.jsonl", make_tasks(16)
    victim = ray_cluster.worker_nodes()[0]

    def remove_when_running() -> None:
        while len(TrajectoryStore(store)) < 2:
            time.sleep(0.05)
        ray_cluster.cluster.remove_node(victim)

    remover = threading.Thread(target=remove_when_running, daemon=True)
    remover.start()
    try:
        run = run_rollouts(CALCULATOR, served(slow_server.base_url), tasks, max_concurrency=8, store=store,
                           progress=False, executor=RayExecutor(ray_cluster.address, max_task_retries=0))
        remover.join(30)
        lost = [t for t in run if t.error is not None]
        assert len(run) == 16 and lost and {t.error.kind for t in lost} == {"WorkerLost"}, run.report()
        assert "a re-run retries it" in lost[0].error.message
        again = run_rollouts(CALCULATOR, served(slow_server.base_url), tasks, max_concurrency=8, store=store,
                             progress=False, executor=RayExecutor(ray_cluster.address))
        assert (again.reused, again.retried) == (16 - len(lost), len(lost)) and all(t.error is None for t in again)
        assert sorted(Counter(t.job_key for t in TrajectoryStore(store).latest()).values()) == [1] * 16
    finally:
        remover.join(30)
        ray_cluster.restore()
