"""`python -m agent_gym.local prepare` (materialize the embedded model once) and
`python -m agent_gym.local serve [--port N]` (serve it on loopback until Ctrl-C)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from collections.abc import Sequence

from agent_gym.errors import ConfigError
from agent_gym.local.files import cache_root, prepare_local_model
from agent_gym.local.server import serve_local_model


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m agent_gym.local {prepare,serve}`."""
    parser = argparse.ArgumentParser(prog="python -m agent_gym.local", description="The embedded local model: prepare it once, or serve it.")
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
