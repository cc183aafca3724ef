"""A training run's per-step metrics file (JSONL): written by `agent_gym.train.MetricsLogger`, read by
the widgets and scripts. Like the trajectory store, it is a contract between stages."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


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
