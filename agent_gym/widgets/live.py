"""Live mode: call a refresh function every few seconds while a run writes its store.

In a notebook the polling runs as a task on the kernel's event loop, so widget updates are sent
from the kernel's own thread between cell executions; elsewhere it runs in a daemon thread.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Callable


class Poller:
    """Calls `refresh()` every `interval` seconds until `stop()` (or until `refresh` raises)."""

    def __init__(self, refresh: Callable[[], object], interval: float = 1.0) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.refresh = refresh
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def running(self) -> bool:
        return (self._task is not None and not self._task.done()) or (self._thread is not None and self._thread.is_alive())

    def start(self) -> None:
        """Start polling (on the running event loop if there is one, else in a thread)."""
        if self.running:
            return
        self._stop.clear()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            self._task = loop.create_task(self._run_async())
        else:
            self._thread = threading.Thread(target=self._run_thread, name="agent-gym-live", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _tick(self) -> bool:
        try:
            self.refresh()
        except Exception as exc:  # noqa: BLE001 - report once and stop instead of spamming the notebook
            warnings.warn(f"live view stopped: {type(exc).__name__}: {exc}", stacklevel=2)
            self._stop.set()
            return False
        return True

    async def _run_async(self) -> None:
        while not self._stop.is_set() and self._tick():
            await asyncio.sleep(self.interval)

    def _run_thread(self) -> None:
        while not self._stop.is_set() and self._tick():
            self._stop.wait(self.interval)
