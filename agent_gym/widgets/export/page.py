"""Static pages: views' states and ready HTML as one self-contained HTML file that works offline.

The page inlines the widgets' ES module, CSS, the views' data (as JSON that cannot close its
`<script>`), and plotly.js when it has figures. A Content-Security-Policy forbids every network
request, so what you see is exactly what is in the file.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_gym.widgets._assets import css_text, esm_text

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
