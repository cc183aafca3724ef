"""`OpenAIPolicy`: any OpenAI-compatible server (OpenAI, DeepSeek, vLLM, the embedded local model)."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import aiohttp
import openai
import yarl

from agent_gym.errors import ConfigError, PolicyError
from agent_gym.formats import (
    TOOL_FORMATS,
    ModelJSONError,
    ToolFormat,
    loads_model_json,
    parse_assistant_text,
    split_reasoning,
    to_text_conversation,
)
from agent_gym.policies.base import PolicyOutput
from agent_gym.policies.http_rules import backoff, check_server, retry_wait, status_error
from agent_gym.types import Message, ToolCall, Usage


class OpenAIPolicy:
    """A model behind any OpenAI-compatible chat-completions server.

    Retries 408/409/429/5xx, connection errors and timeouts with exponential backoff, honouring
    `Retry-After` (the `openai` client's own retry loop, `max_retries` times); malformed response
    bodies are retried the same number of times here. A server's separate reasoning
    (`reasoning_content`) becomes the message's `reasoning`, and `<tool_call>` text is parsed when a
    server returns raw text instead of native tool calls.

    Args:
        model: Model name sent with each request.
        base_url: Server URL ending in `/v1`; None means OpenAI's.
        api_key: Key; defaults to `$OPENAI_API_KEY`, or a placeholder for local servers.
        tool_format: `native` sends `tools` and reads `tool_calls`; `text` puts the tool list in the
            system prompt and tool results in user messages (`<tool_response>` blocks).
        accepted_params: Request fields the server accepts; other sampling settings are dropped.
            None sends everything.
        max_retries: Retries per model call.
        timeout: Seconds per HTTP request.
        parallel_tool_calls: Accept several `<tool_call>` blocks in one text reply.
        **sampling: Sent with every request (temperature, top_p, max_tokens, seed, extra_body …).
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        tool_format: ToolFormat = "native",
        accepted_params: Collection[str] | None = None,
        max_retries: int = 5,
        timeout: float = 120.0,
        parallel_tool_calls: bool = False,
        **sampling: Any,
    ) -> None:
        if tool_format not in TOOL_FORMATS:
            raise ConfigError(f"tool_format must be one of {TOOL_FORMATS}, got {tool_format!r}.")
        if max_retries < 0 or timeout <= 0:
            raise ConfigError("max_retries must be >= 0 and timeout > 0.")
        api_key = api_key or os.environ.get("OPENAI_API_KEY")
        if api_key is None:
            if base_url is None:
                raise ConfigError("No API key: set OPENAI_API_KEY or pass api_key=..., or pass base_url= for a local server.")
            api_key = "EMPTY"
        self.model = model
        self.base_url = base_url
        self.tool_format = tool_format
        self.accepted_params = None if accepted_params is None else frozenset(accepted_params)
        self.max_retries = max_retries
        self.timeout = timeout
        self.parallel_tool_calls = parallel_tool_calls
        self.sampling: dict[str, Any] = dict(sampling)
        self._api_key = api_key
        self._clients: dict[asyncio.AbstractEventLoop, openai.AsyncOpenAI] = {}
        self._sessions: dict[asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, dict[str, Any]]] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r}, tool_format={self.tool_format!r})"

    def client(self) -> openai.AsyncOpenAI:
        """The async client of the running event loop (httpx clients cannot cross loops)."""
        loop = asyncio.get_running_loop()
        for old in [old for old in self._clients if old.is_closed()]:
            del self._clients[old]
        if loop not in self._clients:
            self._clients[loop] = openai.AsyncOpenAI(
                base_url=self.base_url, api_key=self._api_key, max_retries=self.max_retries, timeout=self.timeout,
                http_client=_http_client(self.timeout),
            )
        return self._clients[loop]

    def request(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], seed: int | None = None
    ) -> dict[str, Any]:
        """The chat-completions request body for this conversation."""
        body: dict[str, Any] = {"model": self.model, **self.sampling}
        if self.tool_format == "text":
            body["messages"] = to_text_conversation(messages, tools)
        else:
            body["messages"] = [m.to_openai() for m in messages]
            if tools:
                body["tools"] = list(tools)
        if seed is not None and "seed" not in self.sampling:
            body["seed"] = seed
        if self.accepted_params is not None:
            body = {k: v for k, v in body.items() if k in self.accepted_params or k in ("model", "messages")}
        return body

    async def act(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *, seed: int | None = None
    ) -> PolicyOutput:
        body, options = _split_options(self.request(messages, tools, seed))
        names = [t["function"]["name"] for t in tools]
        direct = self.base_url is not None and not options
        for attempt in range(self.max_retries + 1):
            try:
                if direct:  # a server of our own: one aiohttp POST, the SDK's retry rules (see `_post`)
                    content = await self._post(body)
                else:  # OpenAI itself, or per-call headers/query/timeout: the SDK's HTTP path
                    raw = await self.client().post("/chat/completions", body=body, options=options,
                                                   cast_to=_httpx_module().Response)
                    content = raw.content
                response = json.loads(content)
                reply = response["choices"][0]["message"]
                if not isinstance(reply, Mapping):
                    raise TypeError(f"the message is a {type(reply).__name__}, not an object")
                counts = response.get("usage") or {}
                usage = Usage(prompt_tokens=int(counts.get("prompt_tokens") or 0),
                              completion_tokens=int(counts.get("completion_tokens") or 0), calls=1)
                break
            except (openai.APIResponseValidationError, ValueError, KeyError, IndexError, TypeError,
                    AttributeError, RecursionError) as exc:  # a malformed body (JSONDecodeError is a ValueError)
                if attempt == self.max_retries:
                    raise PolicyError(f"{self.base_url} kept returning malformed responses ({exc!r}).") from exc
                await asyncio.sleep(min(0.5 * 2**attempt, 8.0))
            except openai.APIError as exc:
                raise self._failed(str(exc)) from exc
        # What the model wrote is parsed once, outside the retries: it becomes a message, or an error on it.
        return PolicyOutput(self.parse(reply, names), usage)

    async def preflight(self) -> None:
        """One cheap request before a run (`server_check.check_server`): PolicyError naming the server, the
        model and what to check when nothing answers, the key is refused, or the model is not served."""
        await check_server(self.base_url or "https://api.openai.com/v1", self.model, self._api_key,
                           timeout=min(self.timeout, 15.0))

    def _failed(self, why: str) -> PolicyError:
        return PolicyError(f"Model call to {self.base_url or 'OpenAI'} failed after retries: {why}")

    async def _post(self, body: dict[str, Any]) -> bytes:
        """POST a chat-completions body to `base_url` and return the 2xx reply's bytes.

        The SDK's client costs about 1 ms of CPU per call in its request building (pydantic options,
        httpx URL and header objects) and transport layers, more than the rest of an episode; this
        is the same request over one shared aiohttp session, with the SDK's retry rules: connection
        errors, timeouts, 408/409/429/5xx (or what `x-should-retry` says) are retried `max_retries`
        times, waiting `Retry-After` (up to 2 minutes) or 0.5 s × 2^retry (at most 8 s, 25% jitter).
        Anything else raises PolicyError with the SDK's wording (`Error code: 400 - <message>`).
        """
        (session, settings), data = self._session(), json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        url = f"{self.base_url.rstrip('/')}/chat/completions"  # type: ignore[union-attr]
        for retry in range(self.max_retries + 1):
            try:
                async with session.post(url, data=data, **settings) as reply:
                    content = await reply.read()
                    if reply.status < 400:
                        return content
                    wait = retry_wait(reply.status, reply.headers, retry)
                    if wait is None or retry == self.max_retries:
                        raise self._failed(status_error(reply.status, content))
            except (aiohttp.ClientError, TimeoutError) as exc:
                if retry == self.max_retries:
                    timed_out = isinstance(exc, TimeoutError)
                    raise self._failed("Request timed out." if timed_out else f"Connection error ({exc}).") from exc
                wait = backoff(retry)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    def _session(self) -> tuple[aiohttp.ClientSession, dict[str, Any]]:
        """The aiohttp session of the running event loop, its pool as large as any concurrency a run uses,
        and the keyword arguments of each request: the SDK's headers and the environment's proxy for
        `base_url`, looked up once (aiohttp's `trust_env` would look it and ~/.netrc up in a worker thread
        on every request)."""
        loop = asyncio.get_running_loop()
        for old in [old for old in self._sessions if old.is_closed()]:
            del self._sessions[old]
        if loop not in self._sessions or self._sessions[loop][0].closed:
            connector = aiohttp.TCPConnector(limit=_MAX_CONNECTIONS, keepalive_timeout=5.0)
            timeout = aiohttp.ClientTimeout(total=None, connect=self.timeout, sock_connect=self.timeout,
                                            sock_read=self.timeout)
            settings: dict[str, Any] = {"headers": {
                "Accept": "application/json", "Content-Type": "application/json",
                "User-Agent": f"AsyncOpenAI/Python {openai.__version__}", "Authorization": f"Bearer {self._api_key}",
                **{header: os.environ[variable] for header, variable in _ENV_HEADERS if os.environ.get(variable)}}}
            try:
                settings["proxy"], settings["proxy_auth"] = aiohttp.helpers.get_env_proxy_for_url(yarl.URL(self.base_url))
            except LookupError:
                pass
            self._sessions[loop] = aiohttp.ClientSession(connector=connector, timeout=timeout), settings
        return self._sessions[loop]

    def parse(self, message: Any, tool_names: Sequence[str]) -> Message:
        """Turn an OpenAI response message (its JSON dict, or the SDK's object) into a canonical `Message`.
        Never raises: what cannot be read becomes a message with a model-visible `error`."""
        try:
            return self._parse(message, tool_names)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            content = message.get("content") if isinstance(message, Mapping) else getattr(message, "content", "")
            return Message(role="assistant", content=content if isinstance(content, str) else "",
                           error=f"Your reply could not be read ({type(exc).__name__}: {str(exc)[:200]}).")

    def _parse(self, message: Any, tool_names: Sequence[str]) -> Message:
        if not isinstance(message, Mapping):
            message = {**(getattr(message, "model_extra", None) or {}), "content": message.content,
                       "tool_calls": [{"id": c.id, "function": {"name": c.function.name, "arguments": c.function.arguments}}
                                      for c in message.tool_calls or ()]}
        reasoning = message.get("reasoning_content") or message.get("reasoning") or None
        content = message.get("content") or ""
        native = message.get("tool_calls") or []
        if native and self.tool_format == "native":
            calls = []
            for call in native:
                function = call.get("function") or {}
                name = function.get("name") or ""
                raw = function.get("arguments") or "{}"
                try:
                    arguments = loads_model_json(raw if isinstance(raw, str) else json.dumps(raw))
                except ModelJSONError as exc:
                    error = f"The arguments of your call to {name} are {exc}."
                    return Message(role="assistant", content=content, reasoning=reasoning, error=error)
                if not isinstance(arguments, dict):
                    error = f"The arguments of your call to {name} must be a JSON object, not {type(arguments).__name__}."
                    return Message(role="assistant", content=content, reasoning=reasoning, error=error)
                calls.append(ToolCall(name=name, arguments=arguments, id=call.get("id") or ""))
            think, rest = split_reasoning(content)
            return Message(role="assistant", content=rest, reasoning=reasoning or think, tool_calls=tuple(calls))
        parsed = parse_assistant_text(content, tool_names=tool_names, allow_parallel=self.parallel_tool_calls)
        if reasoning and not parsed.reasoning and parsed.error is None:
            parsed = parsed.model_copy(update={"reasoning": reasoning})
        return parsed

    async def aclose(self) -> None:
        """Close the HTTP client of the running event loop (clients of other loops are theirs to close;
        those of loops that have ended are dropped)."""
        loop = asyncio.get_running_loop()
        client, session = self._clients.pop(loop, None), self._sessions.pop(loop, (None,))[0]
        if client is not None:
            await client.close()
        if session is not None:
            await session.close()


_OPTION_KEYS = {"extra_headers": "headers", "extra_query": "params", "timeout": "timeout"}
_NOT_BODY = frozenset({"extra_body", *_OPTION_KEYS})


def _split_options(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply the SDK's `extra_body` and move `extra_headers`/`extra_query`/`timeout` into request options,
    as `chat.completions.create(**body)` would."""
    if _NOT_BODY.isdisjoint(body):
        return body, {}
    body = dict(body)
    options = {_OPTION_KEYS[key]: body.pop(key) for key in list(body) if key in _OPTION_KEYS}
    extra = body.pop("extra_body", None) or {}
    return {**body, **extra}, options


def _http_client(timeout: float) -> Any:
    """The async HTTP client under the SDK: its aiohttp client (the `openai[aiohttp]` option), with a
    connection pool as large as any concurrency a run uses.

    httpx's pool scans every pooled connection on each request, which at a few hundred concurrent
    episodes costs more CPU than the rest of a model call; aiohttp's does not. Without aiohttp the
    SDK's httpx client is used, keeping every connection alive (its default keeps only 100).
    """
    hx = _httpx_module()
    limits = hx.Limits(max_connections=_MAX_CONNECTIONS, max_keepalive_connections=_MAX_CONNECTIONS)
    try:
        import aiohttp  # noqa: F401 - the SDK's aiohttp client needs it

        return openai.DefaultAioHttpClient(timeout=timeout, limits=limits)
    except ImportError:
        return openai.DefaultAsyncHttpxClient(timeout=timeout, limits=limits)


_MAX_CONNECTIONS = 1024
_ENV_HEADERS = (("OpenAI-Organization", "OPENAI_ORG_ID"), ("OpenAI-Project", "OPENAI_PROJECT_ID"))
"""Headers the SDK's client sends when these environment variables are set."""


@functools.cache
def _httpx_module() -> Any:
    """The httpx flavour under this SDK (`httpx`, or `httpx2` for newer SDKs)."""
    base = next(c for c in openai.DefaultAsyncHttpxClient.__mro__ if not c.__module__.startswith("openai"))
    return sys.modules[base.__module__.partition(".")[0]]
