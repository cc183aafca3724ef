"""The embedded local model: a real instruct model behind a real OpenAI-compatible server, no keys.

```python
from agent_gym.local import LocalPolicy, serve_local_model

with serve_local_model() as server:          # materializes the model on first use (~20 s), then ~5 s
    policy = LocalPolicy(server, temperature=0.7, max_tokens=128)
    ...                                       # any OpenAI client works: base_url=server.base_url
```

Command line: `python -m agent_gym.local prepare` (materialize once) and
`python -m agent_gym.local serve [--port N]` (serve until Ctrl-C).

Pieces: `local_model` (materialize the folder), `local_server` (serve it), `local_transformers`
(`TransformersPolicy`, in-process generation without a server), and `LocalPolicy` here.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from .errors import ConfigError, PolicyError
from .formats import ToolFormat
from .local_model import (
    GGUF_INSTALL,
    MODEL_NAME,
    SERVED_MODEL_ID,
    cache_root,
    is_prepared,
    local_model_dir,
    prepare_local_model,
)
from .local_server import (
    LOCAL_SERVER_ACCEPTED_PARAMS,
    LOCAL_SERVER_IGNORED_PARAMS,
    LocalServer,
    serve_local_model,
)
from .local_transformers import TransformersPolicy
from .policy import OpenAIPolicy, PolicyOutput
from .types import Message

__all__ = [
    "GGUF_INSTALL", "LOCAL_SERVER_ACCEPTED_PARAMS", "LOCAL_SERVER_IGNORED_PARAMS", "MODEL_NAME", "SERVED_MODEL_ID",
    "LocalPolicy", "LocalServer", "TransformersPolicy", "cache_root", "is_prepared", "local_model_dir", "main",
    "prepare_local_model", "serve_local_model",
]

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

    async def act(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *, seed: int | None = None
    ) -> PolicyOutput:
        try:
            return await super().act(messages, tools, seed=seed)
        except PolicyError as exc:
            if self.server.alive():
                raise
            raise PolicyError(f"The local model server has stopped (did its `with` block end?). "
                              f"Its last log lines:\n{self.server.logs(20)}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m agent_gym.local {prepare,serve}`."""
    parser = argparse.ArgumentParser(prog="python -m agent_gym.local", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prepare = commands.add_parser("prepare", help="materialize the embedded model once")
    prepare.add_argument("--cache-dir", help=f"cache root (default {cache_root()}; env AGENT_GYM_CACHE)")
    prepare.add_argument("--force", action="store_true", help="rebuild even if the folder is ready")
    serve = commands.add_parser("serve", help="serve a model on 127.0.0.1 until Ctrl-C")
    serve.add_argument("--model-dir", help="HF model folder (default: the embedded model)")
    serve.add_argument("--port", type=int, help="port (default: a free one)")
    serve.add_argument("--native-tool-calls", action="store_true", help="let the server parse tool calls")
    serve.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1; 0 = one per core)")
    serve.add_argument("--log-level", default="info", help="server log level (default info)")
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            print(prepare_local_model(args.cache_dir, force=args.force))
            return 0
        return _serve_forever(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _serve_forever(args: argparse.Namespace) -> int:
    with contextlib.suppress(ValueError):  # SIGTERM (kill, make, systemd) cleans up like Ctrl-C
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with serve_local_model(args.model_dir, args.port, native_tool_calls=args.native_tool_calls,
                               threads=args.threads or None, log_level=args.log_level) as server:
            print(f"Serving {server.model} at {server.base_url} (pid {server.pid}; log {server.log_path}); "
                  "Ctrl-C stops it.\n"
                  f"  curl {server.base_url}/chat/completions -H 'Content-Type: application/json' "
                  f"""-d '{{"model": "{server.model}", "messages": [{{"role": "user", "content": "Hi"}}]}}'""",
                  flush=True)
            while server.alive():
                time.sleep(0.5)
            print(f"The server exited. Its last log lines:\n{server.logs()}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return 0


if __name__ == "__main__":
    sys.exit(main())
