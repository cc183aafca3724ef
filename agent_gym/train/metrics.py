"""Per-step training metrics: a JSONL file written during training, and plotly figures that follow it.

`MetricsLogger` is a `transformers.TrainerCallback`: every time the trainer logs (every step with
`logging_steps=1`) it appends one JSON line holding the step, the wall time and everything the
trainer logged — for GRPO that is TRL's `loss`, `kl`, `reward`, `reward_std`, `frac_reward_zero_std`
(the zero-variance group fraction), `entropy`, `completions/*`, plus agent_gym's `env/*` metrics
(`env/horizon`, `env/success`, `env/turns`, `env/valid_tool_calls`, `env/zero_variance_groups` …).

`agent_gym.training_log.read_metrics(path)` loads the file as a DataFrame;
`agent_gym.widgets.plots.metrics_figure(path)` draws it and `agent_gym.widgets.LiveMetrics(path)` redraws
as the file grows (pass it to `grpo(live=…)` to refresh on every log: anything with `refresh()` will do).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any


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
