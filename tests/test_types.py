import json

import pytest
from pydantic import ValidationError

from agent_gym import Message, Step, Task, ToolCall, Trajectory, assistant, user
from agent_gym.types import SCHEMA_VERSION, ErrorInfo, Usage


def full_trajectory() -> Trajectory:
    call = ToolCall(name="add", arguments={"a": 1, "b": [2, {"c": None}]}, id="call_0")
    messages = (
        Message(role="system", content="sys"),
        user("What is 1 + 2? ünïcode ✓"),
        assistant(tool_calls=(call,), reasoning="think\nhard"),
        Message(role="tool", content="3", name="add", tool_call_id="call_0"),
        assistant("3"),
    )
    steps = (
        Step(action_index=2, observation_count=1, usage=Usage(prompt_tokens=5, completion_tokens=7, calls=1), info={"tool_calls": 1}),
        Step(action_index=4, observation_count=0, reward=1.1, components={"correct": 1.0}, terminated=True, policy_seconds=0.1),
    )
    return Trajectory(
        id="t1", task_id="1", env="calc", policy="openai", model="m", sample_index=3, job_key="k",
        sampling={"temperature": 0.7}, messages=messages, steps=steps, reward=1.1 + 1e-17,
        reward_components={"correct": 1.0}, success=True, terminated=True, metrics={"tool_calls": 1.0},
        usage=Usage(prompt_tokens=5, completion_tokens=7, calls=2), started_at=1700000000.123456789, seconds=0.3333333333333333,
        error=ErrorInfo(kind="PolicyError", message="boom", traceback="tb"), metadata={"x": [1, 2]},
    )


def test_trajectory_json_round_trip_is_exact():
    t = full_trajectory()
    text = t.to_json()
    again = Trajectory.from_json(text)
    assert again == t
    assert again.to_json() == text
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION
    assert again.num_turns == 2 and again.final_answer == "3"


def test_records_are_frozen_and_reject_unknown_fields():
    task = Task(id="1", prompt="p")
    with pytest.raises(ValidationError):
        task.prompt = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Task.model_validate({"id": "1", "prompt": "p", "typo": 1})


def test_message_to_openai_shapes_tool_calls_and_tool_replies():
    call = ToolCall(name="add", arguments={"a": 1}, id="c1")
    out = assistant(tool_calls=(call,)).to_openai()
    assert out["tool_calls"][0] == {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}
    reply = Message(role="tool", content="2", name="add", tool_call_id="c1").to_openai()
    assert reply == {"role": "tool", "content": "2", "tool_call_id": "c1", "name": "add"}


def test_usage_adds():
    total = Usage(prompt_tokens=1, completion_tokens=2, calls=1) + Usage(prompt_tokens=3, completion_tokens=4, calls=1)
    assert (total.prompt_tokens, total.completion_tokens, total.calls, total.total_tokens) == (4, 6, 2, 10)
