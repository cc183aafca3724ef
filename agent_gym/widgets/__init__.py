"""Widgets to inspect rollouts in Jupyter (anywidget; the front-end source is the top-level `widgets/`).

* `TrajectoryViewer` — one trajectory turn by turn (also live, following a store).
* `RunTable` / `RunBrowser` — runs as a sortable, filterable table; click a row to read it.
* `CompareView` — the same task from two runs, aligned by turn, differences marked.
* `GroupInspector` — GRPO groups: rewards, mean/std, advantages, zero-variance and suspicious winners.
* `LiveMetrics`, `metrics_figure` — a training run's metrics file, redrawn as it grows.
* `plots` — plotly figures; `run_report` — a whole run as one offline HTML file.

Inside: `models/` (pure view data), `ui/` (the anywidget classes), `export/` (static pages), `plots`.
They read only stores and trajectory records, never live environments, the runner or training.
"""

from agent_gym.widgets import plots
from agent_gym.widgets.export.page import render_page, script_json, write_page
from agent_gym.widgets.export.report import run_report
from agent_gym.widgets.models.compare import align, outcome_diff, pairs, word_diff
from agent_gym.widgets.models.groups import (
    Group,
    advantages,
    answer_flags,
    group_summary,
    make_groups,
)
from agent_gym.widgets.models.table import Query, apply_query, frame
from agent_gym.widgets.models.trajectory import coerce_trajectory, trajectory_view
from agent_gym.widgets.plots import dashboard, metrics_figure, runs_frame
from agent_gym.widgets.ui.compare_view import CompareView
from agent_gym.widgets.ui.group_inspector import GroupInspector
from agent_gym.widgets.ui.live import LiveMetrics
from agent_gym.widgets.ui.run_table import RunBrowser, RunTable
from agent_gym.widgets.ui.trajectory_viewer import TrajectoryViewer

__all__ = [
    "CompareView",
    "Group",
    "GroupInspector",
    "LiveMetrics",
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
    "metrics_figure",
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
