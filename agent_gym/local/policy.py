"""`LocalPolicy`: an `OpenAIPolicy` for the embedded model's server (`agent_gym.local.server`).

```python
from agent_gym.local import LocalPolicy, serve_local_model

with serve_local_model() as server:          # materializes the model on first use (~20 s), then ~5 s
    policy = LocalPolicy(server, temperature=0.7, max_tokens=128)
    ...                                       # any OpenAI client works: base_url=server.base_url
```
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import weakref
from collections.abc import Sequence
from typing import Any

from agent_gym.errors import ConfigError, PolicyError
from agent_gym.formats import ToolFormat
from agent_gym.local.server import (
    LocalServer,
)
from agent_gym.policies.base import PolicyOutput
from agent_gym.policies.openai import OpenAIPolicy
from agent_gym.types import Message

DEFAULT_MAX_TOKENS = 256
"""Reply length cap unless `max_tokens` is given: the small model often rambles until the limit,
and the server's own default is 1024 tokens."""


class LocalPolicy(OpenAIPolicy):
    """An `OpenAIPolicy` pointed at a `serve_local_model()` server: no key, only accepted fields sent.

    Args:
        server: The running server.
        tool_format: `native` (tools in the request; the reply's `<tool_call>` text is parsed) or `text`.
        parallel_tool_calls: Accept several `<tool_call>` blocks in one reply.
        max_retries: Retries per call (fewer than OpenAIPolicy's 5: a local failure repeats).
        timeout: Seconds per request (CPU generation of a long reply is slow).
        **sampling: Request fields sent with every call: any of `LOCAL_SERVER_ACCEPTED_PARAMS`
            (temperature, top_p, max_tokens, seed, stop, …). Others raise `ConfigError` instead of
            being silently ignored by the server (e.g. `n`: make n calls with different seeds).
    """

    name = "local"

    def __init__(
        self, server: LocalServer, *, tool_format: ToolFormat = "native", parallel_tool_calls: bool = False,
        max_retries: int = 2, timeout: float = 300.0, **sampling: Any,
    ) -> None:
        allowed = server.accepted_params - {"tools", "stream"}  # the policy sets tools; it never streams
        unknown = sorted(set(sampling) - allowed)
        if unknown:
            raise ConfigError(
                f"LocalPolicy cannot send {unknown}; use only {sorted(allowed)}."
                + (" For n samples, call act n times with different seeds." if "n" in unknown else "")
            )
        sampling.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
        super().__init__(
            server.model, server.base_url, api_key="local", tool_format=tool_format,
            accepted_params=server.accepted_params, max_retries=max_retries, timeout=timeout,
            parallel_tool_calls=parallel_tool_calls, **sampling,
        )
        self.server = server
        self._turnstiles: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    async def act(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *, seed: int | None = None
    ) -> PolicyOutput:
        """One call; calls take turns (the server generates one reply at a time), so the time a call waits
        for its turn is its `queue_seconds`, apart from the time the model took."""
        loop = asyncio.get_running_loop()
        turnstile = self._turnstiles.setdefault(loop, asyncio.Lock())
        asked = time.perf_counter()
        try:
            async with turnstile:
                waited = time.perf_counter() - asked
                output = await super().act(messages, tools, seed=seed)
            return dataclasses.replace(output, queue_seconds=waited)
        except PolicyError as exc:
            if self.server.alive():
                raise
            raise PolicyError(f"The local model server has stopped (did its `with` block end?). "
                              f"Its last log lines:\n{self.server.logs(20)}") from exc
