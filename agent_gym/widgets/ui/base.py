"""The anywidget base shared by every view, and the viewer's state (shown trajectory, current turn)."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets
import traitlets

from agent_gym.types import Trajectory
from agent_gym.widgets._assets import css_text, esm_text
from agent_gym.widgets.models.trajectory import (
    MAX_CHARS,
    coerce_trajectory,
    full_segment_text,
    jump_target,
    trajectory_view,
)


class AgentGymWidget(anywidget.AnyWidget):
    """Loads `widgets/agent_gym.js` and `agent_gym.css`; `kind` picks the view it renders."""

    _esm = esm_text()
    _css = css_text()
    kind = traitlets.Unicode("").tag(sync=True)
    """Which view the front-end renders (`viewer`, `table`, `browser`, `compare`, `groups`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_msg(self._on_custom_msg)

    def _lookup(self, trajectory_id: str) -> Trajectory | None:
        """A trajectory this widget shows, for the front-end's requests (full texts)."""
        return None

    def _on_custom_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, Mapping) or content.get("type") != "expand":
            return
        reply = {k: content.get(k) for k in ("trajectory", "message", "segment")} | {"type": "expanded", "text": None}
        t = self._lookup(str(content.get("trajectory")))
        try:
            if t is None:
                raise LookupError("this trajectory is no longer shown")
            reply["text"] = full_segment_text(t.messages[int(content["message"])], int(content["segment"]))
        except (LookupError, ValueError, TypeError) as exc:
            reply["error"] = f"cannot load the full text: {exc}"
        self.send(reply)

    def static_state(self) -> dict[str, Any]:
        """The synced state the front-end needs, plus what a static page uses instead of the kernel."""
        own = set(self.trait_names(sync=True)) - set(ipywidgets.DOMWidget.class_trait_names())
        return {name: getattr(self, name) for name in sorted(own) if not name.startswith("_")}

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The live widget, plus a `text/html` copy that renders without a kernel (`export.page.render_fragment`).

        Front-ends with a live kernel show the widget; an HTML copy of the executed notebook, JupyterLab
        opening it later (untrusted: the plain fallback; trusted: the full static view), and any viewer
        without the widget manager show the copy. `AGENT_GYM_STATIC_OUTPUT=0` leaves the copy out.
        """
        bundle = super()._repr_mimebundle_(**kwargs)  # anywidget: (data, metadata)
        if bundle is None or os.environ.get("AGENT_GYM_STATIC_OUTPUT", "1") == "0":
            return bundle
        from agent_gym.widgets.export.page import render_fragment

        data, metadata = bundle
        try:
            copy = render_fragment(self.notebook_static_state(), type(self).__name__)
        except Exception as exc:  # the live widget must still show when its copy cannot be made
            copy = f"<p>{type(self).__name__}: no static copy ({html.escape(repr(exc))})</p>"
        return {**data, "text/html": copy}, metadata

    def notebook_static_state(self) -> dict[str, Any]:
        """The static state embedded in notebook outputs (views with many records embed fewer there)."""
        return self.static_state()

    def to_html(self, path: str | os.PathLike[str] | None = None, title: str | None = None) -> str | Path:
        """This view as a self-contained offline HTML page (returned as text, or written to `path`)."""
        from agent_gym.widgets.export.page import Section, write_page

        return write_page([Section(self.static_state(), title=None)], path, title=title or type(self).__name__)


class ViewerState(traitlets.HasTraits):
    """What a trajectory viewer shows: one trajectory (as a view model) and the current turn."""

    trajectory = traitlets.Dict().tag(sync=True)
    """The shown trajectory as `view.trajectory_view` made it ({} for none)."""
    turn = traitlets.Int(0).tag(sync=True)
    """Current turn, from 0."""

    _shown: Trajectory | None = None
    max_chars: int = MAX_CHARS

    def show(self, trajectory: Trajectory | Mapping[str, Any] | None, turn: int = 0) -> None:
        """Display `trajectory` (a record or a possibly damaged dict) at `turn`."""
        if trajectory is None:
            self._shown, self.trajectory, self.turn = None, {}, 0
            return
        record, _ = coerce_trajectory(trajectory)
        self._shown = record
        with self.hold_trait_notifications():
            self.trajectory = trajectory_view(trajectory, self.max_chars)
            self.turn = max(0, min(turn, len(self.trajectory["turns"]) - 1))

    @property
    def shown(self) -> Trajectory | None:
        """The trajectory on screen."""
        return self._shown

    def go(self, where: str | int) -> int:
        """Move to a turn number or to `first`, `last`, `next`, `prev`, `error` or `change`; return it."""
        count = len(self.trajectory.get("turns", ()))
        target = where if isinstance(where, int) else jump_target(self.trajectory, self.turn, where)
        self.turn = max(0, min(target, count - 1)) if count else 0
        return self.turn

    def next(self) -> int:
        """Go to the next turn."""
        return self.go("next")

    def prev(self) -> int:
        """Go to the previous turn."""
        return self.go("prev")

    @traitlets.validate("turn")
    def _valid_turn(self, proposal: Any) -> int:
        count = len(self.trajectory.get("turns", ()))
        return max(0, min(int(proposal["value"]), count - 1)) if count else 0
