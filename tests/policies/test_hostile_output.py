"""The malformed-output corpus: whatever a model writes becomes a tool call, a final answer or a
model-visible error, in both tool formats, and is never retried as if the server had failed.
The server is a real HTTP server on loopback that answers every request with one canned reply."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agent_gym import OpenAIPolicy, Task, ToolEnv, TrajectoryStore, run_rollouts, user
from agent_gym.formats import MAX_JSON_DEPTH, parse_assistant_text
from agent_gym.testing.toys import add, correct

ADD = {"type": "function", "function": {"name": "add", "description": "Add.", "parameters": {
    "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}}}
DEEP = "[" * 5000 + "]" * 5000
# Arguments (as the model wrote them) that JSON parsers choke on in different ways.
HOSTILE_ARGUMENTS = {
    "5000-digit integer": '{"a": ' + "9" * 5000 + ', "b": 1}',
    "5000 levels of nesting": '{"a": ' + DEEP + "}",
    "just past the depth limit": '{"a": ' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "}",
    "NaN": '{"a": NaN, "b": 1}',
    "Infinity": '{"a": -Infinity, "b": 1}',
    "truncated": '{"a": 1, "b": ',
    "not an object": "[1, 2]",
    "a bare string": '"add"',
    "null byte": '{"a": 1\x00}',
    "double-encoded deep": json.dumps(DEEP),
}
# Whole replies of a text-format model.
HOSTILE_TEXT = {
    **{f"call with {k}": f'<tool_call>{{"name": "add", "arguments": {v}}}</tool_call>'
       for k, v in HOSTILE_ARGUMENTS.items()},
    "deep call": f"<tool_call>{DEEP}</tool_call>",
    "unclosed thinks": "<think>" * 50_000,
    "unclosed calls": "<tool_call>" * 50_000,
    "attribute-less think tags": "<think " * 50_000,
    "stray closers": "</tool_call></think>" * 20_000,
    "a lone surrogate": "the answer is \udcff",
}


def test_the_corpus_parses_quickly_into_messages_or_model_visible_errors():
    for name, text in HOSTILE_TEXT.items():
        start = time.process_time()
        message = parse_assistant_text(text, tool_names=["add"])
        assert time.process_time() - start < 2.0, f"{name}: parsing took {time.process_time() - start:.1f} s of CPU"
        if name.startswith("call with") or name == "deep call" or name.startswith("unclosed"):
            assert message.error and message.tool_calls == (), name
            assert message.content == text  # nothing the model wrote is lost


class CannedServer:
    """An OpenAI-compatible endpoint on loopback that answers every chat completion with `reply`."""

    def __init__(self) -> None:
        self.reply: dict[str, Any] = {}
        self.requests = 0
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers["Content-Length"]))
                canned.requests += 1
                body = json.dumps({"id": "x", "object": "chat.completion", "model": "canned",
                                   "choices": [{"index": 0, "message": canned.reply, "finish_reason": "stop"}],
                                   "usage": {"prompt_tokens": 3, "completion_tokens": 4}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def canned() -> Iterator[CannedServer]:
    server = CannedServer()
    yield server
    server.server.shutdown()


@pytest.mark.parametrize("name", sorted(HOSTILE_ARGUMENTS))
async def test_hostile_native_arguments_reach_the_model_as_an_error_after_one_request(canned, name):
    canned.reply = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": HOSTILE_ARGUMENTS[name]}}]}
    canned.requests = 0
    policy = OpenAIPolicy(model="canned", base_url=canned.base_url, api_key="x", max_retries=5)
    try:
        out = await policy.act([user("1+1?")], [ADD])
    finally:
        await policy.aclose()
    assert canned.requests == 1, f"{name}: what the model wrote was retried"
    assert out.message.error and "add" in out.message.error and out.message.tool_calls == ()


@pytest.mark.parametrize("name", sorted(HOSTILE_TEXT))
async def test_hostile_text_replies_come_back_after_one_request(canned, name):
    canned.reply = {"role": "assistant", "content": HOSTILE_TEXT[name]}
    canned.requests = 0
    policy = OpenAIPolicy(model="canned", base_url=canned.base_url, api_key="x", tool_format="text", max_retries=5)
    try:
        out = await policy.act([user("1+1?")], [ADD])
    finally:
        await policy.aclose()
    assert canned.requests == 1, f"{name}: what the model wrote was retried"
    assert out.message.role == "assistant" and (out.message.error or out.message.content == HOSTILE_TEXT[name].strip())


def test_a_run_on_hostile_replies_stores_every_episode_and_the_model_sees_each_error(canned, tmp_path):
    canned.reply = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": HOSTILE_ARGUMENTS["5000-digit integer"]}}]}
    env = ToolEnv(tools=[add], reward=correct, name="adder")
    policy = OpenAIPolicy(model="canned", base_url=canned.base_url, api_key="x", max_retries=5)
    tasks = [Task(id=str(i), prompt="1+1?", answer="2") for i in range(3)]
    result = run_rollouts(env, policy, tasks, store=tmp_path / "s.jsonl", max_turns=2, progress=False)
    assert [t.error for t in result] == [None] * 3 and len(TrajectoryStore(tmp_path / "s.jsonl").read()) == 3
    shown = [m.content for m in result[0].messages if m.role in ("user", "tool")][1:]
    assert shown and "4300 digits" in shown[0]  # the parse error went back to the model
