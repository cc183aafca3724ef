"""OpenEnv both ways, against real server processes on loopback: a built-in environment (TextCraft) served
by `agent_gym.interop.openenv_server`, played through OpenEnv's own client and through `OpenEnvEnv`, must
give the in-process trajectories; a foreign OpenEnv environment (tests/interop/guess_server.py) is played
through `OpenEnvEnv` as a one-tool environment."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("openenv")

from agent_gym.envs.games.textcraft.env import TextCraftEnv, TextCraftExpert  # noqa: E402
from agent_gym.errors import ConfigError  # noqa: E402
from agent_gym.interop.openenv_client import OpenEnvEnv  # noqa: E402
from agent_gym.interop.openenv_server import openenv_server_process  # noqa: E402
from agent_gym.policies import ScriptedPolicy  # noqa: E402
from agent_gym.runner import run_rollouts  # noqa: E402
from agent_gym.types import Message, Task, ToolCall, assistant  # noqa: E402

TASKS = TextCraftEnv().default_tasks()[::10]  # one task of each depth, 1 to 4


@pytest.fixture(scope="module")
def textcraft_url() -> Iterator[str]:
    with openenv_server_process("textcraft", max_concurrent_envs=8) as url:
        yield url


@pytest.fixture(scope="module")
def local_runs():
    return run_rollouts(TextCraftEnv(), TextCraftExpert(), TASKS, seed=7, progress=False)


def _same(local, remote) -> None:
    assert remote.error is None, remote.error
    assert remote.messages == local.messages
    assert remote.reward == local.reward and remote.success == local.success
    assert [(s.reward, s.terminated, s.truncated) for s in remote.steps] == \
        [(s.reward, s.terminated, s.truncated) for s in local.steps]
    assert remote.terminated == local.terminated and remote.truncated == local.truncated


def test_wrapper_plays_the_served_environment_like_in_process(textcraft_url, local_runs) -> None:
    env = OpenEnvEnv(textcraft_url)
    assert env.name == "textcraft" and env.max_turns == TextCraftEnv.max_turns
    assert env.tool_schemas() == TextCraftEnv().tool_schemas()
    assert [t.id for t in env.default_tasks()] == [t.id for t in TextCraftEnv().default_tasks()]
    remote = run_rollouts(env, TextCraftExpert(), TASKS, seed=7, max_concurrency=4, progress=False)
    assert all(t.reward > 0 and t.success for t in local_runs)
    for local, theirs in zip(local_runs, remote, strict=True):
        _same(local, theirs)
    short_local = run_rollouts(TextCraftEnv(), TextCraftExpert(), TASKS[3:], max_turns=3, progress=False)
    short_remote = run_rollouts(env, TextCraftExpert(), TASKS[3:], max_turns=3, progress=False)
    assert short_local[0].truncated and not short_local[0].success
    _same(short_local[0], short_remote[0])


def test_openenv_generic_client_plays_it(textcraft_url, local_runs) -> None:
    from openenv.core.generic_client import GenericEnvClient

    async def play(task_id: str) -> tuple[list[Message], float, bool]:
        async with GenericEnvClient(base_url=textcraft_url) as client:
            result = await client.reset(task_id=task_id)
            messages = [Message.model_validate(m) for m in result.observation["messages"]]
            total, tools = 0.0, TextCraftEnv().tool_schemas()
            while not result.done:
                action = (await TextCraftExpert().act(messages, tools)).message
                call = action.tool_calls[0]  # sent in OpenAI's shape, arguments as a JSON string
                step = {"content": action.content, "tool_calls": [{"id": call.id, "type": "function", "function": {
                    "name": call.name, "arguments": json.dumps(call.arguments)}}]}
                result = await client.step(step)
                messages += [action, *(Message.model_validate(m) for m in result.observation["messages"])]
                total += result.reward or 0.0
            state = await client.state()
            assert state["task_id"] == task_id and state["step_count"] == sum(m.role == "assistant" for m in messages)
            return messages, total, result.observation["success"]

    async def both() -> list[tuple[list[Message], float, bool]]:
        return list(await asyncio.gather(play(TASKS[1].id), play(TASKS[2].id)))  # two sessions at once

    for local, (messages, total, success) in zip(local_runs[1:3], asyncio.run(both()), strict=True):
        assert tuple(messages) == local.messages and total == local.reward and success

    async def bad_reset() -> None:
        async with GenericEnvClient(base_url=textcraft_url) as client:
            await client.reset(task_id="no-such-task")

    with pytest.raises(RuntimeError, match="Unknown task_id 'no-such-task'"):
        asyncio.run(bad_reset())


@pytest.fixture(scope="module")
def guess_url() -> Iterator[str]:
    script = Path(__file__).with_name("guess_server.py")
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("READY "), line
        yield line.split()[1]
    finally:
        process.terminate()
        process.wait(10)


def _bisect(messages, tools) -> Message:
    lo, hi = 1, 10
    for m in messages:
        if m.role == "tool" and not m.is_error:
            last = int(messages[messages.index(m) - 1].tool_calls[0].arguments["guess"])
            if '"higher"' in m.content:
                lo = last + 1
            elif '"lower"' in m.content:
                hi = last - 1
    if sum(m.role == "assistant" for m in messages) == 0:
        return assistant(tool_calls=(ToolCall(name="step", arguments={"guess": 11}, id="c0"),))  # out of range
    guess = (lo + hi) // 2
    return assistant(tool_calls=(ToolCall(name="step", arguments={"guess": guess}, id=f"c{guess}"),))


def test_wrapper_plays_a_foreign_openenv_environment(guess_url) -> None:
    env = OpenEnvEnv(guess_url, system_prompt="Find the number.")
    (schema,) = env.tool_schemas()
    assert schema["function"]["name"] == "step"
    assert schema["function"]["parameters"]["properties"]["guess"]["maximum"] == 10
    tasks = [Task(id=f"guess-{s}", prompt="", metadata={"seed": s}) for s in (1, 2, 3)]
    runs = run_rollouts(env, ScriptedPolicy(_bisect), tasks, max_concurrency=3, progress=False)
    for run in runs:
        assert run.error is None, run.error
        assert run.reward == 1.0 and run.terminated, run.messages
        assert run.messages[0].role == "system" and "Guess a number" in run.messages[1].content
        first_reply = run.messages[3]
        assert first_reply.is_error and "Server error" in first_reply.content  # rejected by the server's schema
        assert '"Correct!"' in run.messages[-1].content
    with pytest.raises(ConfigError, match="No OpenEnv server answers"):
        OpenEnvEnv("http://127.0.0.1:9")
