"""A scripted, OpenAI-compatible chat server on loopback, for tests and benchmarks of HTTP policies.

Replies are deterministic and derived from the request alone: when tools are offered and the current user
turn has no tool result yet, it calls the first tool (number/integer parameters take the numbers of the last
user message in order, string parameters take its text); otherwise it answers with the last tool result, or
echoes "You said: …". It can add fixed latency and inject faults (429, 500, malformed, timeout, disconnect).

`/v1/completions` answers token-id prompts in the shape of vLLM's server (≥ 0.10.2, `return_token_ids`):
reply k of `token_replies` answers turn k, where a prompt's turn is how many times `assistant_header`
occurs in it, minus one (see `scripted_token_completion`).

    python -m agent_gym.testing.scripted_server --port 0 --latency 0.2 --fault-rate 0.2   # READY http://127.0.0.1:PORT/v1

    with serve_scripted(latency=0.2) as server:        # the same, in a child process
        client = openai.OpenAI(base_url=server.base_url, api_key="x")

It is one module because the child process loads it alone, without the package (see `_BOOT`), so it
must not import the rest of agent_gym.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from agent_gym.errors import ConfigError

FAULT_KINDS: tuple[str, ...] = ("429", "500", "malformed", "timeout", "disconnect")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_TOOL_RESPONSE = re.compile(r"<tool_response[^>]*>(.*?)</tool_response>", re.DOTALL)
_TRUNCATED = b'{"id": "chatcmpl-malformed", "object": "chat.completion", "choices": [{"index": 0, "message": {"ro'


def _option(default: Any, doc: str, *, as_json: bool = False) -> Any:
    return field(default=default, metadata={"doc": doc, "json": as_json})


@dataclass(frozen=True)
class ScriptedServerConfig:
    """Options of the scripted server; each field is also a CLI flag (`fault_rate` is `--fault-rate`)."""

    host: str = _option("127.0.0.1", "interface to bind: loopback only")
    port: int = _option(0, "TCP port; 0 picks a free one (the READY line tells which)")
    latency: float = _option(0.0, "seconds every completion waits (asyncio.sleep) before its answer")
    fault_rate: float = _option(0.0, "probability in [0, 1] that a completion gets an injected fault instead")
    faults: tuple[str, ...] = _option(FAULT_KINDS, "fault kinds, drawn uniformly; comma-separated on the CLI")
    seed: int = _option(0, "seed of the fault draws: same seed and request order, same faults")
    timeout_delay: float = _option(30.0, "seconds a `timeout` fault waits; make it longer than the client's timeout")
    tool_format: str = _option("native", "'native' (OpenAI tool_calls) or 'text' (<tool_call>{json}</tool_call>)")
    reasoning: bool = _option(False, "add DeepSeek-style reasoning_content to every assistant message")
    model: str = _option("scripted", "model id listed by /v1/models (replies echo the request's model)")
    token_replies: tuple[tuple[int, ...], ...] = _option(
        (), "token ids /v1/completions generates: reply k answers turn k (the last repeats); JSON on the CLI",
        as_json=True)
    assistant_header: tuple[int, ...] = _option(
        (), "ids of the assistant header (e.g. of '<|im_start|>assistant\\n'): a prompt's turn is their count - 1; "
        "JSON on the CLI", as_json=True)
    eos_id: int | None = _option(None, "finish_reason is 'stop' for a reply ending with this id, else 'length'",
                                 as_json=True)
    omit_token_ids: bool = _option(False, "leave token_ids out of /v1/completions answers (like vLLM before 0.10.2)")

    def __post_init__(self) -> None:
        replies = tuple(tuple(r) if isinstance(r, (list, tuple)) else r for r in self.token_replies)  # JSON lists
        object.__setattr__(self, "token_replies", replies)
        object.__setattr__(self, "assistant_header", tuple(self.assistant_header))
        problems = {
            "host": (self.host in ("127.0.0.1", "localhost"), "the server binds to loopback only; use '127.0.0.1'"),
            "port": (0 <= self.port <= 65535, "use 0 (a free port) or a port in 1..65535"),
            "fault_rate": (0.0 <= self.fault_rate <= 1.0, "give a probability between 0.0 and 1.0"),
            "faults": (bool(self.faults) and set(self.faults) <= set(FAULT_KINDS), f"use some of {FAULT_KINDS}"),
            "latency": (self.latency >= 0, "give seconds >= 0"),
            "timeout_delay": (self.timeout_delay >= 0, "give seconds >= 0"),
            "tool_format": (self.tool_format in ("native", "text"), "use 'native' or 'text'"),
            "token_replies": (all(_ids(reply) for reply in replies), "give lists of token ids (ints)"),
            "assistant_header": (_ids(self.assistant_header) and (bool(self.assistant_header) or not replies),
                                 "give the ids of the assistant header with token_replies"),
            "eos_id": (self.eos_id is None or _ids([self.eos_id]), "give a token id or None"),
        }
        for name, (ok, fix) in problems.items():
            if not ok:
                raise ConfigError(f"{name}={getattr(self, name)!r} is invalid: {fix}.")

    def to_argv(self) -> list[str]:
        """The CLI flags that reproduce this config."""
        argv: list[str] = []
        for f in fields(self):
            value, flag = getattr(self, f.name), "--" + f.name.replace("_", "-")
            if f.metadata["json"]:
                argv += [flag, json.dumps(value)]
            elif isinstance(value, bool):
                argv += [flag] if value else []
            else:
                argv += [flag, ",".join(value) if isinstance(value, tuple) else str(value)]
        return argv

    @classmethod
    def from_argv(cls, argv: Sequence[str] | None = None) -> tuple[ScriptedServerConfig, bool]:
        """Parse CLI flags into (config, exit_with_stdin); exits with a usage message on a bad flag."""
        parser = argparse.ArgumentParser("python -m agent_gym.testing.scripted_server", description=__doc__.splitlines()[0])
        for f in fields(cls):
            default = (json.dumps(f.default) if f.metadata["json"] else
                       ",".join(f.default) if isinstance(f.default, tuple) else f.default)
            flag, help = "--" + f.name.replace("_", "-"), f"{f.metadata['doc']} (default: {default})"
            if f.metadata["json"]:
                parser.add_argument(flag, default=f.default, help=help, type=json.loads)
            elif isinstance(f.default, bool):
                parser.add_argument(flag, action="store_true", help=help)
            else:
                kind = _comma_list if isinstance(f.default, tuple) else type(f.default)
                parser.add_argument(flag, default=f.default, help=help, type=kind)
        parser.add_argument("--exit-with-stdin", action="store_true", help="exit when stdin closes (serve_scripted)")
        args = vars(parser.parse_args(argv))
        exit_with_stdin = args.pop("exit_with_stdin")
        try:
            return cls(**args), exit_with_stdin
        except ConfigError as exc:
            parser.error(str(exc))


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _ids(value: Any) -> bool:
    """Whether `value` is a sequence of token ids (ints >= 0)."""
    return isinstance(value, (list, tuple)) and all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value)


def _text(content: Any) -> str:
    """Message content as text (a string, None, or a list of OpenAI content parts)."""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def _tools_in_prompt(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tools listed as a one-line JSON array in a system message (the text format of formats.py)."""
    for message in (m for m in messages if m.get("role") == "system"):
        for line in _text(message.get("content")).splitlines():
            try:
                tools = json.loads(line) if line.startswith("[{") else None
            except ValueError:
                continue
            if isinstance(tools, list) and all(isinstance(tool, dict) for tool in tools):
                return tools
    return []


def _turn(messages: Sequence[dict[str, Any]]) -> tuple[str, str | None]:
    """(last user text, the last tool result after it or None); `<tool_response>` user messages are results."""
    result: str | None = None
    for message in reversed(messages):
        role, text = message.get("role"), _text(message.get("content"))
        blocks = _TOOL_RESPONSE.findall(text) if role == "user" else []
        if role == "user" and not blocks:
            return text, result
        if result is None and (role == "tool" or blocks):
            result = text if role == "tool" else blocks[-1].strip()
    return "", result


def _arguments(parameters: dict[str, Any], text: str) -> dict[str, Any]:
    """Fill a JSON-schema object: numbers from `text` in order, strings with `text`, enums with their first value."""
    numbers, required = iter(_NUMBER.findall(text)), set(parameters.get("required") or ())
    args: dict[str, Any] = {}
    for name, schema in (parameters.get("properties") or {}).items():
        kind = schema.get("type")
        kind = next((k for k in kind if k != "null"), None) if isinstance(kind, list) else kind
        if schema.get("enum"):
            args[name] = schema["enum"][0]
        elif kind in ("number", "integer"):
            token = next(numbers, None)
            if token is not None or name in required:
                args[name] = 0 if token is None else float(token) if "." in token else int(token)
        elif kind in ("string", None):
            args[name] = text
        elif name in required:
            args[name] = {"boolean": False, "array": [], "object": {}}.get(kind)
    return args


def scripted_reply(
    body: dict[str, Any], tool_format: str = "native", reasoning: bool = False
) -> tuple[dict[str, Any], str]:
    """The assistant message and finish_reason that answer a chat-completions request `body`.

    Raises ValueError (the server answers HTTP 400) for a request it cannot answer, saying why.
    """
    messages = body.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise ValueError("`messages` must be a list of message objects")
    if body.get("stream"):
        raise ValueError("the scripted server does not stream; call it without stream=True")
    tools = body.get("tools") or _tools_in_prompt(messages)
    if not isinstance(tools, list):
        raise ValueError("`tools` must be a list of {'type': 'function', 'function': {...}} objects")
    user, result = _turn(messages)
    message: dict[str, Any] = {"role": "assistant", "content": None}
    finish = "stop"
    if tools and result is None:
        function = tools[0].get("function", tools[0])
        if not isinstance(function, dict) or not function.get("name"):
            raise ValueError("the first tool has no name; send {'type': 'function', 'function': {'name': …}}")
        call = {"name": function["name"], "arguments": _arguments(function.get("parameters") or {}, user)}
        if tool_format == "text":
            message["content"] = f"<tool_call>{json.dumps(call, ensure_ascii=False)}</tool_call>"
        else:
            arguments = json.dumps(call["arguments"], ensure_ascii=False)
            message["tool_calls"] = [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                                      "function": {"name": call["name"], "arguments": arguments}}]
            finish = "tool_calls"
    else:
        message["content"] = result if result is not None else f"You said: {user}"
    if reasoning:
        message["reasoning_content"] = "Let me think…"
    return message, finish


def _completion(body: dict[str, Any], message: dict[str, Any], finish: str, model: str) -> dict[str, Any]:
    """An OpenAI `chat.completion` object; tokens are whitespace-separated words."""
    prompt = sum(len(_text(m.get("content")).split()) for m in body["messages"])
    calls = " ".join(c["function"]["arguments"] for c in message.get("tool_calls", ()))
    completion = len(_text(message["content"]).split()) + len(calls.split())
    return {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model") or model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}}


def scripted_token_completion(body: dict[str, Any], config: ScriptedServerConfig) -> dict[str, Any]:
    """The vLLM-shaped `text_completion` answering a completions request `body` whose prompts are token ids.

    Each prompt gets the reply of its turn (the occurrences of `assistant_header` in it, minus one, clamped to
    the replies), cut to `max_tokens`, with -0.5 as every logprob; `text` is empty (there is no tokenizer).
    `token_ids` and `prompt_token_ids` come with `return_token_ids` (unless `omit_token_ids`). Choices come
    last prompt first, so that clients must order them by `index`. Raises ValueError (HTTP 400) saying why.
    """
    prompts = body.get("prompt")
    prompts = [prompts] if _ids(prompts) else prompts
    if not isinstance(prompts, list) or not prompts or not all(_ids(p) and p for p in prompts):
        raise ValueError("`prompt` must be a non-empty list of token ids, or a list of such lists "
                         "(the scripted server does not answer text prompts)")
    if body.get("stream") or body.get("n", 1) != 1:
        raise ValueError("the scripted server answers n=1 without streaming")
    max_tokens = body.get("max_tokens", 16)
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    if not config.token_replies:
        raise ValueError("this scripted server has no token_replies; start it with token_replies= and assistant_header=")
    header, with_ids = list(config.assistant_header), bool(body.get("return_token_ids")) and not config.omit_token_ids
    choices, generated = [], 0
    for index, prompt in enumerate(prompts):
        turns = sum(prompt[i:i + len(header)] == header for i in range(len(prompt) - len(header) + 1)) - 1
        reply = list(config.token_replies[min(max(turns, 0), len(config.token_replies) - 1)][:max_tokens])
        generated += len(reply)
        choice: dict[str, Any] = {"index": index, "text": "", "logprobs": None, "stop_reason": None,
                                  "finish_reason": "stop" if reply[-1:] == [config.eos_id] else "length"}
        if body.get("logprobs") is not None:
            choice["logprobs"] = {"tokens": [f"token_id:{i}" for i in reply], "token_logprobs": [-0.5] * len(reply),
                                  "top_logprobs": None, "text_offset": [0] * len(reply)}
        if with_ids:
            choice.update(token_ids=reply, prompt_token_ids=prompt)
        choices.append(choice)
    prompt_tokens = sum(map(len, prompts))
    return {"id": f"cmpl-{uuid.uuid4().hex[:24]}", "object": "text_completion", "created": int(time.time()),
            "model": body.get("model") or config.model, "choices": choices[::-1],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": generated,
                      "total_tokens": prompt_tokens + generated}}


def _error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": None}}, status, headers)


class _Disconnect(Response):
    """Closes the connection without a response (through uvicorn's transport); elsewhere, truncates the body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = getattr(getattr(receive, "__self__", None), "transport", None)
        if transport is not None:
            transport.close()
            for _ in range(3):  # until uvicorn has seen the close, so that it sends no 500 after us
                if (await receive())["type"] == "http.disconnect":
                    return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]})
        await send({"type": "http.response.body", "body": b"{"})


def create_app(config: ScriptedServerConfig) -> Starlette:
    """The ASGI app: POST /v1/chat/completions and /v1/completions, GET /v1/models, /health, /stats,
    POST /reset-stats."""
    rng, stats = random.Random(config.seed), {"in_flight": 0}

    def reset() -> None:  # zero the counters and re-seed the fault draws
        stats.update(requests=0, completions=0, bad_requests=0, max_in_flight=stats["in_flight"],
                     faults=dict.fromkeys(FAULT_KINDS, 0))
        rng.seed(config.seed)

    def chat(body: dict[str, Any]) -> dict[str, Any]:
        return _completion(body, *scripted_reply(body, config.tool_format, config.reasoning), config.model)

    async def chat_completions(request: Request) -> Response:
        return await answer(request, "chat-completions", chat)

    async def completions(request: Request) -> Response:
        return await answer(request, "completions", lambda body: scripted_token_completion(body, config))

    async def answer(request: Request, api: str, reply: Callable[[dict[str, Any]], dict[str, Any]]) -> Response:
        stats["requests"] += 1
        stats["in_flight"] += 1
        stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
        try:
            try:
                response = reply(json.loads(await request.body()))
            except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:  # a malformed request
                stats["bad_requests"] += 1
                return _error(400, f"bad {api} request: {exc}", "invalid_request_error")
            fault = rng.choice(config.faults) if rng.random() < config.fault_rate else None
            if fault is not None:
                stats["faults"][fault] += 1
            await asyncio.sleep(config.timeout_delay if fault == "timeout" else config.latency)
            if fault == "429":
                headers = {"Retry-After": "0", "retry-after-ms": "10"}
                return _error(429, "injected fault: rate limited", "rate_limit_error", headers)
            if fault == "500":
                return _error(500, "injected fault: internal server error", "server_error")
            if fault == "malformed":
                return Response(_TRUNCATED, 200, media_type="application/json")
            if fault == "disconnect":
                return _Disconnect()
            if fault is None:
                stats["completions"] += 1
            return JSONResponse(response)
        finally:
            stats["in_flight"] -= 1

    async def models(request: Request) -> Response:
        model = {"id": config.model, "object": "model", "created": 0, "owned_by": "agent_gym"}
        return JSONResponse({"object": "list", "data": [model]})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def get_stats(request: Request) -> Response:
        return JSONResponse(stats)

    async def reset_stats(request: Request) -> Response:
        reset()
        return JSONResponse(stats)

    reset()
    return Starlette(routes=[Route("/v1/chat/completions", chat_completions, methods=["POST"]),
                             Route("/v1/completions", completions, methods=["POST"]), Route("/v1/models", models),
                             Route("/health", health), Route("/stats", get_stats),
                             Route("/reset-stats", reset_stats, methods=["POST"])])


def run(config: ScriptedServerConfig, *, exit_with_stdin: bool = False) -> None:
    """Serve until SIGTERM, SIGINT or (with `exit_with_stdin`) stdin EOF; print `READY <base_url>` once listening."""
    import uvicorn

    # IPPROTO_TCP, so that asyncio sets TCP_NODELAY on accepted connections (else: +40 ms per response)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", config.port))
    except OSError as exc:
        raise SystemExit(f"cannot bind 127.0.0.1:{config.port} ({exc}); pass --port 0 to pick a free port") from exc
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning", access_log=False, lifespan="off",
                                           timeout_graceful_shutdown=0.5, backlog=4096))
    if exit_with_stdin:  # the parent's pipe closes when the parent ends, even when it is killed: no orphan
        threading.Thread(target=lambda: (sys.stdin.buffer.read(), os._exit(0)), daemon=True).start()

    async def serve() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.005)
        if server.started:  # SIGTERM exits at once (there is nothing to save); Ctrl-C shuts down gracefully
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, os._exit, 0)
            print(f"READY http://127.0.0.1:{sock.getsockname()[1]}/v1", flush=True)
        await task

    asyncio.run(serve())


@dataclass(frozen=True)
class ScriptedServer:
    """A running scripted server process, as yielded by `serve_scripted`."""

    base_url: str
    """The OpenAI base URL, `http://127.0.0.1:PORT/v1`: pass it to `openai.OpenAI(base_url=…)`."""
    process: subprocess.Popen[bytes]
    """The server's process."""

    @property
    def url(self) -> str:
        """The server's root URL (without `/v1`)."""
        return self.base_url.removesuffix("/v1")

    def stats(self) -> dict[str, Any]:
        """Counters: requests, completions, bad_requests, in_flight, max_in_flight and faults (per kind)."""
        return httpx.get(f"{self.url}/stats", timeout=10).raise_for_status().json()

    def reset_stats(self) -> None:
        """Zero the counters and re-seed the fault draws."""
        httpx.post(f"{self.url}/reset-stats", timeout=10).raise_for_status()


def _read(file: IO[bytes]) -> str:
    # pread leaves the offset alone: the child shares it and writes there, so a seek here could make it overwrite.
    return os.pread(file.fileno(), os.fstat(file.fileno()).st_size, 0).decode(errors="replace")


# Runs main() without executing agent_gym/__init__.py, which imports the whole library: starts 3x faster.
_BOOT = ("import sys, types; package = types.ModuleType('agent_gym'); package.__path__ = [sys.argv.pop(1)]; "
         "sys.modules['agent_gym'] = package; from agent_gym.testing.scripted_server import main; main()")


@contextmanager
def serve_scripted(*, latency: float = 0.0, fault_rate: float = 0.0, faults: Sequence[str] = FAULT_KINDS, seed: int = 0,
                   timeout_delay: float = 30.0, tool_format: str = "native", reasoning: bool = False,
                   model: str = "scripted", token_replies: Sequence[Sequence[int]] = (),
                   assistant_header: Sequence[int] = (), eos_id: int | None = None, omit_token_ids: bool = False,
                   port: int = 0, startup_timeout: float = 20.0) -> Iterator[ScriptedServer]:
    """Run a scripted server in a child process (`sys.executable`) for the duration of a `with` block.

    The options are those of `ScriptedServerConfig` (ConfigError names a bad one). Waits for the READY line:
    TimeoutError after `startup_timeout` seconds, RuntimeError if the child exits first (both quote its output).
    On exit, also on an exception, terminates the child and waits for it; it also exits if this process dies.
    """
    config = ScriptedServerConfig(port=port, latency=latency, fault_rate=fault_rate, faults=tuple(faults),
                                  seed=seed, timeout_delay=timeout_delay, tool_format=tool_format,
                                  reasoning=reasoning, model=model, token_replies=tuple(map(tuple, token_replies)),
                                  assistant_header=tuple(assistant_header), eos_id=eos_id,
                                  omit_token_ids=omit_token_ids)
    argv = [sys.executable, "-c", _BOOT, str(Path(__file__).resolve().parents[1]), *config.to_argv(), "--exit-with-stdin"]
    with tempfile.TemporaryFile() as output:  # a file, not a pipe: the child never blocks on a full pipe
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + startup_timeout
            while (ready := re.search(r"^READY (\S+)", _read(output), re.MULTILINE)) is None:
                tail = _read(output)[-2000:].strip() or "(no output)"
                if process.poll() is not None:
                    raise RuntimeError(f"the scripted server exited with code {process.returncode} before it was "
                                       f"ready; its output:\n{tail}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the scripted server was not ready within {startup_timeout}s; raise "
                                       f"startup_timeout or run `python -m agent_gym.testing.scripted_server "
                                       f"{' '.join(config.to_argv())}` to see why. Output so far:\n{tail}")
                time.sleep(0.01)
            yield ScriptedServer(base_url=ready.group(1), process=process)
        finally:
            assert process.stdin is not None
            process.stdin.close()
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main(argv: Sequence[str] | None = None) -> None:
    """The CLI: `python -m agent_gym.testing.scripted_server --help`."""
    config, exit_with_stdin = ScriptedServerConfig.from_argv(argv)
    run(config, exit_with_stdin=exit_with_stdin)


if __name__ == "__main__":
    main()
