"""The scripted OpenAI-compatible server, driven over loopback by the real `openai` client."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from agent_gym.errors import ConfigError
from agent_gym.testing.scripted_server import (
    FAULT_KINDS,
    ScriptedServer,
    ScriptedServerConfig,
    scripted_reply,
    serve_scripted,
)

ADD_TOOL = {"type": "function", "function": {
    "name": "add", "description": "Add two numbers.",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "number"},
                                                    "note": {"type": "string"}}, "required": ["a", "b"]}}}
SEARCH_TOOL = {"type": "function", "function": {"name": "search", "parameters": {
    "type": "object", "properties": {"query": {"type": "string"}}}}}


def client(server: ScriptedServer, timeout: float = 5.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=timeout)


SERVERS: dict[str, dict[str, Any]] = {
    "native": {},
    "text": {"tool_format": "text", "reasoning": True},
    "seeded": {"fault_rate": 0.5, "faults": ["500", "429"], "seed": 7},
    **{kind: {"fault_rate": 1.0, "faults": [kind], "timeout_delay": 0.6} for kind in FAULT_KINDS},
}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, ScriptedServer]]:
    """Every server of this module (real child processes), started in parallel to keep the suite fast."""
    with ExitStack() as stack, ThreadPoolExecutor(len(SERVERS)) as pool:
        started = {name: pool.submit(stack.enter_context, serve_scripted(**kw)) for name, kw in SERVERS.items()}
        yield {name: future.result() for name, future in started.items()}


@pytest.fixture
def native(servers: dict[str, ScriptedServer]) -> ScriptedServer:
    return servers["native"]


def test_native_tool_call_then_final_answer(native: ScriptedServer) -> None:
    openai_client = client(native)
    messages: list[dict] = [{"role": "user", "content": "What is 2 plus 3.5?"}]
    first = openai_client.chat.completions.create(model="m", messages=messages, tools=[ADD_TOOL, SEARCH_TOOL])
    choice = first.choices[0]
    assert first.object == "chat.completion" and first.model == "m"
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.function.name == "add"
    arguments = json.loads(call.function.arguments)
    assert arguments == {"a": 2, "b": 3.5, "note": "What is 2 plus 3.5?"} and isinstance(arguments["a"], int)
    assert first.usage.prompt_tokens == 5 and first.usage.total_tokens == 5 + first.usage.completion_tokens

    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "5.5"}]
    second = openai_client.chat.completions.create(model="m", messages=messages, tools=[ADD_TOOL])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "5.5" and not second.choices[0].message.tool_calls

    again = openai_client.chat.completions.create(model="m", messages=messages[:1], tools=[ADD_TOOL])
    assert again.choices[0].message.tool_calls[0].id != call.id  # ids are unique per response


def test_echo_models_health_stats_and_bad_request(native: ScriptedServer) -> None:
    native.reset_stats()
    reply = client(native).chat.completions.create(model="m", messages=[{"role": "user", "content": "hi there"}])
    assert reply.choices[0].message.content == "You said: hi there"
    assert reply.choices[0].message.model_extra.get("reasoning_content") is None
    assert [m.id for m in client(native).models.list()] == ["scripted"]
    assert httpx.get(f"{native.url}/health").json() == {"status": "ok"}
    with pytest.raises(openai.BadRequestError, match="messages"):
        client(native).chat.completions.create(model="m", messages="nope")  # type: ignore[arg-type]
    stats = native.stats()
    assert stats["requests"] == 2 and stats["completions"] == 1 and stats["bad_requests"] == 1
    assert stats["faults"] == dict.fromkeys(FAULT_KINDS, 0)
    native.reset_stats()
    assert native.stats()["requests"] == 0


def test_text_mode_with_reasoning(servers: dict[str, ScriptedServer]) -> None:
    openai_client = client(servers["text"])
    system = {"role": "system", "content": "You can call these tools:\n\n" + json.dumps([SEARCH_TOOL])}
    messages: list[dict] = [system, {"role": "user", "content": "find 7 cats"}]
    first = openai_client.chat.completions.create(model="m", messages=messages)  # tools only in the prompt
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "stop" and not message.tool_calls
    assert message.content == '<tool_call>{"name": "search", "arguments": {"query": "find 7 cats"}}</tool_call>'
    assert message.model_extra["reasoning_content"] == "Let me think…"

    messages += [{"role": "assistant", "content": message.content},
                 {"role": "user", "content": '<tool_response name="search">3 cats found</tool_response>'}]
    second = openai_client.chat.completions.create(model="m", messages=messages, tools=[SEARCH_TOOL])
    assert second.choices[0].message.content == "3 cats found"
    assert second.choices[0].message.model_extra["reasoning_content"] == "Let me think…"


EXPECTED_ERRORS: dict[str, type[Exception]] = {
    "429": openai.RateLimitError, "500": openai.InternalServerError, "malformed": json.JSONDecodeError,
    "timeout": openai.APITimeoutError, "disconnect": openai.APIConnectionError,
}


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_reaches_the_client_and_is_counted(kind: str, servers: dict[str, ScriptedServer]) -> None:
    server = servers[kind]
    with pytest.raises(EXPECTED_ERRORS[kind]) as error:
        client(server, timeout=0.3).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    if kind == "429":
        assert error.value.response.headers["retry-after"] == "0"  # type: ignore[attr-defined]
    stats = server.stats()
    assert stats["requests"] == 1 and stats["completions"] == 0
    assert stats["faults"] == {k: int(k == kind) for k in FAULT_KINDS}


def test_fault_injection_is_seeded_and_reproducible(servers: dict[str, ScriptedServer]) -> None:
    server = servers["seeded"]
    openai_client = client(server)

    def outcomes() -> list[str]:
        seen = []
        for _ in range(20):
            try:
                openai_client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
                seen.append("ok")
            except openai.APIStatusError as exc:
                seen.append(str(exc.status_code))
        return seen

    first = outcomes()
    stats = server.stats()
    server.reset_stats()
    assert outcomes() == first and {"ok", "500", "429"} <= set(first)
    assert stats["completions"] == first.count("ok") and stats["faults"]["500"] == first.count("500")


def test_process_is_gone_after_exit_even_on_an_exception() -> None:
    with pytest.raises(KeyError):
        with serve_scripted() as server:
            process = server.process
            assert process.poll() is None
            raise KeyError("boom")
    assert process.poll() is not None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/health", timeout=1)


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, waiting for a reaper that is not its parent any more, does not count)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_server_exits_when_its_parent_is_killed() -> None:
    code = ("import time; from agent_gym.testing.scripted_server import serve_scripted\n"
            "with serve_scripted() as server:\n    print(server.process.pid, flush=True); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2])
    try:
        assert parent.stdout is not None
        server_pid = int(parent.stdout.readline())
        assert _alive(server_pid)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 5
    while _alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(server_pid)


def test_cli_prints_ready_and_exits_when_stdin_closes() -> None:
    argv = [sys.executable, "-m", "agent_gym.testing.scripted_server", "--port", "0", "--latency", "0.01", "--exit-with-stdin"]
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2])
    try:
        assert process.stdout is not None and process.stdin is not None
        line = process.stdout.readline().decode()
        assert line.startswith("READY http://127.0.0.1:") and line.rstrip().endswith("/v1")
        assert httpx.get(line.split()[1].removesuffix("/v1") + "/health").status_code == 200
        process.stdin.close()
        assert process.wait(timeout=5) == 0
    finally:
        process.kill()
        process.wait()


def test_config_errors_say_how_to_fix() -> None:
    with pytest.raises(ConfigError, match="loopback"):
        ScriptedServerConfig(host="0.0.0.0")
    with pytest.raises(ConfigError, match="between 0.0 and 1.0"):
        ScriptedServerConfig(fault_rate=2)
    with pytest.raises(ConfigError, match="malformed"):
        with serve_scripted(faults=["404"]):
            pass
    assert "--reasoning" in ScriptedServerConfig(faults=("500",), reasoning=True).to_argv()


def test_arguments_follow_the_schema() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {
        "x": {"type": "integer"}, "y": {"type": ["number", "null"]}, "unit": {"type": "string", "enum": ["cm", "m"]},
        "z": {"type": "number"}, "flag": {"type": "boolean"}}, "required": ["z", "flag"]}}}
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "move -4 by 2.25"}]}], "tools": [tool]}
    message, finish = scripted_reply(body)
    arguments = json.loads(message["tool_calls"][0]["function"]["arguments"])
    assert finish == "tool_calls" and arguments == {"x": -4, "y": 2.25, "unit": "cm", "z": 0, "flag": False}
    # a new user turn after a tool result asks for a new tool call
    body["messages"] += [{"role": "tool", "content": "done"}, {"role": "user", "content": "again 1"}]
    assert scripted_reply(body)[0]["tool_calls"][0]["function"]["arguments"].startswith('{"x": 1')


def test_reading_the_childs_output_while_it_writes_never_garbles_it():
    """The child shares the file's offset; a reader that moved it made the child overwrite its own lines."""
    import tempfile

    from agent_gym.testing.scripted_server import _read

    script = "import sys, time\nfor i in range(400):\n    print(f'line {i:04d}', flush=True); time.sleep(0.0005)\n"
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen([sys.executable, "-c", script], stdout=output)
        while process.poll() is None:
            _read(output)
        assert process.wait() == 0
        assert _read(output).splitlines() == [f"line {i:04d}" for i in range(400)]
