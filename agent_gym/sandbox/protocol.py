"""The host's side of the Python session's protocol: every byte from the sandbox is untrusted.

A reply is one frame (see `agent_gym.sandbox.server`): a fixed-size header naming the request's
nonce and the body's length, then the body. The host reads exactly a header, checks it, then reads
exactly the body it announced, never more: anything else on the channel (bytes the code wrote to the
server's pipe, a frame for another request, a body too long for any real reply or that is not a reply)
is a forgery, and the session is stopped. A flood costs the host one header's worth of reading. Bytes
that arrive when no call is waiting are noticed before the next request (`stray_bytes`).

A forgery can only be detected, not prevented: the code runs inside the server's process, so it can
reach its pipes, and the current request's nonce, through /proc and the interpreter's frames. What it
can fake that way is its own call's answer, which it controls anyway; the real reply then arrives
unasked and the session is replaced before the next call, so later calls are answered correctly.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import time
from dataclasses import dataclass
from typing import Any

from agent_gym.sandbox.proc import Watch
from agent_gym.sandbox.server import HEADER_FORMAT, HEADER_SIZE, READY_NONCE

__all__ = ["HEADER_FORMAT", "HEADER_SIZE", "READY_NONCE", "Reply", "read_reply", "send", "stray_bytes"]

_HEADER = re.compile(re.escape(HEADER_FORMAT.split(" ")[0]).encode() + rb" ([0-9a-f]{32}) ([0-9]{10})\n")


@dataclass(frozen=True)
class Reply:
    """What reading one reply gave."""

    kind: str
    """'frame' (a well-formed reply to this request), 'eof', 'timeout', 'forged', or 'watch' (the watch
    found a problem while waiting)."""
    body: dict[str, Any] | None = None
    """The frame's body ('frame' only)."""
    detail: str = ""
    """What was wrong, in words ('forged', 'watch')."""


def send(fd: int, data: bytes, deadline: float) -> str | None:
    """Write all of `data` to the pipe `fd` by `deadline` without ever blocking past it: None when written,
    else 'timeout' (nobody reads) or 'eof' (nobody will)."""
    view = memoryview(data)
    os.set_blocking(fd, False)
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_WRITE)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            if not selector.select(remaining):
                continue
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                continue
            except OSError:  # EPIPE: the server is gone
                return "eof"
    return None


def read_reply(fd: int, nonce: str, deadline: float, max_body: int, watch: Watch | None = None) -> Reply:
    """The reply to the request carrying `nonce`, read from the pipe `fd` (exactly one frame, no further)."""
    header = _read_exactly(fd, HEADER_SIZE, deadline, watch)
    if isinstance(header, Reply):
        return header
    match = _HEADER.fullmatch(header)
    if match is None:
        return Reply("forged", detail="the reply channel carried bytes that were not a reply")
    if match.group(1).decode() != nonce:
        return Reply("forged", detail="the reply channel carried a reply to another request")
    length = int(match.group(2))
    if length > max_body:
        return Reply("forged", detail=f"the reply announced {length:,} bytes, more than any real reply")
    body = _read_exactly(fd, length, deadline, watch)
    if isinstance(body, Reply):
        return body
    try:
        parsed = json.loads(body)
    except ValueError:
        return Reply("forged", detail="the reply's body was not JSON")
    if nonce != READY_NONCE and not _is_reply(parsed):
        return Reply("forged", detail="the reply's body was not a reply")
    return Reply("frame", parsed)


def stray_bytes(fd: int) -> bool | None:
    """Between calls: whether the pipe `fd` holds bytes nobody asked for (True), is at its end (None: the
    server is gone), or is quiet (False). Consumes at most one byte; call it only to decide to restart."""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        if not selector.select(0):
            return False
    try:
        return True if os.read(fd, 1) else None
    except BlockingIOError:
        return False


def _is_reply(body: object) -> bool:
    if not isinstance(body, dict):
        return False
    counts = (body.get("size"), body.get("stopped"))
    return (body.get("status") in ("ok", "error") and isinstance(body.get("head"), str)
            and isinstance(body.get("tail"), str) and all(type(n) is int and n >= 0 for n in counts))


def _read_exactly(fd: int, n: int, deadline: float, watch: Watch | None) -> bytes | Reply:
    got = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while len(got) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Reply("timeout")
            if watch is not None and (found := watch.look()) is not None:
                return Reply("watch", detail=found)
            wait = remaining if watch is None else min(remaining, watch.wait_time() + 0.001)
            if not selector.select(wait):
                continue
            try:
                chunk = os.read(fd, n - len(got))
            except BlockingIOError:
                continue
            if not chunk:
                return Reply("eof")
            got += chunk
    return bytes(got)
