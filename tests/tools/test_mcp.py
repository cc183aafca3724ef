"""MCP tools against a real MCP server (agent_gym.testing.mcp_demo_server, written with the SDK), run as
a child process on loopback: over stdio (the environment starts and stops it) and streamable HTTP."""

from __future__ import annotations

import asyncio
import os
import pickle
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from agent_gym.env import ToolEnv  # noqa: E402
from agent_gym.errors import ConfigError, ToolError  # noqa: E402
from agent_gym.policies import ScriptedPolicy  # noqa: E402
from agent_gym.rewards import exact_match  # noqa: E402
from agent_gym.runner import run_rollouts  # noqa: E402
from agent_gym.testing.mcp_demo_server import demo_command, serve_demo_http  # noqa: E402
from agent_gym.tools.cassette import Cassette  # noqa: E402
from agent_gym.tools.mcp import MCPServer, MCPTool  # noqa: E402
from agent_gym.types import Task, ToolCall, assistant  # noqa: E402

TASK = Task(id="t1", prompt="What is 2 + 3, and where is order W1001?", answer="5")


def _children() -> set[int]:
    """This process's live (not zombie) descendants, read from /proc."""
    found, todo = set(), [os.getpid()]
    while todo:
        for listing in Path(f"/proc/{todo.pop()}/task").glob("*/children"):
            for pid in map(int, listing.read_text().split()):
                stat = Path(f"/proc/{pid}/stat")
                if stat.exists() and stat.read_text().rsplit(")", 1)[-1].split()[0] != "Z":
                    found.add(pid)
                    todo.append(pid)
    return found


def _script() -> ScriptedPolicy:
    calls = (ToolCall(name="add", arguments={"a": 2, "b": 3}, id="c1"),
             ToolCall(name="lookup_order", arguments={"order_id": "W9"}, id="c2"),
             ToolCall(name="greet", arguments={"name": "Ada"}, id="c3"),
             ToolCall(name="crash", arguments={}, id="c4"),
             ToolCall(name="add", arguments={"a": "two"}, id="c5"))
    return ScriptedPolicy([assistant(tool_calls=calls), assistant("5")])


def _check_episode(trajectory) -> None:
    assert trajectory.error is None, trajectory.error
    tools = [m for m in trajectory.messages if m.role == "tool"]
    assert [m.content for m in tools[:3]] == ["5.0", "Error executing tool lookup_order: Order W9 not found",
                                              "Hello, Ada!"]
    assert [m.is_error for m in tools] == [False, True, False, True, True]
    assert tools[3].content == "Error executing tool crash"  # the server hides the details
    assert "validation error" in tools[4].content and tools[4].name == "add"
    assert trajectory.reward == 1.0 and trajectory.steps[0].info["tool_errors"] == 3


def test_stdio_server_gives_typed_tools_and_stops_with_the_environment() -> None:
    before = _children()
    env = ToolEnv(mcp_servers=[MCPServer(demo_command())], reward=exact_match, name="mcp_demo")
    started = _children() - before
    assert len(started) == 1, "the environment started one server process"
    by_name = {t.name: t for t in env.tools}
    assert sorted(by_name) == ["add", "crash", "greet", "lookup_order"]
    assert all(isinstance(t, MCPTool) for t in env.tools)
    greet = by_name["greet"].schema()["function"]
    assert greet["description"].startswith("Greet someone by name.")
    assert greet["parameters"]["properties"]["punctuation"] == {"default": "!", "title": "Punctuation", "type": "string"}
    assert greet["parameters"]["required"] == ["name"]
    assert by_name["add"](a=1, b=2) == "3.0"  # a tool stays callable from plain code
    with pytest.raises(ToolError, match="Order X not found"):
        by_name["lookup_order"](order_id="X")

    result = run_rollouts(env, _script(), [TASK] * 1, n=3, max_concurrency=3, progress=False)
    for trajectory in result:
        _check_episode(trajectory)
    (failed,) = run_rollouts(env, ScriptedPolicy([]), [TASK], progress=False)  # the policy raises at once
    assert failed.error is not None and failed.error.kind == "PolicyError"
    assert _children() - before == started, "episodes (clones) share the server and do not stop it"
    asyncio.run(env.close())
    assert not _children() & started, "close() stopped the server process"


def test_server_is_stopped_after_an_exception_and_a_bad_command_explains() -> None:
    before = _children()
    with pytest.raises(RuntimeError, match="user code failed"):
        with MCPServer(demo_command(), prefix="demo_") as server:
            assert [t.name for t in server.tools()][:1] == ["demo_add"]
            assert len(_children() - before) == 1
            twin = pickle.loads(pickle.dumps(server))  # as sent to a worker: settings only, started on use
            assert not twin.running
            assert asyncio.run(twin.call("add", {"a": 1, "b": 2})).content == "3.0"  # starts its own child
            assert len(_children() - before) == 2
            twin.stop()
            raise RuntimeError("user code failed")
    assert not (_children() - before) and not server.running
    with pytest.raises(ConfigError, match="prefix"):  # a duplicate name stops the servers it started
        ToolEnv(mcp_servers=[MCPServer(demo_command()), MCPServer(demo_command())])
    assert not (_children() - before)
    failing = MCPServer([*demo_command()[:1], "-c", "import sys; sys.stderr.write('no such module foo'); sys.exit(3)"],
                        timeout=20)
    with pytest.raises(ToolError, match="no such module foo"):
        failing.start()
    assert not (_children() - before)


def test_streamable_http_server_and_cassette_replay(tmp_path) -> None:
    path = tmp_path / "mcp.cassette.jsonl"
    with serve_demo_http() as (url, process):
        server = MCPServer(url=url)
        recorder = Cassette(path, mode="record")
        env = recorder.attach(ToolEnv(mcp_servers=[server], reward=exact_match))
        (recorded,) = run_rollouts(env, _script(), [TASK], progress=False)
        _check_episode(recorded)
        asyncio.run(env.close())
        assert process.poll() is None, "an HTTP server is not the environment's to stop"
        assert recorder.report()["TOTAL"]["recorded"] == 5
        greet = recorder.lookup("greet", {"name": "Ada", "punctuation": "!"})
        assert greet is not None and greet.content == "Hello, Ada!"  # keyed with the schema's default filled in

        replay = Cassette(path, mode="replay")
        env = replay.attach(ToolEnv(mcp_servers=[MCPServer(url=url)], reward=exact_match))
        process.terminate()  # the tools were listed; replay must not need the server any more
        process.wait(10)
        (replayed,) = run_rollouts(env, _script(), [TASK], progress=False)
        assert replayed.messages == recorded.messages and replayed.reward == recorded.reward
        assert replay.report()["TOTAL"]["hits"] == 5
        env.tools[0]  # noqa: B018 - still listed
        (broken,) = run_rollouts(ToolEnv(tools=[t.inner for t in env.tools]), _script(), [TASK], progress=False)
        assert broken.error is not None and "MCP server" in broken.error.message  # a dead server: a recorded error
        asyncio.run(env.close())
