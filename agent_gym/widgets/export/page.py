"""Static pages: views' states and ready HTML as one self-contained HTML file that works offline.

The page inlines the widgets' ES module, CSS, the views' data (as JSON that cannot close its
`<script>`), and plotly.js when it has figures. A Content-Security-Policy forbids every network
request, so what you see is exactly what is in the file.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
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


INTERN_MIN_LENGTH = 64
"""Strings at least this long that occur more than once in a page's data are stored once."""
_REF = "$ag-string"


def intern_strings(values: Sequence[Any], min_length: int = INTERN_MIN_LENGTH) -> tuple[list[Any], list[str]]:
    """`values` with each long string that occurs more than once replaced by `{"$ag-string": i}`, and the
    table of those strings: repeated system prompts, tool schemas and task texts are stored once.
    The front-end's `unintern` puts them back."""
    counts: dict[str, int] = {}

    def count(value: Any) -> None:
        if isinstance(value, str):
            if len(value) >= min_length:
                counts[value] = counts.get(value, 0) + 1
        elif isinstance(value, dict):
            for v in value.values():
                count(v)
        elif isinstance(value, list | tuple):
            for v in value:
                count(v)

    for value in values:
        count(value)
    index = {text: i for i, text in enumerate(t for t, n in counts.items() if n > 1)}

    def swap(value: Any) -> Any:
        if isinstance(value, str):
            i = index.get(value)
            return value if i is None else {_REF: i}
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [swap(v) for v in value]
        return value

    return [swap(v) for v in values], list(index)


def render_fragment(state: dict[str, Any], name: str = "") -> str:
    """One view as an HTML fragment for a notebook output (`text/html`) that needs no kernel and no network.

    Where scripts run (an HTML copy of the notebook, a trusted notebook), the inlined module renders the
    full static view; where they do not (JupyterLab's sanitized untrusted outputs), the plain fallback
    (`fallback.fallback_html`) stays.
    """
    from agent_gym.widgets.export.fallback import fallback_html

    uid = uuid.uuid4().hex[:12]
    (clean,), strings = intern_strings([_clean(state)])
    boot = (
        _module_source()
        + f"\nconst host = document.getElementById('ag-out-{uid}');\n"
        f"const data = JSON.parse(document.getElementById('ag-data-{uid}').textContent);\n"
        "if (host && host.dataset.rendered !== 'true') {\n"
        "  const root = document.createElement('div');\n"
        "  widget.renderStatic(root, data.state, data.strings);\n"
        "  host.replaceChildren(root);\n  host.dataset.rendered = 'true';\n}\n"
    )
    return (
        f'<div class="ag-static-output" id="ag-out-{uid}" data-kind="{html.escape(str(state.get("kind", "")))}">'
        f"{fallback_html(state, name)}</div>"
        f"<style>{css_text()}</style>"
        f'<script type="application/json" id="ag-data-{uid}">{script_json({"state": clean, "strings": strings})}</script>'
        '<script type="module">' + boot.replace("</script", "<\\/script") + "</script>"
    )


def render_page(sections: Sequence[Section], title: str = "agent_gym report", plotly_js: bool = False,
                header: str = "") -> str:
    """The HTML text of a page made of `sections`, with `header` (ready HTML) under the title."""
    body, states = [], []
    interned, strings = intern_strings([_clean(s.state) if s.state is not None else None for s in sections])
    states.append(f'<script type="application/json" id="ag-strings">{script_json(strings)}</script>')
    for i, section in enumerate(sections):
        heading = f"<h2>{html.escape(section.title)}</h2>" if section.title else ""
        if section.state is not None:
            states.append(f'<script type="application/json" id="ag-state-{i}">{script_json(interned[i])}</script>')
            inner = f'<div class="ag-mount" id="ag-mount-{i}" data-state="ag-state-{i}"></div>'
        else:
            inner = section.html or ""
        body.append(f'<section class="ag-report-section">{heading}{inner}</section>')
    plotly = ""
    if plotly_js:  # 4.8 MB of plotly.js travel gzipped (1.5 MB); the plots' scripts wait until it is unpacked
        body = [_deferred_plot_scripts(part) for part in body]
        plotly = f'<script type="application/octet-stream" id="ag-plotly-gz">{_plotly_gzipped()}</script>'
    boot = (
        _module_source()
        + "\nconst agStart = performance.now();\n"
        "const agStrings = JSON.parse(document.getElementById('ag-strings').textContent);\n"
        "for (const mount of document.querySelectorAll('.ag-mount')) {\n"
        "  const state = JSON.parse(document.getElementById(mount.dataset.state).textContent);\n"
        "  widget.renderStatic(mount, state, agStrings);\n}\nvoid document.body.offsetHeight;  // include layout\n"
        "document.body.dataset.renderMs = (performance.now() - agStart).toFixed(1);\n"
        "document.body.dataset.rendered = 'true';\n"
        + (_PLOTLY_BOOT if plotly_js else "")
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{css_text()}\n"
        "body{margin:0;background:#fff}.ag-page{max-width:1280px;margin:0 auto;padding:16px 20px}"
        ".ag-page h1{font-size:20px;margin:4px 0 12px}</style>"
        f"{plotly}</head><body><div class=\"ag-root ag-page\"><h1>{html.escape(title)}</h1>"
        + header
        + "".join(body)
        + "</div>"
        + "".join(states)
        + '<script type="module">' + boot.replace("</script", "<\\/script") + "</script></body></html>\n"
    )


_PLOTLY_BOOT = """
const packed = document.getElementById('ag-plotly-gz');
if (packed) {
  const bytes = Uint8Array.from(atob(packed.textContent.trim()), (c) => c.charCodeAt(0));
  const source = await new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'))).text();
  const run = (text) => { const s = document.createElement('script'); s.textContent = text; document.head.appendChild(s); };
  run(source);
  for (const deferred of document.querySelectorAll('script[type="text/x-ag-after-plotly"]')) run(deferred.textContent);
  document.body.dataset.plotsRendered = 'true';
}
"""


@cache
def _plotly_gzipped() -> str:
    """plotly.js, gzipped and base64-encoded (the browser unpacks it with `DecompressionStream`)."""
    from plotly.offline import get_plotlyjs

    return base64.b64encode(gzip.compress(get_plotlyjs().encode("utf-8"), 9, mtime=0)).decode("ascii")


def _deferred_plot_scripts(part: str) -> str:
    """Plotly's inline scripts of `part`, marked to run once plotly.js is unpacked."""
    marked = '<script type="text/x-ag-after-plotly">'
    return part.replace('<script type="text/javascript">', marked).replace("<script>", marked)


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
               plotly_js: bool = False, header: str = "") -> str | Path:
    """`render_page` written to `path` (returned), or the text itself when `path` is None."""
    text = render_page(sections, title, plotly_js, header)
    if path is None:
        return text
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
