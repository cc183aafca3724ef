"""A small MCP server written with the `mcp` SDK, for tests and the tutorials.

Tools: `add` (two numbers), `greet` (a parameter with a default), `lookup_order` (a structured result, and
a deliberate, model-readable error for an unknown order), `crash` (an unexpected exception).

    python agent_gym/testing/mcp_demo_server.py                       # stdio (the client starts it)
    python agent_gym/testing/mcp_demo_server.py --http --port 0       # READY http://127.0.0.1:PORT/mcp

`demo_command()` is the stdio command line, `serve_demo_http()` runs the HTTP server in a child process.
The child loads this file alone (not the package), so it imports only the SDK.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ORDERS: dict[str, dict[str, Any]] = {
    "W1001": {"order_id": "W1001", "status": "delivered", "items": ["mug", "kettle"], "total": 42.5},
    "W1002": {"order_id": "W1002", "status": "pending", "items": ["lamp"], "total": 19.0},
}
"""The demo's order database."""


def build_server() -> Any:
    """The demo `MCPServer` with its four tools."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("agent-gym-demo", log_level="WARNING")

    @server.tool()
    def add(a: float, b: float) -> float:
        """Add two numbers.

        Args:
            a: The first number.
            b: The second number.
        """
        return a + b

    @server.tool()
    def greet(name: str, punctuation: str = "!") -> str:
        """Greet someone by name.

        Args:
            name: Who to greet.
            punctuation: What ends the greeting.
        """
        return f"Hello, {name}{punctuation}"

    @server.tool()
    def lookup_order(order_id: str) -> dict[str, Any]:
        """Look up an order by its id (e.g. W1001).

        Args:
            order_id: The order's id.
        """
        if order_id not in ORDERS:
            raise ToolError(f"Order {order_id} not found")
        return ORDERS[order_id]

    @server.tool()
    def crash() -> str:
        """A tool that fails with an unexpected exception (the server hides its details)."""
        raise RuntimeError("boom")

    return server


def demo_command() -> list[str]:
    """The command line that starts this server on stdio (this interpreter, this file)."""
    return [sys.executable, str(Path(__file__).resolve())]


def _serve_http(host: str, port: int) -> None:
    import anyio
    import uvicorn

    app = build_server().streamable_http_app(host=host)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    server = uvicorn.Server(uvicorn.Config(app, host=host, log_level="warning"))
    print(f"READY http://{host}:{sock.getsockname()[1]}/mcp", flush=True)
    anyio.run(lambda: server.serve(sockets=[sock]))


@contextmanager
def serve_demo_http(timeout: float = 30.0) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run the demo server over streamable HTTP in a child process; yield (its URL, the process)."""
    process = subprocess.Popen([*demo_command(), "--http", "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("READY ") or time.monotonic() > deadline:
            raise RuntimeError(f"The MCP demo server did not start (said {line!r}, exit code {process.poll()}).")
        yield line.split()[1], process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.http:
        _serve_http(args.host, args.port)
    else:
        build_server().run("stdio")


if __name__ == "__main__":
    main()
