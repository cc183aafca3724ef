"""TrajectoryViewer: one trajectory, turn by turn (buttons, slider, keys ← → Home End e r a t)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import traitlets

from agent_gym.store import TrajectoryStore
from agent_gym.types import Trajectory
from agent_gym.widgets.models.tokens import lens_view
from agent_gym.widgets.ui.base import AgentGymWidget, ViewerState
from agent_gym.widgets.ui.live import Poller
from agent_gym.widgets.ui.token_lens import as_drift, load_tokenizer


class TrajectoryViewer(ViewerState, AgentGymWidget):
    """Step through a trajectory: messages by role, collapsible thinking, tool calls with their
    responses, per-turn and final rewards with components, judge rationale, errors and metadata.

    `TrajectoryViewer(t)` shows a record; `TrajectoryViewer(store=path, live=True)` follows a store
    that a run is writing and shows each new trajectory as it arrives.
    Keys (click the viewer first): ← → turns, Home/End, `e` first error, `r` next reward change,
    `a` all turns, `t` open thinking. `tokenizer=` (a tokenizer or model folder) adds a Tokens tab: the
    trajectory as the trainer sees it (`TokenLens`), with `drift=` (`check_drift(...)`) marking the first
    divergence.
    """

    live = traitlets.Bool(False).tag(sync=True)
    """Following a store that is being written."""
    lens = traitlets.Dict().tag(sync=True)
    """The shown trajectory in the token lens (its Tokens tab), when a tokenizer was given and it has tokens."""

    def __init__(
        self,
        trajectory: Trajectory | Mapping[str, Any] | None = None,
        *,
        store: TrajectoryStore | str | os.PathLike[str] | None = None,
        live: bool = False,
        interval: float = 1.0,
        turn: int = 0,
        tokenizer: Any = None,
        drift: Any = None,
    ) -> None:
        super().__init__(kind="viewer")
        self._tokenizer = load_tokenizer(tokenizer) if tokenizer is not None else None
        self._drift = drift
        self._store = TrajectoryStore(store) if isinstance(store, str | os.PathLike) else store
        self._poller: Poller | None = None
        if trajectory is None and self._store is not None:
            latest = self._store.latest()
            trajectory = latest[-1] if latest else None
        self.show(trajectory, turn)
        if live:
            self.start_live(interval)

    def show(self, trajectory: Trajectory | Mapping[str, Any] | None, turn: int = 0) -> None:
        """Display `trajectory` at `turn`; with a tokenizer, also in the Tokens tab (the token lens)."""
        super().show(trajectory, turn)
        shown = self.shown
        if getattr(self, "_tokenizer", None) is None or shown is None or shown.tokens is None:
            self.lens = {}
            return
        drift = self._drift.by_id(shown.id) if hasattr(self._drift, "by_id") else self._drift
        self.lens = lens_view(shown, self._tokenizer, drift=as_drift(drift))

    def _lookup(self, trajectory_id: str) -> Trajectory | None:
        return self.shown if self.shown is not None and self.shown.id == trajectory_id else None

    def refresh(self) -> bool:
        """Show the store's newest trajectory if it changed; True when it did."""
        if self._store is None:
            return False
        records = self._store.read()
        if records and (self.shown is None or records[-1].id != self.shown.id):
            self.show(records[-1])
            return True
        return False

    def start_live(self, interval: float = 1.0) -> None:
        """Poll the store every `interval` seconds (on the kernel's event loop)."""
        if self._store is None:
            raise ValueError("live mode needs a store: TrajectoryViewer(store='runs/x.jsonl', live=True)")
        self.stop_live()
        self._poller = Poller(self.refresh, interval)
        self._poller.start()
        self.live = True

    def stop_live(self) -> None:
        """Stop following the store."""
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        self.live = False
