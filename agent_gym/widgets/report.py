"""Static export: any view, or a whole run, as one self-contained HTML file that works offline.

The page inlines the widgets' ES module, CSS, the views' data (as JSON that cannot close its
`<script>`), and plotly.js when it has figures. A Content-Security-Policy forbids every network
request, so what you see is exactly what is in the file.

    python -m agent_gym.widgets.report runs/x.jsonl -o report.html
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..store import summarize
from ._assets import css_text, esm_text
from .table import Sources, named_sources, read_source

_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; connect-src 'none'"
)
_EXPORT = "export default widget;"


@dataclass(frozen=True)
class Section:
    """One part of a page: a widget's static state, or ready HTML (`html`, already escaped)."""

    state: dict[str, Any] | None = None
    title: str | None = None
    html: str | None = None


def script_json(data: Any) -> str:
    """JSON that is safe inside `<script type="application/json">` (no `<`, `>`, `&` or line separators)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, default=str)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def _module_source() -> str:
    source = esm_text()
    if source.count(_EXPORT) != 1:
        raise RuntimeError(f"widgets/agent_gym.js must end with exactly one {_EXPORT!r} for the static export")
    return source.replace(_EXPORT, "")


def render_page(sections: Sequence[Section], title: str = "agent_gym report", plotly_js: bool = False) -> str:
    """The HTML text of a page made of `sections`."""
    body, states = [], []
    for i, section in enumerate(sections):
        heading = f"<h2>{html.escape(section.title)}</h2>" if section.title else ""
        if section.state is not None:
            states.append(f'<script type="application/json" id="ag-state-{i}">{script_json(_clean(section.state))}</script>')
            inner = f'<div class="ag-mount" id="ag-mount-{i}" data-state="ag-state-{i}"></div>'
        else:
            inner = section.html or ""
        body.append(f'<section class="ag-report-section">{heading}{inner}</section>')
    plotly = ""
    if plotly_js:
        from plotly.offline import get_plotlyjs

        plotly = "<script>" + get_plotlyjs().replace("</script", "<\\/script") + "</script>"
    boot = (
        _module_source()
        + "\nconst agStart = performance.now();\n"
        "for (const mount of document.querySelectorAll('.ag-mount')) {\n"
        "  const state = JSON.parse(document.getElementById(mount.dataset.state).textContent);\n"
        "  widget.renderStatic(mount, state);\n}\nvoid document.body.offsetHeight;  // include layout\n"
        "document.body.dataset.renderMs = (performance.now() - agStart).toFixed(1);\n"
        "document.body.dataset.rendered = 'true';\n"
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{css_text()}\n"
        "body{margin:0;background:#fff}.ag-page{max-width:1280px;margin:0 auto;padding:16px 20px}"
        ".ag-page h1{font-size:20px;margin:4px 0 12px}</style>"
        f"{plotly}</head><body><div class=\"ag-root ag-page\"><h1>{html.escape(title)}</h1>"
        + "".join(body)
        + "</div>"
        + "".join(states)
        + '<script type="module">' + boot.replace("</script", "<\\/script") + "</script></body></html>\n"
    )


def _clean(value: Any) -> Any:
    """NaN/inf (not JSON) become null."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_page(sections: Sequence[Section], path: str | os.PathLike[str] | None, title: str = "agent_gym report",
               plotly_js: bool = False) -> str | Path:
    """`render_page` written to `path` (returned), or the text itself when `path` is None."""
    text = render_page(sections, title, plotly_js)
    if path is None:
        return text
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


def _summary_html(runs: dict[str, list[Any]]) -> str:
    cols = ("episodes", "success_rate", "mean_reward", "mean_turns", "total_tokens", "errors", "mean_seconds")
    head = "".join(f"<th>{c.replace('_', ' ')}</th>" for c in ("run", *cols))
    rows = []
    for name, trajectories in runs.items():
        s = summarize(trajectories)
        cells = "".join(f'<td class="ag-num">{s[c]:.3g}</td>' for c in cols)
        rows.append(f"<tr><td>{html.escape(name)}</td>{cells}</tr>")
    return f'<table class="ag-grid ag-summary-table"><tr>{head}</tr>{"".join(rows)}</table>'


def run_report(sources: Sources, path: str | os.PathLike[str] | None = None, *, title: str | None = None,
               plots: bool = True, groups: bool = True, compare: bool = True) -> str | Path:
    """A whole run (or several) as one offline page: summary, plots, browsable table, groups, compare."""
    from .compare_view import CompareView
    from .group_view import GroupInspector
    from .plots import FigureGrid, dashboard, runs_frame
    from .runs import RunBrowser

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
    name = title or " vs ".join(named)
    return write_page(sections, path, title=f"agent_gym · {name}", plotly_js=plots)


def main(argv: Sequence[str] | None = None) -> int:
    """`agent-gym report runs/x.jsonl [runs/y.jsonl] -o report.html`."""
    parser = argparse.ArgumentParser(prog="agent-gym report", description="Write a run (or two) as one offline HTML page.")
    parser.add_argument("stores", nargs="+", help="Trajectory stores (.jsonl); two are also compared.")
    parser.add_argument("-o", "--out", default="report.html", help="Output HTML file (default report.html).")
    parser.add_argument("--title", help="Page title.")
    parser.add_argument("--no-plots", action="store_true", help="Leave out the plots (and the 4 MB of plotly.js).")
    args = parser.parse_args(argv)
    missing = [s for s in args.stores if not Path(s).is_file()]
    if missing:
        print(f"error: no such store: {', '.join(missing)}", file=sys.stderr)
        return 2
    sources = {Path(s).stem if Path(s).stem not in {Path(o).stem for o in args.stores if o != s} else s: s for s in args.stores}
    out = run_report(sources, args.out, title=args.title, plots=not args.no_plots)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
