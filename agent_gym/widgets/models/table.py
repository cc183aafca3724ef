"""Runs as a pandas table: loading one or several runs, filtering, sorting and paging.

`RunTable` and `RunBrowser` keep the frame in the kernel and send the browser only the page it
shows, so a run of 10,000 trajectories stays light in the notebook.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_gym.frames import run_frame, summary_row
from agent_gym.stats import run_stats
from agent_gym.store import TrajectoryStore
from agent_gym.types import Trajectory

if TYPE_CHECKING:
    import pandas as pd

Source = TrajectoryStore | str | os.PathLike[str] | Sequence[Trajectory]
"""A run: a store, a path to one, or trajectories in memory."""
Sources = Source | Mapping[str, Source]
"""One run, or several named ones (`{"before": store_a, "after": store_b}`)."""

COLUMNS = (
    "run", "id", "env", "task_id", "sample_index", "model", "policy", "reward", "success", "turns",
    "tool_calls", "total_tokens", "seconds", "queue_seconds", "error", "final_answer",
)
"""Columns the table shows, in order (reward components follow as `reward/<name>`)."""
SEARCHED = ("id", "task_id", "env", "model", "policy", "error", "error_message", "final_answer", "run")
STATUSES = ("all", "success", "failure", "error", "ok")


def as_store(source: Source) -> TrajectoryStore | None:
    """The store behind a source, if it is one (stores are read incrementally)."""
    if isinstance(source, TrajectoryStore):
        return source
    if isinstance(source, str | os.PathLike):
        return TrajectoryStore(source)
    return None


def named_sources(sources: Sources) -> dict[str, Source]:
    """`{run name: source}`; a single source is named after its file (or `run`)."""
    if isinstance(sources, Mapping):
        return dict(sources)
    store = as_store(sources)  # type: ignore[arg-type]
    return {store.path.stem if store is not None else "run": sources}  # type: ignore[dict-item]


def read_source(source: Source, latest: bool = True) -> list[Trajectory]:
    """The trajectories of one run (the latest attempt of each job for a store)."""
    store = as_store(source)
    if store is not None:
        return store.latest() if latest else store.read()
    return list(source)  # type: ignore[arg-type]


def source_rows(source: Source, latest: bool = True) -> list[dict[str, Any]]:
    """The summary rows of one run; a store's come straight from its JSON (no record is validated)."""
    store = as_store(source)
    if store is not None:
        return store.summaries(latest)
    return [summary_row(t) for t in source]  # type: ignore[union-attr]


def frame(runs: Mapping[str, Sequence[Trajectory] | Sequence[Mapping[str, Any]]]) -> pd.DataFrame:
    """One row per trajectory of every run (records or summary rows), `key` = `run/id` (unique across runs)."""
    return run_frame(dict(runs))


@dataclass(frozen=True)
class Query:
    """What the table is asked to show."""

    text: str = ""
    """Case-insensitive words that must all appear in a row (ids, env, model, error, answer); a text
    starting with `=` is a pandas query instead, e.g. `=reward > 0.5 and turns <= 2`."""
    env: str = ""
    """Only this environment ('' for all)."""
    model: str = ""
    """Only this model ('' for all; `(none)` for rows without a model)."""
    run: str = ""
    """Only this run ('' for all)."""
    status: str = "all"
    """`all`, `success`, `failure` (success is False), `error` (the episode failed) or `ok` (no error)."""
    sort_by: str = ""
    """Column to sort by ('' keeps file order)."""
    descending: bool = False
    """Sort from high to low."""
    page: int = 0
    """Page to show, from 0."""
    page_size: int = 25
    """Rows per page."""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if self.page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {self.page_size}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Query:
        """From the browser's `query` dict (unknown keys ignored, bad values reset)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        try:
            return cls(**known)
        except (TypeError, ValueError):
            return cls()


def apply_query(df: pd.DataFrame, query: Query) -> tuple[pd.DataFrame, int, str | None]:
    """The rows matching `query`, sorted: (this page, number of matching rows, error of a bad query)."""
    matched, error = matching_rows(df, query)
    return page_of(matched, query), len(matched), error


def page_of(matched: pd.DataFrame, query: Query) -> pd.DataFrame:
    """The page `query` asks for of already matched rows, sorted as it asks."""
    if query.sort_by and query.sort_by in matched.columns:
        matched = matched.sort_values(query.sort_by, ascending=not query.descending, kind="stable", na_position="last")
    pages = max(1, math.ceil(len(matched) / query.page_size))
    page = min(max(query.page, 0), pages - 1)
    start = page * query.page_size
    return matched.iloc[start:start + query.page_size]


def header_stats(matched: pd.DataFrame) -> list[dict[str, Any]]:
    """Per run, the statistics of the rows a query matched (`stats.run_stats`): episodes, errors, success
    and mean reward with 95% intervals, pass@k; what the run table's header shows."""
    if matched.empty:
        return []
    groups = matched.groupby("run", sort=False) if "run" in matched.columns else [("", matched)]
    return [{"run": run, **run_stats(rows.to_dict("records"), max_k=3, resamples=500).to_dict()}
            for run, rows in groups]


def matching_rows(df: pd.DataFrame, query: Query) -> tuple[pd.DataFrame, str | None]:
    """The rows matching `query`'s filters and text, in file order, and the error of a bad query."""
    error = None
    mask = _mask(df, query)
    if query.text.strip().startswith("="):
        try:
            matched = df[mask].query(query.text.strip()[1:])
        except Exception as exc:  # noqa: BLE001 - a user's expression; show the error instead
            matched, error = df[mask], f"{type(exc).__name__}: {exc}"
    else:
        matched = df[mask & _text_mask(df, query.text)]
    return matched, error


def _mask(df: pd.DataFrame, query: Query) -> pd.Series:
    import pandas as pd

    mask = pd.Series(True, index=df.index)
    if query.env:
        mask &= df["env"] == query.env
    if query.run:
        mask &= df["run"] == query.run
    if query.model:
        mask &= df["model"].isna() if query.model == "(none)" else df["model"] == query.model
    if query.status == "success":
        mask &= df["success"] == True  # noqa: E712 - object column with None
    elif query.status == "failure":
        mask &= df["success"] == False  # noqa: E712
    elif query.status == "error":
        mask &= df["error"].notna()
    elif query.status == "ok":
        mask &= df["error"].isna()
    return mask


def _text_mask(df: pd.DataFrame, text: str) -> pd.Series:
    import pandas as pd

    mask = pd.Series(True, index=df.index)
    words = text.lower().split()
    if not words or df.empty:
        return mask
    haystack = None
    for column in (c for c in SEARCHED if c in df.columns):
        text = df[column].astype("object").where(df[column].notna(), "None").astype(str)
        haystack = text if haystack is None else haystack + " " + text
    haystack = haystack.str.lower()
    for word in words:
        mask &= haystack.str.contains(word, regex=False)
    return mask


def page_rows(page: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (NaN and None become null)."""
    cols = [c for c in (*COLUMNS, "key") if c in page.columns]
    cols += sorted(c for c in page.columns if c.startswith("reward/"))
    out = []
    for record in page[cols].to_dict("records"):
        out.append({k: _json_value(v) for k, v in record.items()})
    return out


def _json_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    return value


def choices(df: pd.DataFrame) -> dict[str, list[str]]:
    """Values offered by the table's drop-downs."""
    if df.empty:
        return {"env": [], "model": [], "run": []}
    models = sorted({str(m) for m in df["model"].dropna()})
    if df["model"].isna().any():
        models.append("(none)")
    return {"env": sorted({str(e) for e in df["env"]}), "model": models, "run": sorted({str(r) for r in df["run"]})}
