"""`MCPServer` (one server: a command on stdio or a streamable-HTTP URL), its tools (`MCPTool`), and
`MCPServers` (the servers an environment owns)."""

from __future__ import annotations

import asyncio
import functools
import shlex
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from agent_gym.errors import ConfigError, ToolError
from agent_gym.tools.base import Tool, ToolResult, parse_arguments
from agent_gym.tools.mcp.connection import Connection


class MCPServer:
    """One MCP server: a command started as a child process (stdio) or a URL (streamable HTTP).

    Args:
        command: The server's command line (a list, or a string split like a shell would).
        url: A streamable-HTTP endpoint such as `http://127.0.0.1:8000/mcp` (instead of `command`).
        env: Extra environment variables for the child (the SDK passes only HOME, PATH and a few more).
        cwd: The child's working directory.
        prefix: Prepended to every tool name (`prefix="shop_"` gives `shop_lookup_order`), to keep two
            servers' tools apart.
        include: Only these tools (by the server's names); all by default.
        timeout: Seconds to wait for the connection and for each call.
    """

    def __init__(
        self,
        command: str | Sequence[str] | None = None,
        *,
        url: str | None = None,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        prefix: str = "",
        include: Sequence[str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        if (command is None) == (url is None):
            raise ConfigError("MCPServer takes a command (stdio) or url= (streamable HTTP), exactly one of them.")
        argv = shlex.split(command) if isinstance(command, str) else list(command or ())
        if command is not None and not argv:
            raise ConfigError("MCPServer's command is empty; give the server's command line, e.g. ['python', 'server.py'].")
        if url is not None and not url.startswith(("http://", "https://")):
            raise ConfigError(f"MCPServer url must be an http(s) URL of a streamable-HTTP endpoint, got {url!r}.")
        self.argv, self.url = argv, url
        self.env, self.cwd = dict(env or {}), cwd
        self.prefix, self.include = prefix, None if include is None else tuple(include)
        self.timeout = timeout
        self._conn: Connection | None = None
        self._tools: list[MCPTool] | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def __repr__(self) -> str:
        target = self.url or shlex.join(self.argv)
        return f"MCPServer({target!r}, running={self.running})"

    def __deepcopy__(self, memo: dict[int, Any]) -> MCPServer:
        return self  # one connection serves every clone of an environment

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (e.g. to a Ray worker), a server is its settings: the copy starts its own connection
        (and child) when first used in its process."""
        keep = ("argv", "url", "env", "cwd", "prefix", "include", "timeout")
        return {k: self.__dict__[k] for k in keep}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _conn=None, _tools=None, _lock=threading.Lock(), _stopped=False)

    def __enter__(self) -> MCPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the connection is up."""
        return self._conn is not None and self._conn.alive

    @property
    def label(self) -> str:
        """How errors name this server."""
        return self.url or (Path(self.argv[-1]).name if self.argv else "?")

    def start(self) -> MCPServer:
        """Connect (starting the child for stdio) and list the tools; a no-op while running."""
        with self._lock:
            if self.running:
                return self
            conn = Connection(self._transport, self.label)
            try:
                tools = self._make_tools(conn.open(self.timeout))
            except BaseException:
                conn.close()
                raise
            self._conn, self._tools, self._stopped = conn, tools, False
        return self

    def stop(self) -> None:
        """Close the connection; for stdio the child process (and its children) are gone on return."""
        with self._lock:
            conn, self._conn = self._conn, None
            self._stopped = True
        if conn is not None:
            conn.close()

    async def aclose(self) -> None:
        """`stop()` without blocking the event loop."""
        await asyncio.get_running_loop().run_in_executor(None, self.stop)

    def tools(self) -> list[MCPTool]:
        """The server's tools as agent_gym tools (starts the server if needed)."""
        self.start()
        assert self._tools is not None
        return list(self._tools)

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        """Call the server's tool `name`; a tool or protocol error becomes an error result."""
        if self._conn is None and not self._stopped:  # e.g. a copy unpickled in a worker: start it here
            await asyncio.get_running_loop().run_in_executor(None, self.start)
        conn = self._conn
        if conn is None or not conn.alive:
            raise ToolError(f"MCP server {self.label} is not running (it was stopped, or it exited); start it "
                            "again with server.start() before calling its tools.")
        return await conn.call(name, arguments, self.timeout)

    def call_sync(self, name: str, /, **arguments: Any) -> str:
        """Call a tool from plain code (what calling an `MCPTool` does); raises `ToolError` on an error."""
        conn = self._conn
        if conn is None or not conn.alive:
            self.start()
            conn = self._conn
        assert conn is not None
        result = conn.submit(conn.call(name, arguments, self.timeout)).result(self.timeout + 5)
        if result.is_error:
            raise ToolError(result.content)
        return result.content

    def _transport(self, errlog: Any) -> Any:
        """The SDK transport (made and entered on the connection's loop); the child's stderr goes to `errlog`."""
        if self.url is not None:
            return self.url
        from mcp import StdioServerParameters
        from mcp.client.stdio import stdio_client

        params = StdioServerParameters(command=self.argv[0], args=self.argv[1:], env=self.env or None, cwd=self.cwd)
        return stdio_client(params, errlog=errlog)

    def _make_tools(self, listed: list[Any]) -> list[MCPTool]:
        known = {t.name for t in listed}
        missing = sorted(set(self.include or ()) - known)
        if missing:
            raise ConfigError(f"MCP server {self.label} has no tool(s) {missing}; it has {sorted(known)}.")
        chosen = [t for t in listed if self.include is None or t.name in self.include]
        return [mcp_tool(self, t.name, t.description or "", t.input_schema, prefix=self.prefix) for t in chosen]


def _arguments_model(name: str, schema: dict[str, Any]) -> type[BaseModel]:
    """A permissive model whose dump is the arguments with the schema's top-level defaults filled in
    (how a cassette keys a call); the server validates the arguments themselves."""
    defaults = {k: v["default"] for k, v in schema.get("properties", {}).items() if isinstance(v, dict) and "default" in v}

    class Arguments(BaseModel):
        model_config = ConfigDict(extra="allow")

        @model_validator(mode="before")
        @classmethod
        def _fill(cls, data: Any) -> Any:
            return {**defaults, **data} if isinstance(data, dict) else data

    Arguments.__name__ = Arguments.__qualname__ = f"{name}_args"
    return Arguments


@dataclass(frozen=True)
class MCPTool(Tool):
    """A tool of an MCP server: calling it (`await tool.run(args)`, or `tool(**args)`) calls the server."""

    server: MCPServer = field(default=None, repr=False, kw_only=True)  # type: ignore[assignment]
    """The server that runs it."""
    remote_name: str = field(default="", kw_only=True)
    """The tool's name on the server (`name` may carry the server's `prefix`)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> MCPTool:
        return self  # a stateless handle on the shared server

    async def run(self, arguments: dict[str, Any] | str) -> ToolResult:
        arguments = parse_arguments(self.name, arguments)
        if isinstance(arguments, ToolResult):
            return arguments
        return await self.server.call(self.remote_name, arguments)


def mcp_tool(server: MCPServer, name: str, description: str, schema: dict[str, Any], *, prefix: str = "") -> MCPTool:
    """The agent_gym tool for one of `server`'s tools (its input schema kept as the server gives it)."""
    return MCPTool(
        fn=functools.partial(server.call_sync, name),
        name=prefix + name,
        description=description or name,
        parameters={"type": "object", "properties": {}, **schema},
        args_model=_arguments_model(prefix + name, schema),
        blocking=False,
        server=server,
        remote_name=name,
    )


class MCPServers:
    """The MCP servers an environment started. A deep copy (an episode's clone) shares the servers but
    does not own them, so only the environment that started them stops them on `close()`."""

    def __init__(self, servers: Sequence[MCPServer], owner: bool = True) -> None:
        for server in servers:
            if not isinstance(server, MCPServer):
                raise ConfigError(f"mcp_servers takes MCPServer objects, got {type(server).__name__}; "
                                  "wrap a command as MCPServer(['python', 'server.py']) or MCPServer(url=...).")
        self.servers, self.owner = tuple(servers), owner

    def __deepcopy__(self, memo: dict[int, Any]) -> MCPServers:
        return MCPServers(self.servers, owner=False)

    def tools(self) -> list[MCPTool]:
        """Every server's tools (starting the servers); a failed start stops those already started."""
        try:
            return [t for server in self.servers for t in server.tools()]
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every server (whoever owns them)."""
        for server in self.servers:
            server.stop()

    async def close(self) -> None:
        """Stop the servers if this environment started them."""
        if self.owner:
            for server in self.servers:
                await server.aclose()




__all__ = ["MCPServer", "MCPServers", "MCPTool", "mcp_tool"]
