"""The run report: a whole run (or several) as one offline page; `agent-gym report` is its CLI.

The page inlines the widgets' ES module, CSS, the views' data (as JSON that cannot close its
`<script>`), and plotly.js when it has figures. A Content-Security-Policy forbids every network
request, so what you see is exactly what is in the file.

    python -m agent_gym.widgets.export.report runs/x.jsonl -o report.html
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent_gym.stats import run_stats
from agent_gym.store import summarize
from agent_gym.widgets.export.fallback import MISSING, fmt
from agent_gym.widgets.export.page import Section, write_page
from agent_gym.widgets.models.table import Sources, named_sources, read_source

VERSIONED = ("agent-gym", "transformers", "trl", "torch", "openai", "peft", "datasets")
"""Libraries whose installed versions the report's header names."""


def _distinct(values: Any, limit: int = 4) -> str:
    seen: list[str] = []
    for v in values:
        text = v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
        if text and text not in seen:
            seen.append(text)
    shown = ", ".join(t if len(t) <= 160 else t[:157] + "…" for t in seen[:limit])
    return (shown + (f" (+{len(seen) - limit} more)" if len(seen) > limit else "")) or MISSING


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = [f"Python {platform.python_version()}"]
    for name in VERSIONED:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return " · ".join(found)


def _header_html(runs: dict[str, list[Any]]) -> str:
    """When, what and with which settings: per run its dates, environments, models, sampling and configuration;
    then when the report was made and with which library versions."""
    rows = []
    for name, ts in runs.items():
        starts = [t.started_at for t in ts if t.started_at]
        when = (" → ".join(dict.fromkeys(time.strftime("%Y-%m-%d %H:%M", time.gmtime(x)) for x in (min(starts), max(starts))))
                + " UTC") if starts else MISSING
        envs = _distinct(f"{t.env}" + (f" {t.environment['version']}" if t.environment.get("version") else "") for t in ts)
        models = _distinct(f"{t.policy} ({t.model})" if t.model else t.policy for t in ts)
        sampling = _distinct({k: v for k, v in t.sampling.items() if k != "seed"} for t in ts)
        config = _distinct(t.environment.get("config", {}) for t in ts if t.environment.get("config"))
        ran_with = _distinct(t.environment.get("agent_gym", "") for t in ts)
        rows.append([name, when, envs, models, sampling, config, ran_with])
    head = "".join(f"<th>{c}</th>" for c in ("run", "episodes started", "environment", "policy (model)", "sampling",
                                              "environment config", "agent_gym"))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    made = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (f'<div class="ag-report-header"><table class="ag-grid ag-header-table"><tr>{head}</tr>{body}</table>'
            f'<p class="ag-dim ag-small">Report written {made} · {html.escape(_versions())}</p></div>')


def _summary_html(runs: dict[str, list[Any]]) -> str:
    """One row per run: counts as integers, rates and means with their 95% intervals (`agent_gym.stats`)."""
    head = "".join(f"<th>{c}</th>" for c in ("run", "episodes", "tasks", "errors", "success [95% CI]",
                                              "mean reward [95% CI]", "pass@k", "mean turns", "tokens"))
    rows = []
    for name, trajectories in runs.items():
        stats, s = run_stats(trajectories), summarize(trajectories)
        passes = " · ".join(f"{p.name} {fmt(p.value)}" for p in stats.pass_at.values()) or MISSING
        cells = [fmt(stats.episodes), fmt(stats.tasks), fmt(stats.errors), str(stats.success), str(stats.reward),
                 passes, fmt(s["mean_turns"]), fmt(s["total_tokens"])]
        row = "".join(f'<td class="ag-num">{html.escape(c)}</td>' for c in cells)
        rows.append(f"<tr><td>{html.escape(name)}</td>{row}</tr>")
    return f'<table class="ag-grid ag-summary-table"><tr>{head}</tr>{"".join(rows)}</table>'


LENSES = 3
"""Trajectories with tokens a report shows in the token lens (when given a tokenizer)."""


def run_report(sources: Sources, path: str | os.PathLike[str] | None = None, *, title: str | None = None,
               plots: bool = True, groups: bool = True, compare: bool = True, tokenizer: Any = None,
               drift: Any = None) -> str | Path:
    """A whole run (or several) as one offline page: summary, plots, browsable table, groups, compare; with
    `tokenizer` (a tokenizer or model folder), the first trajectories with tokens in the token lens, marked
    with their first divergence when `drift` (`agent_gym.train.check_drift(...)`) is given."""
    from agent_gym.widgets.plots import FigureGrid, dashboard, runs_frame
    from agent_gym.widgets.ui.compare_view import CompareView
    from agent_gym.widgets.ui.group_inspector import GroupInspector
    from agent_gym.widgets.ui.run_table import RunBrowser

    named = named_sources(sources)
    runs = {name: read_source(src) for name, src in named.items()}
    sections = [Section(html=_summary_html(runs), title="Summary")]
    if plots:
        grid = FigureGrid(dashboard(runs_frame(runs)))
        sections.append(Section(html=grid.to_html(include_plotlyjs=False), title="Plots"))
    sections.append(Section(RunBrowser(runs, page_size=15).static_state(), title="Trajectories"))
    if groups:
        for name, trajectories in runs.items():
            inspector = GroupInspector(trajectories)
            if inspector.summary["multi_sample_groups"]:
                sections.append(Section(inspector.static_state(), title=f"Groups · {name}" if len(runs) > 1 else "Groups"))
    if compare and len(runs) == 2:
        (na, a), (nb, b) = runs.items()
        try:
            sections.append(Section(CompareView.runs(a, b, labels=(na, nb)).static_state(), title=f"Compare · {na} vs {nb}"))
        except ValueError:
            pass
    if tokenizer is not None:
        from agent_gym.widgets.ui.token_lens import lens_section, load_tokenizer

        loaded = load_tokenizer(tokenizer)
        with_tokens = [t for ts in runs.values() for t in ts if t.tokens is not None][:LENSES]
        for t in with_tokens:
            found = drift.by_id(t.id) if drift is not None else None
            sections.append(lens_section(t, loaded, drift=found, title=f"Token lens · {t.task_id} · {t.id}"))
    name = title or " vs ".join(named)
    return write_page(sections, path, title=f"agent_gym · {name}", plotly_js=plots, header=_header_html(runs))


def main(argv: Sequence[str] | None = None) -> int:
    """`agent-gym report runs/x.jsonl [runs/y.jsonl] -o report.html`."""
    parser = argparse.ArgumentParser(prog="agent-gym report", description="Write a run (or two) as one offline HTML page.")
    parser.add_argument("stores", nargs="+", help="Trajectory stores (.jsonl); two are also compared.")
    parser.add_argument("-o", "--out", default="report.html", help="Output HTML file (default report.html).")
    parser.add_argument("--title", help="Page title.")
    parser.add_argument("--no-plots", action="store_true", help="Leave out the plots (and the 1.5 MB of gzipped plotly.js).")
    parser.add_argument("--tokenizer", help="A tokenizer or model folder: show the first trajectories with tokens in the token lens.")
    args = parser.parse_args(argv)
    missing = [s for s in args.stores if not Path(s).is_file()]
    if missing:
        print(f"error: no such store: {', '.join(missing)}", file=sys.stderr)
        return 2
    sources = {Path(s).stem if Path(s).stem not in {Path(o).stem for o in args.stores if o != s} else s: s for s in args.stores}
    out = run_report(sources, args.out, title=args.title, plots=not args.no_plots, tokenizer=args.tokenizer)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
