"""CompareView: the same task from two runs side by side, aligned by turn, differences marked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import traitlets

from agent_gym.types import Trajectory
from agent_gym.widgets.models.compare import (
    branch_choice,
    branch_label,
    branch_link,
    flipped_first,
    pair_choice,
    pair_view,
    paired_summary,
    pairs,
)
from agent_gym.widgets.models.table import Source, named_sources, read_source
from agent_gym.widgets.ui.base import AgentGymWidget

STATIC_PAIRS = 200
"""At most this many pairs are embedded in a static page."""
NOTEBOOK_PAIRS = 40
"""Pairs embedded in a notebook output's static copy."""


class CompareView(AgentGymWidget):
    """Two trajectories of one task, turn by turn: what each did, and where they differ.

    `CompareView(a, b)` compares two records; `CompareView.runs(before, after)` pairs two runs by
    (task, sample), heads the view with the paired statistics (gained / lost / same tasks, the exact sign
    test, the success and reward differences with intervals, tasks only one run played) and offers every
    pair in a drop-down (`choice`), the tasks whose outcome flipped first.
    """

    pair = traitlets.Dict().tag(sync=True)
    """The compared pair as `compare.compare_view` made it."""
    choices = traitlets.List().tag(sync=True)
    """Pairs to choose from (for two runs)."""
    choice = traitlets.Unicode("").tag(sync=True)
    """Key (`task#sample`) of the shown pair."""
    stats = traitlets.Dict().tag(sync=True)
    """For two runs: the paired statistics (`stats.paired_comparison(...).to_dict()` and its `text`)."""

    def __init__(self, a: Trajectory | None = None, b: Trajectory | None = None, *,
                 labels: Sequence[str] = ("A", "B"), candidates: Sequence[tuple[Trajectory, Trajectory]] = ()) -> None:
        super().__init__(kind="compare")
        self.labels = tuple(labels)
        self._labels: dict[str, tuple[str, ...]] = {}
        """Labels of single pairs (branches), where they differ from `labels`."""
        self._pairs = {pair_choice(x, y)["key"]: (x, y) for x, y in candidates}
        if a is not None and b is not None:
            self._pairs.setdefault(pair_choice(a, b)["key"], (a, b))
        self.choices = [pair_choice(x, y) for x, y in self._pairs.values()]
        if a is not None and b is not None:
            self.choice = pair_choice(a, b)["key"]
        elif self._pairs:
            self.choice = next(iter(self._pairs))

    @classmethod
    def runs(cls, a: Source, b: Source, *, labels: Sequence[str] | None = None, task_id: str | None = None,
             only_different: bool = False) -> CompareView:
        """Pair the trajectories of two runs by (task, sample index); start on `task_id` if given."""
        names = labels or (next(iter(named_sources(a))), next(iter(named_sources(b))))
        run_a, run_b = read_source(a), read_source(b)
        found = flipped_first(pairs(run_a, run_b))
        if only_different:
            found = [(x, y) for x, y in found if x.reward != y.reward or x.final_answer != y.final_answer]
        if not found:
            raise ValueError("the two runs have no (task, sample) in common")
        start = next((p for p in found if p[0].task_id == task_id), found[0]) if task_id else found[0]
        view = cls(*start, labels=names, candidates=found)
        view.stats = paired_summary(run_a, run_b, names)
        return view

    @classmethod
    def branches(cls, parent: Trajectory, branches: Sequence[Trajectory], *, start: int = 0) -> CompareView:
        """`parent` beside each of its `branches` (the selector names each by its fork turn, policy and edit,
        with both rewards); the rows show the replayed turns as the same and the first live one as the
        first divergence. Trajectories that are not branches of `parent` are refused."""
        if not branches:
            raise ValueError("CompareView.branches needs at least one branch (agent_gym.runner.branch.branch)")
        strangers = [b.id for b in branches if (branch_link(b) or {}).get("parent") != parent.id]
        if strangers:
            raise ValueError(f"{strangers} are not branches of {parent.id} (their metadata['branch']['parent'] "
                             "names another trajectory, or none)")
        view = cls(labels=("parent", "branch"))
        view._pairs = {branch_choice(parent, b)["key"]: (parent, b) for b in branches}
        view._labels = {key: ("parent", branch_label(b)) for key, (_, b) in view._pairs.items()}
        view.choices = [branch_choice(parent, b) for b in branches]
        view.choice = view.choices[min(start, len(branches) - 1)]["key"]
        return view

    def _pair_view(self, key: str) -> dict[str, Any]:
        found = self._pairs.get(key)
        return pair_view(*found, labels=self._labels.get(key, self.labels)) if found else {}

    @traitlets.observe("choice")
    def _on_choice(self, change: Any) -> None:
        self.pair = self._pair_view(change["new"])

    def _lookup(self, trajectory_id: str) -> Trajectory | None:
        return next((t for p in self._pairs.values() for t in p if t.id == trajectory_id), None)

    def notebook_static_state(self) -> dict[str, Any]:
        return self.static_state(NOTEBOOK_PAIRS)

    def static_state(self, limit: int = STATIC_PAIRS) -> dict[str, Any]:
        state = super().static_state()
        keys = list(self._pairs)[:limit]
        if self.choice and self.choice not in keys:
            keys.append(self.choice)
        state["_pairs"] = {k: self._pair_view(k) for k in keys}
        state["choices"] = [c for c in state["choices"] if c["key"] in state["_pairs"]]
        return state
