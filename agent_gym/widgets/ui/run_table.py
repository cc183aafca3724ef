"""RunTable (a sortable, filterable table of runs) and RunBrowser (the table with a viewer under it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import traitlets

from agent_gym.types import Trajectory
from agent_gym.widgets.models.table import (
    Query,
    Sources,
    apply_query,
    as_store,
    choices,
    frame,
    header_stats,
    matching_rows,
    named_sources,
    page_of,
    page_rows,
    source_rows,
)
from agent_gym.widgets.models.trajectory import trajectory_view
from agent_gym.widgets.ui.base import AgentGymWidget, ViewerState
from agent_gym.widgets.ui.live import Poller

if TYPE_CHECKING:
    import pandas as pd

    from agent_gym.widgets.ui.trajectory_viewer import TrajectoryViewer

STATIC_TRAJECTORIES = 2_000
"""At most this many trajectories are embedded in a static page (the table still lists all)."""
NOTEBOOK_TRAJECTORIES = 100
"""At most this many trajectories are embedded in a notebook output's static copy."""


class RunTable(AgentGymWidget):
    """One or several runs as a table: sort by a column header, filter by words, environment,
    model, run or outcome (or a pandas expression starting with `=`); click a row to open it.

    `RunTable(store, viewer=TrajectoryViewer())` opens the clicked row in that viewer;
    `live=True` adds the rows a run appends to its store while you watch.
    """

    rows = traitlets.List().tag(sync=True)
    """The rows of the current page."""
    total = traitlets.Int(0).tag(sync=True)
    """Rows matching the query."""
    count = traitlets.Int(0).tag(sync=True)
    """Rows in all."""
    query = traitlets.Dict().tag(sync=True)
    """The browser's filter/sort/page state (see `table.Query`)."""
    query_error = traitlets.Unicode("").tag(sync=True)
    """Why the last pandas expression failed ('' when it did not)."""
    choices = traitlets.Dict().tag(sync=True)
    """Values of the drop-downs: env, model, run."""
    selected = traitlets.Unicode("").tag(sync=True)
    """Key (`run/id`) of the selected row."""
    live = traitlets.Bool(False).tag(sync=True)
    """Following stores that are being written."""
    stats = traitlets.List().tag(sync=True)
    """Per run, the statistics of the rows the filters match (`table.header_stats`): the header's numbers."""

    _kind = "table"

    def __init__(
        self,
        sources: Sources,
        *,
        viewer: TrajectoryViewer | None = None,
        page_size: int = 25,
        live: bool = False,
        interval: float = 1.0,
        follow: bool = False,
    ) -> None:
        super().__init__(kind=self._kind)
        # a path becomes one store, read incrementally from then on
        self._sources = {name: src if (store := as_store(src)) is None else store for name, src in named_sources(sources).items()}
        self.viewer = viewer
        self.follow = follow
        self._poller: Poller | None = None
        self._runs: dict[str, list[dict[str, Any]]] = {}
        self._where: dict[str, tuple[str, str]] = {}  # key -> (run, trajectory id)
        self._records: dict[str, Trajectory] = {}  # records parsed so far, by key
        self.df: pd.DataFrame = frame({})
        self._stats_for: tuple[Any, ...] = ()
        self.query = {"page_size": page_size}
        self.reload()
        if live:
            self.start_live(interval)

    # -- data
    def reload(self) -> None:
        """Read every run again and redraw."""
        self._runs = {name: source_rows(src) for name, src in self._sources.items()}
        self._rebuild()

    def refresh(self) -> int:
        """Read what the stores gained since the last read; return how many new rows appeared."""
        before = self.count
        fresh = {name: source_rows(src) for name, src in self._sources.items() if as_store(src) is not None}
        if all(len(fresh[n]) == len(self._runs.get(n, ())) and (not fresh[n] or fresh[n][-1]["id"] == self._runs[n][-1]["id"]) for n in fresh):
            return 0
        self._runs.update(fresh)
        self._rebuild()
        if self.follow and self.count > before and not self.df.empty:
            self.select(self.df["key"].iloc[-1])
        return self.count - before

    def _rebuild(self) -> None:
        self._where = {f"{run}/{r['id']}": (run, r["id"]) for run, rows in self._runs.items() for r in rows}
        self._records = {k: t for k, t in self._records.items() if k in self._where}
        self.df = frame(self._runs)
        with self.hold_trait_notifications():
            self.count = len(self.df)
            self.choices = choices(self.df)
            self._recompute()

    def _recompute(self) -> None:
        query = Query.from_dict(self.query)
        matched, error = matching_rows(self.df, query)  # filtered once: for the page and the header
        self.rows = page_rows(page_of(matched, query))
        self.total = len(matched)
        self.query_error = error or ""
        filters = (id(self.df), query.text, query.env, query.model, query.run, query.status)
        if filters != self._stats_for:  # paging and sorting leave the statistics as they are
            self._stats_for = filters
            self.stats = header_stats(matched)
            self._follow_filter(matched)

    _select_first = False
    """Open the first shown row whenever nothing is open (RunBrowser's `select_first`)."""

    def _follow_filter(self, matched: pd.DataFrame) -> None:
        """The viewer never shows a row the filters hide: it moves to the first shown row, or clears."""
        hidden = bool(self.selected) and ("key" not in matched or self.selected not in set(matched["key"]))
        if hidden or (not self.selected and self._select_first):
            self.selected = self.rows[0]["key"] if self.rows else ""

    @traitlets.observe("query")
    def _on_query(self, _change: Any) -> None:
        self._recompute()

    # -- selection
    @traitlets.observe("selected")
    def _on_selected(self, change: Any) -> None:
        self._open(self.record(change["new"]) if change["new"] else None)

    def _open(self, t: Trajectory | None) -> None:
        if self.viewer is not None:
            self.viewer.show(t)

    def select(self, key_or_id: str) -> Trajectory:
        """Select a row by key (`run/id`) or trajectory id; it opens in the viewer."""
        key = self._key_of(key_or_id)
        if key is None:
            raise KeyError(f"no trajectory {key_or_id!r} in this table")
        self.selected = key
        return self.record(key)  # type: ignore[return-value]

    def record(self, key: str) -> Trajectory | None:
        """The record of row `key` (`run/id`), parsed from its store on first use."""
        if key not in self._records:
            if key not in self._where:
                return None
            run, trajectory_id = self._where[key]
            source = self._sources[run]
            store = as_store(source)
            if store is not None:
                self._records[key] = store.get(trajectory_id)
            else:
                self._records[key] = next(t for t in source if t.id == trajectory_id)  # type: ignore[union-attr]
        return self._records[key]

    @property
    def selected_trajectory(self) -> Trajectory | None:
        """The trajectory of the selected row."""
        return self.record(self.selected)

    def _key_of(self, key_or_id: str) -> str | None:
        """The row key of a key (`run/id`) or of a trajectory id."""
        if key_or_id in self._where:
            return key_or_id
        return next((k for k, (_, i) in self._where.items() if i == key_or_id), None)

    def _lookup(self, trajectory_id: str) -> Trajectory | None:
        key = self._key_of(trajectory_id)
        return self.record(key) if key is not None else None

    # -- filtering from Python
    def filter(self, **query: Any) -> pd.DataFrame:
        """Set the filter (e.g. `status="error"`, `text="calc-003"`, `sort_by="reward"`) and return all matching rows."""
        merged = {"page_size": self.query.get("page_size", 25)} | query
        Query.from_dict(merged)  # reject nothing silently: bad values fall back to defaults
        self.query = merged
        return self.filtered()

    def filtered(self) -> pd.DataFrame:
        """Every row matching the current query (not just the page)."""
        q = Query.from_dict(self.query | {"page": 0, "page_size": max(1, len(self.df))})
        return apply_query(self.df, q)[0]

    # -- live
    def start_live(self, interval: float = 1.0) -> None:
        """Poll the stores every `interval` seconds (on the kernel's event loop)."""
        if not any(as_store(src) is not None for src in self._sources.values()):
            raise ValueError("live mode needs at least one store (a TrajectoryStore or a path)")
        self.stop_live()
        self._poller = Poller(self.refresh, interval)
        self._poller.start()
        self.live = True

    def stop_live(self) -> None:
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        self.live = False

    # -- static export
    def static_state(self) -> dict[str, Any]:
        state = super().static_state()
        state["_all_rows"] = page_rows(self.df)
        return state


class RunBrowser(ViewerState, RunTable):
    """A RunTable with a TrajectoryViewer under it, in one widget: click a row to read it.

    `RunBrowser(store, live=True, follow=True)` shows each trajectory as the run writes it.
    """

    _kind = "browser"

    def __init__(self, sources: Sources, *, page_size: int = 10, live: bool = False, interval: float = 1.0,
                 follow: bool = False, select_first: bool = True) -> None:
        self._select_first = select_first
        super().__init__(sources, page_size=page_size, live=live, interval=interval, follow=follow)
        if select_first and self.rows and not self.selected:
            self.select(self.rows[0]["key"])

    def _open(self, t: Trajectory | None) -> None:
        self.show(t)

    def _lookup(self, trajectory_id: str) -> Trajectory | None:
        if self.shown is not None and self.shown.id == trajectory_id:
            return self.shown
        return super()._lookup(trajectory_id)

    def notebook_static_state(self) -> dict[str, Any]:
        return self.static_state(NOTEBOOK_TRAJECTORIES)

    def static_state(self, limit: int = STATIC_TRAJECTORIES) -> dict[str, Any]:
        state = super().static_state()
        keys = list(self._where)[:limit]
        if self.selected and self.selected not in keys:
            keys.append(self.selected)
        state["_trajectories"] = {k: trajectory_view(self.record(k), self.max_chars) for k in keys}
        return state
