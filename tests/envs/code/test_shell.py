"""ShellEnv on the real sandbox: the shipped tasks, the expert, checkers, and what a model may emit."""

import pytest

from agent_gym import Message, ScriptedPolicy, Task, ToolCall, assistant, run_rollouts
from agent_gym.envs.code.shell import ShellEnv, ShellExpert, normalize_answer, validate_task
from agent_gym.errors import TaskError


def shell(command):
    return assistant(tool_calls=(ToolCall(name="execute_shell", arguments={"command": command}, id="c"),))


@pytest.fixture(scope="module")
def tasks():
    return ShellEnv().default_tasks()


def test_ships_at_least_30_valid_tasks_across_categories(tasks):
    assert len(tasks) >= 30
    for task in tasks:
        validate_task(task)
    categories = {t.metadata["category"] for t in tasks}
    assert categories == {"find", "text", "archive", "permissions", "script"}


def test_the_expert_solves_the_tasks_through_the_real_sandbox(tasks):
    trajectories = run_rollouts(ShellEnv(), ShellExpert(tasks), tasks, max_concurrency=2, progress=False)
    assert not [t.error for t in trajectories if t.error]
    solved = sum(bool(t.success) for t in trajectories)
    assert solved / len(tasks) >= 0.95, [t.task_id for t in trajectories if not t.success]
    assert all(t.metrics["tool_calls"] >= 1 for t in trajectories)


def test_doing_nothing_solves_nothing(tasks):
    trajectories = run_rollouts(ShellEnv(), ScriptedPolicy(["done"]), tasks, max_concurrency=2, progress=False)
    assert not any(t.success for t in trajectories) and not any(t.error for t in trajectories)


async def test_episode_state_checks_and_cleanup():
    env = ShellEnv()
    task = next(t for t in env.default_tasks() if t.id == "shell-perm-01")
    await env.reset(task)
    box_dir = env.sandbox.path.parent
    escape = await env.step(shell("cat /work/main/README.md; id -u"))
    assert "No such file or directory" in escape.observation[0].content and not escape.terminated
    bad = await env.step(assistant(tool_calls=(ToolCall(name="execute_shell", arguments={"cmd": "ls"}),)))
    assert "invalid arguments for execute_shell" in bad.observation[0].content
    await env.step(shell("chmod 700 run.sh"))
    final = await env.step(assistant("done"))
    assert final.terminated and final.success is False and final.components == {"correct": 0.0, "format": 1.0}
    assert final.info["checks"][0]["detail"] == "mode of run.sh is 700, want 755"
    await env.close()
    assert env.sandbox is None and not box_dir.exists()


async def test_clones_are_independent_episodes():
    env = ShellEnv()
    task = Task(id="t", prompt="Make a.txt", metadata={"checks": [{"type": "exists", "path": "a.txt"}]})
    one, two = env.clone(), env.clone()
    await one.reset(task)
    await two.reset(task)
    await one.step(shell("touch a.txt"))
    assert (await one.step(assistant("done"))).success is True
    assert (await two.step(assistant("done"))).success is False
    assert one.sandbox.path != two.sandbox.path
    await one.close()
    await two.close()


def test_whatever_a_model_emits_the_episode_ends_cleanly(tasks):
    replies = [
        '<tool_call>{"name": "execute_shell", "arguments": {"command": "yes | head -c 100000000"}}</tool_call>',
        '<tool_call>{"name": "execute_shell", "arguments": {"command": ":(){ :|:& };:"}}</tool_call>',
        "<tool_call>{not json</tool_call>",
        '<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call>',
        "I give up \\boxed{42}",
    ]
    trajectories = run_rollouts(ShellEnv(), ScriptedPolicy(replies), tasks[:2], progress=False, max_turns=10)
    for trajectory in trajectories:
        assert trajectory.error is None and trajectory.terminated and trajectory.success is False
        assert len(trajectory.messages[3].content) < 40_000  # the huge output came back truncated


def test_answer_normalization_and_task_validation():
    assert normalize_answer(" `./docs/a.txt`. ") == "docs/a.txt"
    assert normalize_answer("The answer is \\boxed{7}") == "7"
    with pytest.raises(TaskError, match="needs metadata.checks"):
        validate_task(Task(id="x", prompt="p"))
    with pytest.raises(TaskError, match="no valid type"):
        validate_task(Task(id="x", prompt="p", metadata={"checks": [{"type": "vibes"}]}))
    with pytest.raises(TaskError, match="no answer"):
        validate_task(Task(id="x", prompt="p", metadata={"checks": [{"type": "answer"}]}))


def test_tool_schema_is_derived_from_the_method():
    schema = ShellEnv().tool_schemas()[0]["function"]
    assert schema["name"] == "execute_shell" and schema["parameters"]["required"] == ["command"]
    assert isinstance(Message(role="tool", content="x"), Message)


async def test_wrapped_env_clones_get_their_own_sandbox():
    from agent_gym import TimeLimit

    env = ShellEnv()
    task = env.default_tasks()[0]
    await env.reset(task)
    wrapped = TimeLimit(env, max_turns=2).clone()
    await wrapped.reset(task)
    assert wrapped.env.sandbox is not None and wrapped.env.sandbox.path != env.sandbox.path
    await wrapped.close()
    await env.close()
