"""Widgets to inspect rollouts in Jupyter (anywidget; the front-end is `widgets/agent_gym.js`).

* `TrajectoryViewer` — one trajectory turn by turn (also live, following a store).
* `RunTable` / `RunBrowser` — runs as a sortable, filterable table; click a row to read it.
* `CompareView` — the same task from two runs, aligned by turn, differences marked.
* `GroupInspector` — GRPO groups: rewards, mean/std, advantages, zero-variance and suspicious winners.
* `plots` — plotly figures; `report` — any view or a whole run as one offline HTML file.

They read only stores and trajectory records, never live environments.
"""

from . import plots
from .compare import align, outcome_diff, pairs, word_diff
from .compare_view import CompareView
from .group_view import GroupInspector
from .groups import Group, advantages, answer_flags, group_summary, make_groups
from .plots import dashboard, runs_frame
from .report import render_page, run_report, script_json, write_page
from .runs import RunBrowser, RunTable
from .table import Query, apply_query, frame
from .view import coerce_trajectory, trajectory_view
from .viewer import TrajectoryViewer

__all__ = [
    "CompareView",
    "Group",
    "GroupInspector",
    "Query",
    "RunBrowser",
    "RunTable",
    "TrajectoryViewer",
    "advantages",
    "align",
    "answer_flags",
    "apply_query",
    "coerce_trajectory",
    "dashboard",
    "frame",
    "group_summary",
    "make_groups",
    "outcome_diff",
    "pairs",
    "plots",
    "render_page",
    "run_report",
    "runs_frame",
    "script_json",
    "trajectory_view",
    "word_diff",
    "write_page",
]
