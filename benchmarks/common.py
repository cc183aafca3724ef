"""Helpers for benchmark modules: rows of the shared table, medians with spread, timers.

A benchmark module returns a list of rows (plain dicts, see `row`). Use `summarize` to turn repeated
measurements into a median with its spread, so that every figure in the table says how noisy it was.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

REQUIRED = ("benchmark", "metric", "value", "unit", "note")
"""Keys every row has."""
OPTIONAL = ("spread", "runs", "target", "params")
"""Keys a row may have: spread [low, high], runs (repeats behind a median), target text, params dict."""


def summarize(values: Iterable[float]) -> dict[str, Any]:
    """Median of repeated measurements, with their [min, max] and how many there were.

    The result is meant to be splatted into `row(...)`: `row("x", "y", unit="s", **summarize(times))`.
    NaN values (failed repeats) are dropped; all-NaN gives value None.
    """
    clean = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not clean:
        return {"value": None, "spread": None, "runs": 0}
    return {"value": statistics.median(clean), "spread": [min(clean), max(clean)], "runs": len(clean)}


def row(
    benchmark: str,
    metric: str,
    value: float | int | str | None,
    unit: str = "",
    note: str = "",
    *,
    spread: Sequence[float] | None = None,
    runs: int | None = None,
    target: str | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One row of the table: `benchmark` (module-level group), `metric` (what), `value` in `unit`.

    `spread` is [low, high] of the repeats behind a median `value`; `runs` their number; `target` what the
    figure is measured against (e.g. ">= 0.95"); `params` the settings (JSON-compatible) it was taken with.
    """
    out: dict[str, Any] = {"benchmark": benchmark, "metric": metric, "value": value, "unit": unit, "note": note}
    if spread is not None:
        out["spread"] = [float(spread[0]), float(spread[1])]
    if runs is not None:
        out["runs"] = int(runs)
    if target is not None:
        out["target"] = target
    if params is not None:
        out["params"] = params
    return out


def check_row(candidate: Any) -> list[str]:
    """What is wrong with a row (empty when it follows the contract)."""
    if not isinstance(candidate, dict):
        return [f"a row must be a dict, got {type(candidate).__name__}"]
    problems = [f"missing key {key!r}" for key in REQUIRED if key not in candidate]
    problems += [f"unknown key {key!r}" for key in candidate if key not in REQUIRED + OPTIONAL]
    for key in ("benchmark", "metric", "unit", "note"):
        if key in candidate and not isinstance(candidate[key], str):
            problems.append(f"{key!r} must be a string")
    value = candidate.get("value")
    if value is not None and not isinstance(value, (int, float, str)):
        problems.append("'value' must be a number, a string or None")
    spread = candidate.get("spread")
    if spread is not None and not (isinstance(spread, (list, tuple)) and len(spread) == 2):
        problems.append("'spread' must be [low, high]")
    return problems


def repeat(fn: Callable[[], float], times: int) -> list[float]:
    """Call `fn` `times` times and return what it measured each time."""
    return [fn() for _ in range(times)]


def timed(fn: Callable[[], Any]) -> float:
    """Wall seconds one call of `fn` takes."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
