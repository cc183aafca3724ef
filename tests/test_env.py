import pytest

from agent_gym import ConfigError, Message, Task, TimeLimit, ToolCall, ToolEnv, assistant
from agent_gym.errors import EnvError
from agent_gym.testing.toys import add, correct

TASK = Task(id="1", prompt="2+3?", answer="5")


async def test_tool_env_runs_tools_then_scores_the_answer():
    env = ToolEnv(tools=[add], reward=correct, system_prompt="sys")
    opening = await env.reset(TASK)
    assert [m.role for m in opening] == ["system", "user"]
    result = await env.step(assistant(tool_calls=(ToolCall(name="add", arguments={"a": 2, "b": 3}, id="c1"),)))
    assert result.observation == (Message(role="tool", content="5", name="add", tool_call_id="c1"),)
    assert not result.terminated and result.reward == 0
    final = await env.step(assistant("5"))
    assert final.terminated and final.reward == 1.0 and final.success is True
    assert final.components == {"correct": 1.0}


async def test_unknown_tool_and_parse_errors_are_answered_not_raised():
    env = ToolEnv(tools=[add], reward=correct)
    await env.reset(TASK)
    result = await env.step(assistant(tool_calls=(ToolCall(name="mul", arguments={}, id="c"),)))
    assert "unknown tool 'mul'" in result.observation[0].content and result.info["tool_errors"] == 1
    broken = Message(role="assistant", content="<tool_call>{", error="Your tool call is not valid JSON")
    result = await env.step(broken)
    assert result.observation[0].role == "user" and "not valid JSON" in result.observation[0].content
    assert not result.terminated


async def test_step_before_reset_and_duplicate_tools_are_clear_errors():
    with pytest.raises(EnvError, match="before reset"):
        await ToolEnv(tools=[add]).step(assistant("x"))
    with pytest.raises(ConfigError, match="share the name"):
        ToolEnv(tools=[add, add])


async def test_time_limit_truncates_after_max_turns():
    env = TimeLimit(ToolEnv(tools=[add]), max_turns=2)
    await env.reset(TASK)
    call = assistant(tool_calls=(ToolCall(name="add", arguments={"a": 1, "b": 1}, id="c"),))
    assert not (await env.step(call)).truncated
    second = await env.step(call)
    assert second.truncated and not second.terminated
    assert env.config()["max_turns"] == 2 and env.name == "tool_env"
    with pytest.raises(ConfigError):
        TimeLimit(ToolEnv(), 0)


async def test_clone_gives_independent_episode_state():
    env = ToolEnv(tools=[add], reward=correct)
    a, b = env.clone(), env.clone()
    await a.reset(TASK)
    await b.reset(Task(id="2", prompt="other"))
    assert a.task.id == "1" and b.task.id == "2" and env.task is None
