"""The connection behind an `MCPServer`: the SDK's `Client`, held open by one task on a private event loop
in a daemon thread (the SDK enters and leaves its context in one task), and the mapping of its results."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import tempfile
import threading
import weakref
from collections.abc import Callable
from typing import Any

from agent_gym.errors import ToolError
from agent_gym.tools.base import ToolResult

STOP_TIMEOUT = 15.0
"""Seconds `stop()` waits for the SDK's shutdown (close stdin, then SIGTERM, then SIGKILL of the tree)."""


class Connection:
    """A `mcp.Client` held open by one task on a private loop in a daemon thread."""

    def __init__(self, transport: Callable[[Any], Any], label: str) -> None:
        self.transport, self.label = transport, label
        self.errlog = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
        self.loop = asyncio.new_event_loop()
        self.stopping = asyncio.Event()
        self.client: Any = None
        self.holder: concurrent.futures.Future[None] | None = None
        self.thread = threading.Thread(target=self.loop.run_forever, name=f"mcp-{label}", daemon=True)
        self.thread.start()
        # Runs on close(), or at interpreter exit if nobody closed it: no child outlives us.
        self._shutdown = weakref.finalize(self, _shutdown, self.loop, self.thread, self.stopping, STOP_TIMEOUT)

    @property
    def alive(self) -> bool:
        return self.holder is not None and not self.holder.done() and self.client is not None

    def submit(self, coro: Any) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def open(self, timeout: float) -> list[Any]:
        """Connect and list the tools; raises `ToolError` (with the server's stderr) if it fails."""
        ready: concurrent.futures.Future[list[Any]] = concurrent.futures.Future()
        self.holder = self.submit(self._hold(ready))
        try:
            return ready.result(timeout)
        except concurrent.futures.TimeoutError:
            raise ToolError(f"MCP server {self.label} did not answer within {timeout:.0f}s.{self._stderr()}") from None
        except Exception as exc:
            raise ToolError(f"Could not connect to MCP server {self.label}: {_describe(exc)}.{self._stderr()}") from exc

    async def _hold(self, ready: concurrent.futures.Future[list[Any]]) -> None:
        from mcp import Client

        try:
            async with Client(self.transport(self.errlog)) as client:
                tools, cursor = [], None
                while True:
                    page = await client.list_tools(cursor=cursor)
                    tools.extend(page.tools)
                    cursor = page.next_cursor
                    if cursor is None:
                        break
                self.client = client
                ready.set_result(tools)
                await self.stopping.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise
        finally:
            self.client = None

    async def call(self, name: str, arguments: dict[str, Any], timeout: float) -> ToolResult:
        """Run on the connection's loop from any loop; map the SDK's outcome to a ToolResult."""
        if asyncio.get_running_loop() is not self.loop:
            return await asyncio.wrap_future(self.submit(self.call(name, arguments, timeout)))
        from mcp import MCPError
        from mcp_types import CONNECTION_CLOSED

        client = self.client
        if client is None:
            raise ToolError(f"MCP server {self.label} has stopped; its tool {name!r} cannot be called.")
        try:
            result = await client.call_tool(name, arguments, read_timeout_seconds=timeout)
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                raise ToolError(f"MCP server {self.label} closed the connection during {name}.{self._stderr()}") from exc
            return ToolResult(f"Error: {exc.error.message}", True)
        except TimeoutError:
            return ToolResult(f"Error: {name} did not answer within {timeout:.0f}s.", True)
        except Exception as exc:  # transport failures: the server is gone, not the model's fault
            raise ToolError(f"MCP server {self.label} failed during {name}: {_describe(exc)}.{self._stderr()}") from exc
        return to_result(result)

    def close(self) -> None:
        """Leave the client's context (the SDK stops the child and its process group) and end the thread."""
        self._shutdown()
        self.errlog.close()

    def _stderr(self) -> str:
        try:
            self.errlog.flush()
            self.errlog.seek(0)
            tail = self.errlog.read()[-2000:].strip()
        except (OSError, ValueError):
            return ""
        return f" The server's stderr ends with:\n{tail}" if tail else ""


def _shutdown(loop: asyncio.AbstractEventLoop, thread: threading.Thread, stopping: asyncio.Event,
              timeout: float) -> None:
    if not loop.is_closed() and thread.is_alive():
        loop.call_soon_threadsafe(stopping.set)
        try:
            asyncio.run_coroutine_threadsafe(_drain(), loop).result(timeout)
        except Exception:  # noqa: BLE001 - best effort; the SDK bounds every wait of its shutdown
            pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
    if not thread.is_alive() and not loop.is_closed():
        loop.close()


async def _drain() -> None:
    """Wait until every other task on this loop (the holder, calls in flight) has finished."""
    me = asyncio.current_task()
    others = [t for t in asyncio.all_tasks() if t is not me]
    if others:
        await asyncio.wait(others)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


def to_result(result: Any) -> ToolResult:
    """The text the model reads for a `CallToolResult`."""
    parts = []
    for block in result.content:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "resource" and hasattr(block.resource, "text"):
            parts.append(block.resource.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind}: {block.mime_type}]")
        else:
            parts.append(f"[{kind}: {getattr(block, 'uri', '')}]")
    text = "\n".join(parts)
    if not text and result.structured_content is not None:
        text = json.dumps(result.structured_content, ensure_ascii=False)
    if result.is_error:
        return ToolResult(text if text.startswith("Error") else f"Error: {text}", True)
    return ToolResult(text)
