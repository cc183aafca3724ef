"""GroupInspector: the n samples of each task (a GRPO group) with rewards, advantages and flags."""

from __future__ import annotations

from typing import Any

import traitlets

from agent_gym.types import Trajectory
from agent_gym.widgets.models.groups import (
    EPS,
    Group,
    group_list_entry,
    group_summary,
    group_view,
    make_groups,
)
from agent_gym.widgets.models.table import Source, read_source
from agent_gym.widgets.models.trajectory import trajectory_view
from agent_gym.widgets.ui.base import AgentGymWidget, ViewerState

STATIC_GROUPS = 300
"""At most this many groups (and their trajectories) are embedded in a static page."""
NOTEBOOK_GROUPS = 30
"""Groups embedded in a notebook output's static copy."""


def _priority(group: Group) -> int:
    """Suspicious winners first, then groups with errors, then zero-variance groups, then the rest."""
    for rank, flag in enumerate(("suspicious_winner", "errors", "zero_variance")):
        if flag in group.flags:
            return rank
    return 3 if len(group.samples) > 1 else 4


class GroupInspector(ViewerState, AgentGymWidget):
    """Every group of a run: mean and std of rewards, each sample's advantage, zero-variance groups
    (no GRPO signal) and suspicious winners (much longer, hedging or empty answers) flagged.
    Click a sample to read it in the viewer below.
    """

    groups = traitlets.List().tag(sync=True)
    """One entry per group (task, n, mean, std, flags), flagged groups first."""
    summary = traitlets.Dict().tag(sync=True)
    """Across groups: counts and the fraction that gives a learning signal."""
    selected_group = traitlets.Unicode("").tag(sync=True)
    """Key of the shown group."""
    group = traitlets.Dict().tag(sync=True)
    """The shown group in detail."""
    selected = traitlets.Unicode("").tag(sync=True)
    """Id of the sample open in the viewer."""

    def __init__(self, source: Source, *, task_id: str | None = None, eps: float = EPS) -> None:
        super().__init__(kind="groups")
        found = make_groups(read_source(source), eps)
        found.sort(key=_priority)
        self._groups: dict[str, Group] = {group_list_entry(g)["key"]: g for g in found}
        self._by_id = {s.trajectory.id: s.trajectory for g in found for s in g.samples}
        self.summary = group_summary(found)
        self.groups = [group_list_entry(g) for g in found]
        start = next((k for k, g in self._groups.items() if g.task_id == task_id), None) if task_id else None
        if start is None and self._groups:
            start = next(iter(self._groups))
        self.selected_group = start or ""

    @property
    def all_groups(self) -> list[Group]:
        """The groups, flagged ones first."""
        return list(self._groups.values())

    @traitlets.observe("selected_group")
    def _on_group(self, change: Any) -> None:
        g = self._groups.get(change["new"])
        self.group = group_view(g) if g else {}

    @traitlets.observe("selected")
    def _on_selected(self, change: Any) -> None:
        t = self._by_id.get(change["new"])
        if t is not None:
            self.show(t)

    def _lookup(self, trajectory_id: str) -> Trajectory | None:
        return self._by_id.get(trajectory_id)

    def notebook_static_state(self) -> dict[str, Any]:
        return self.static_state(NOTEBOOK_GROUPS)

    def static_state(self, limit: int = STATIC_GROUPS) -> dict[str, Any]:
        state = super().static_state()
        keys = list(self._groups)[:limit]
        state["_groups"] = {k: group_view(self._groups[k]) for k in keys}
        state["_trajectories"] = {s.trajectory.id: trajectory_view(s.trajectory, self.max_chars)
                                  for k in keys for s in self._groups[k].samples}
        state["groups"] = [g for g in state["groups"] if g["key"] in state["_groups"]]
        return state
