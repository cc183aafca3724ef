"""Live mode: call a refresh function every few seconds while a run writes its store; `LiveMetrics`
redraws a training run's metrics as its file grows.

In a notebook the polling runs as a task on the kernel's event loop, so widget updates are sent
from the kernel's own thread between cell executions; elsewhere it runs in a daemon thread.
"""

from __future__ import annotations

import asyncio
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agent_gym import training_log
from agent_gym.widgets import plots


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


class LiveMetrics:
    """A plotly FigureWidget over a metrics file; `refresh()` redraws it, `follow()` polls."""

    def __init__(self, path: str | os.PathLike[str], panels: Sequence[tuple[str, Sequence[str]]] = plots.DEFAULT_PANELS,
                 title: str = "GRPO training (live)") -> None:
        import plotly.graph_objects as go

        self.path = Path(path)
        self.panels = panels
        self.widget = go.FigureWidget(plots.metrics_figure(training_log.read_metrics(self.path), panels, title))
        self._poller: Any = None

    def refresh(self) -> None:
        """Redraw from the file."""
        df = training_log.read_metrics(self.path)
        names = [name for _, names in self.panels for name in names]
        with self.widget.batch_update():
            for trace, name in zip(self.widget.data, names, strict=True):
                trace.x, trace.y = plots.metric_series(df, name)

    def follow(self, interval: float = 2.0) -> None:
        """Redraw every `interval` seconds until `stop()` (for training running in another process)."""
        self._poller = Poller(self.refresh, interval)
        self._poller.start()

    def stop(self) -> None:
        if self._poller is not None:
            self._poller.stop()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
