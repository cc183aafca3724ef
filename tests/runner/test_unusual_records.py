"""Records that JSON finds awkward: lone surrogates in model or tool text, values JSON cannot hold.
The store writes any string losslessly; one episode's record never ends the run."""

from __future__ import annotations

import json
import warnings

import pytest

from agent_gym import (
    ConfigError,
    Environment,
    ScriptedPolicy,
    StepResult,
    Task,
    ToolEnv,
    TrajectoryStore,
    assistant,
    run_rollouts,
    user,
)
from agent_gym.testing.toys import add, correct
from agent_gym.types import Trajectory

SURROGATE = "bad byte \udcff and a high half \ud800 alone"
TASKS = [Task(id=str(i), prompt="2+3?", answer="5") for i in range(6)]


def surrogate_tool(text: str) -> str:
    """Echo text, as a tool that decodes a program's output with `surrogateescape` would.

    Args:
        text: anything.
    """
    return f"{text} {SURROGATE}"


def test_a_lone_surrogate_anywhere_in_a_run_is_stored_and_read_back_identical(tmp_path):
    env = ToolEnv(tools=[add, surrogate_tool], reward=correct, name="surrogates")
    call = '<tool_call>{"name": "surrogate_tool", "arguments": {"text": "x\\udcff"}}</tool_call>'
    policy = ScriptedPolicy(lambda messages, tools: call if len(messages) < 3 else f"5 {SURROGATE}")
    path = tmp_path / "runs.jsonl"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no line is skipped on the way back
        result = run_rollouts(env, policy, TASKS, store=path, progress=False)
        assert [t.error for t in result] == [None] * 6
        back = TrajectoryStore(path).read()
    assert len(back) == 6 and back == list(result)
    assert back[0].messages[-1].content == f"5 {SURROGATE}"
    assert "x\udcff" in back[0].messages[2].content and SURROGATE in back[0].messages[2].content
    for line in path.read_bytes().splitlines():  # valid UTF-8, the surrogates escaped
        assert "\\udcff" in line.decode("utf-8")
    assert TrajectoryStore(path).summaries()[0]["final_answer"] == f"5 {SURROGATE}"
    again = run_rollouts(env, policy, TASKS, store=path, progress=False)
    assert again.counts["reused"] == 6 and again.counts["ran"] == 0


def test_a_surrogate_escape_from_a_server_round_trips():
    message = assistant(json.loads('"from a server: \\udcff"'))
    t = Trajectory(id="x", task_id="t", env="e", policy="p", messages=(message,))
    assert Trajectory.from_json(t.to_json()) == t
    assert Trajectory.from_json(t.to_json().encode()) == t


def test_deeply_nested_values_written_by_json_read_back():
    nested: object = "leaf"
    for _ in range(400):  # deeper than pydantic's JSON parser goes
        nested = [nested]
    line = json.dumps({"id": "x", "task_id": "t", "env": "e", "policy": "p", "metadata": {"deep": nested}})
    assert Trajectory.from_json(line).metadata["deep"] == nested


class Opaque:
    def __repr__(self) -> str:
        return "Opaque()"


class OpaqueInfoEnv(Environment):
    """Puts an object JSON cannot hold in one task's step info (a careless custom environment)."""

    name = "opaque"

    async def reset(self, task):
        self.task = task
        return [user(task.prompt)]

    async def step(self, action):
        info = {"handle": Opaque()} if self.task.id == "2" else {}
        return StepResult(reward=1.0, terminated=True, success=True, info=info)


def test_a_record_json_cannot_hold_is_stored_as_an_error_and_the_run_goes_on(tmp_path):
    path = tmp_path / "runs.jsonl"
    result = run_rollouts(OpaqueInfoEnv(), ScriptedPolicy(["5"]), TASKS[:4], store=path, progress=False)
    stored = TrajectoryStore(path).read()
    assert len(result) == len(stored) == 4 and list(result) == stored
    failed = [t for t in stored if t.error is not None]
    assert [t.task_id for t in failed] == ["2"] and failed[0].error.kind == "UnstorableRecord"
    assert "Opaque" in failed[0].error.message and failed[0].success is None
    assert failed[0].steps[0].info["handle"] == "<Opaque: Opaque()>"
    assert [t.success for t in stored if t.error is None] == [True, True, True]
    again = run_rollouts(OpaqueInfoEnv(), ScriptedPolicy(["5"]), TASKS[:4], store=path, progress=False)
    assert again.counts == {**again.counts, "reused": 3, "retried": 1}  # a failed record is retried


def test_task_metadata_json_cannot_hold_is_refused_before_the_run_with_the_task_named():
    task = Task(id="odd", prompt="2+3?", metadata={"handle": Opaque()})
    with pytest.raises(ConfigError, match=r"Task 'odd'.*metadata.*Opaque"):
        run_rollouts(OpaqueInfoEnv(), ScriptedPolicy(["5"]), [task], progress=False)
