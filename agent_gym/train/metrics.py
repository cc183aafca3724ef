"""Per-step training metrics: a JSONL file written during training, and plotly figures that follow it.

`MetricsLogger` is a `transformers.TrainerCallback`: every time the trainer logs (every step with
`logging_steps=1`) it appends one JSON line holding the step, the wall time and everything the
trainer logged — for GRPO that is TRL's `loss`, `kl`, `reward`, `reward_std`, `frac_reward_zero_std`
(the zero-variance group fraction), `entropy`, `completions/*`, plus agent_gym's `env/*` metrics
(`env/horizon`, `env/success`, `env/turns`, `env/valid_tool_calls`, `env/zero_variance_groups` …).

`read_metrics(path)` loads the file as a DataFrame; `metrics_figure(path)` draws it;
`LiveMetrics(path)` is a FigureWidget that redraws as the file grows (pass it to `grpo(live=…)` to
refresh on every log, or call `follow()` to poll while training runs elsewhere).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("reward", ("reward", "env/success")),
    ("turns and horizon", ("env/turns", "env/horizon")),
    ("zero-variance groups", ("frac_reward_zero_std",)),
    ("loss and KL", ("loss", "kl")),
)
"""Panels of `metrics_figure`: (title, metric names)."""


class MetricsLogger:
    """A `transformers.TrainerCallback` that appends one JSON line per trainer log to `path`.

    Duck-typed (every other `on_*` event is a no-op) so that importing this module does not import
    transformers; pass it in `callbacks=[...]` like any callback.
    """

    def __init__(self, path: str | os.PathLike[str], extra: dict[str, Any] | None = None,
                 live: Any = None) -> None:
        self.path = Path(path)
        self.extra = dict(extra or {})
        self.live = live
        self.t0 = time.time()

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not logs or not state.is_world_process_zero:
            return
        self.write({"step": state.global_step, **logs})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("on_"):
            return _ignore
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (NaN and infinities become null)."""
        line = {**self.extra, "time": round(time.time() - self.t0, 3), **record}
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in line.items()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(clean, default=str) + "\n")
        if self.live is not None:
            self.live.refresh()


def _ignore(*args: Any, **kwargs: Any) -> None:
    """A callback event this logger does not use."""


def read_metrics(path: str | os.PathLike[str]) -> Any:
    """The metrics file as a pandas DataFrame (empty when the file does not exist yet)."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        return pd.DataFrame()
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue  # a line being written
    return pd.DataFrame(rows)


def metrics_figure(path_or_frame: Any, panels: Sequence[tuple[str, Sequence[str]]] = DEFAULT_PANELS,
                   title: str = "GRPO training") -> Any:
    """A plotly figure with one panel per (title, metrics) pair, step on the x axis."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    df = path_or_frame if hasattr(path_or_frame, "columns") else read_metrics(path_or_frame)
    fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, subplot_titles=[p[0] for p in panels])
    for row, (_, names) in enumerate(panels, start=1):
        for name in names:
            xs, ys = _series(df, name)
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=name), row=row, col=1)
    fig.update_layout(title=title, height=220 * len(panels), margin={"t": 60, "b": 40})
    fig.update_xaxes(title_text="step", row=len(panels), col=1)
    return fig


def _series(df: Any, name: str) -> tuple[list[Any], list[Any]]:
    if df is None or len(df) == 0 or name not in df.columns or "step" not in df.columns:
        return [], []
    part = df[["step", name]].dropna()
    return part["step"].tolist(), part[name].tolist()


class LiveMetrics:
    """A plotly FigureWidget over a metrics file; `refresh()` redraws it, `follow()` polls."""

    def __init__(self, path: str | os.PathLike[str], panels: Sequence[tuple[str, Sequence[str]]] = DEFAULT_PANELS,
                 title: str = "GRPO training (live)") -> None:
        import plotly.graph_objects as go

        self.path = Path(path)
        self.panels = panels
        self.widget = go.FigureWidget(metrics_figure(read_metrics(self.path), panels, title))
        self._poller: Any = None

    def refresh(self) -> None:
        """Redraw from the file."""
        df = read_metrics(self.path)
        names = [name for _, names in self.panels for name in names]
        with self.widget.batch_update():
            for trace, name in zip(self.widget.data, names, strict=True):
                trace.x, trace.y = _series(df, name)

    def follow(self, interval: float = 2.0) -> None:
        """Redraw every `interval` seconds until `stop()` (for training running in another process)."""
        from ..widgets.live import Poller

        self._poller = Poller(self.refresh, interval)
        self._poller.start()

    def stop(self) -> None:
        if self._poller is not None:
            self._poller.stop()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
