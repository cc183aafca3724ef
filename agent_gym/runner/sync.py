"""Async work from sync code: `run_sync` (also inside Jupyter's running loop) and `closing_policy`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from agent_gym.policies.base import Policy

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, also inside a running loop (Jupyter).

    With a running loop the coroutine runs on a fresh loop in a worker thread; an interrupt of
    the waiting cell cancels it.
    """
    try:
        asyncio.get_running_loop()
        in_loop = True
    except RuntimeError:
        in_loop = False
    if not in_loop:
        return asyncio.run(coro)
    box: dict[str, Any] = {}
    loop = asyncio.new_event_loop()

    def worker() -> None:
        try:
            box["task"] = loop.create_task(coro)
            box["value"] = loop.run_until_complete(box["task"])
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc
        finally:
            loop.close()

    thread = threading.Thread(target=worker, name="agent-gym-run-sync", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.1)
    except KeyboardInterrupt:
        if "task" in box:
            loop.call_soon_threadsafe(box["task"].cancel)
        thread.join()
        raise
    if "error" in box:
        raise box["error"]
    return box["value"]


async def closing_policy(policy: Policy, coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro`, then close the policy's HTTP client of this loop (the sync twins run each call on
    a loop of their own, so nothing else will reuse it)."""
    try:
        return await coro
    finally:
        close = getattr(policy, "aclose", None)
        if callable(close):
            await close()
