"""Plain HTML of a view's static state, for places where no script runs.

JupyterLab shows an untrusted notebook's outputs (every notebook a headless run wrote) sanitized: no
widget, no script. There the widget's `text/html` shows this instead: the conversation, the table's
first page, the paired statistics, the groups, as plain tables and preformatted text styled by
JupyterLab's own stylesheet. Where scripts run, the same output replaces it with the full view.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

ROWS_SHOWN = 25
"""Rows of a table (or pairs, groups) written into the plain fallback."""
TEXT_SHOWN = 2_000
"""Characters of one message written into the plain fallback."""
MISSING = "(none)"
"""How a missing value reads, as in the widgets and plots."""


def fmt(value: Any) -> str:
    """A value for people: integers with separators, 3 significant decimals, `(none)` for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0 or math.isinf(value):
            return str(value) if value else "0"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}".rstrip("0").rstrip(".")
        return f"{value:.3g}"
    return str(value)


def fmt_seconds(value: Any) -> str:
    """A duration for people, as the widgets write it: `<1 ms`, `250 ms`, `3.2 s`, `12 min 5 s`."""
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        return MISSING
    if value < 0.001:
        return "<1 ms"
    if value < 1:
        return f"{round(value * 1000)} ms"
    return f"{value:.1f} s" if value < 600 else f"{int(value // 60)} min {round(value % 60)} s"


def _e(value: Any) -> str:
    return html.escape(value if isinstance(value, str) else fmt(value))


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    top = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{top}</tr></thead><tbody>{body}</tbody></table>"


def _interval(stat: Mapping[str, Any] | None) -> str:
    if not stat:
        return MISSING
    value, low, high = stat.get("value"), stat.get("low"), stat.get("high")
    if stat.get("successes") is not None and stat.get("n"):
        head = f"{stat['successes']}/{stat['n']}"
    else:
        head = fmt(value)
    return head if low is None or high is None else f"{head} [{fmt(low)}, {fmt(high)}]"


def _message_text(message: Mapping[str, Any]) -> str:
    parts = []
    for seg in message.get("segments", ()):
        text = seg.get("text", "") + (f"\n… [{seg['omitted']:,} characters omitted] …\n{seg.get('tail', '')}" if seg.get("truncated") else "")
        parts.append(f"<think>{text}</think>" if seg.get("kind") == "think" else text)
    for call in message.get("tool_calls", ()):
        parts.append(f"→ {call.get('name')}({call.get('arguments', '')})")
    text = "\n".join(parts)
    return text if len(text) <= TEXT_SHOWN else text[:TEXT_SHOWN] + f"\n… [{len(text) - TEXT_SHOWN:,} more characters]"


def trajectory_html(view: Mapping[str, Any]) -> str:
    """One trajectory view (`models.trajectory.trajectory_view`) as a header and its messages."""
    if not view or not view.get("id"):
        return "<p><i>No trajectory selected.</i></p>"
    head = (f"<p><b>{_e(view.get('task_id'))}</b> · {_e(view.get('env'))} · {_e(view.get('model') or MISSING)} · "
            f"reward {_e(view.get('reward'))} · success {_e(view.get('success'))} · "
            f"{_e(len(view.get('turns', ())))} turns</p>")
    rows = "".join(
        f'<tr><td style="text-align:left;vertical-align:top"><b>{_e(m.get("name") or m.get("role"))}</b></td>'
        f'<td style="text-align:left"><pre style="text-align:left;white-space:pre-wrap">{html.escape(_message_text(m))}</pre></td></tr>'
        for m in view.get("messages", ())
    )
    expected = view.get("expected_answer")
    tail = f"<p>final answer: <code>{_e(view.get('final_answer') or '(empty)')}</code>"
    tail += f" · expected: <code>{_e(expected)}</code></p>" if expected is not None else "</p>"
    error = view.get("error")
    if error:
        tail += f"<p><b>error</b> {_e(error.get('kind'))}: {_e(error.get('message'))}</p>"
    return head + f"<table><tbody>{rows}</tbody></table>" + tail


def table_html(state: Mapping[str, Any]) -> str:
    """The run table: each run's statistics, then the first rows."""
    stats = state.get("stats") or []
    out = []
    if stats:
        out.append(_table(["run", "episodes", "errors", "success [95% CI]", "mean reward [95% CI]"],
                          [[s.get("run"), s.get("episodes"), s.get("errors"), _interval(s.get("success")),
                            _interval(s.get("reward"))] for s in stats]))
    rows = state.get("rows") or []
    columns = [("run", "run"), ("task_id", "task"), ("model", "model"), ("sample_index", "#"), ("reward", "reward"),
               ("success", "success"), ("turns", "turns"), ("total_tokens", "tokens"), ("seconds", "time"),
               ("error", "error")]
    if len({r.get("run") for r in rows}) <= 1:
        columns = columns[1:]
    cell = lambda r, key: fmt_seconds(r.get(key)) if key == "seconds" else (r.get(key) or "") if key == "error" else r.get(key)  # noqa: E731
    out.append(_table([label for _, label in columns], [[cell(r, key) for key, _ in columns] for r in rows[:ROWS_SHOWN]]))
    total = state.get("total", len(rows))
    if total > min(len(rows), ROWS_SHOWN):
        out.append(f"<p><i>{fmt(min(len(rows), ROWS_SHOWN))} of {fmt(total)} rows shown.</i></p>")
    return "".join(out)


def compare_html(state: Mapping[str, Any]) -> str:
    """The paired statistics and the pairs that differ first."""
    s = state.get("stats") or {}
    out = []
    if s:
        a, b = s.get("label_a", "a"), s.get("label_b", "b")
        out.append(_table(["", a, b], [["success [95% CI]", _interval(s.get("success_a")), _interval(s.get("success_b"))]]))
        out.append(f"<p>{fmt(s.get('tasks'))} tasks · gained {fmt(len(s.get('gained', ())))} · lost "
                   f"{fmt(len(s.get('lost', ())))} · same {fmt(s.get('same'))}</p>")
    pairs = state.get("choices") or []
    out.append(_table(["task", "sample", "reward", "success", "flip"],
                      [[p.get("task_id"), p.get("sample_index"), " → ".join(fmt(x) for x in p.get("reward", ())),
                        " → ".join(fmt(x) for x in p.get("success", ())), p.get("flip") or ""] for p in pairs[:ROWS_SHOWN]]))
    return "".join(out)


def groups_html(state: Mapping[str, Any]) -> str:
    """The groups' summary and table."""
    summary = state.get("summary") or {}
    head = " · ".join(f"{k.replace('_', ' ')} {fmt(v)}" for k, v in summary.items())
    rows = [[g.get("task_id"), g.get("model"), g.get("n"), g.get("mean"), g.get("std"), ", ".join(g.get("flags", ()))]
            for g in (state.get("groups") or [])[:ROWS_SHOWN]]
    return f"<p>{_e(head)}</p>" + _table(["task", "model", "n", "mean reward", "std", "flags"], rows)


def lens_html(state: Mapping[str, Any]) -> str:
    """The token lens: its counts, the drift check's finding, and the decoded sequence."""
    lens = state.get("lens") or {}
    if not lens.get("ids"):
        return "<p><i>No token record.</i></p>"
    stats = lens.get("stats") or {}
    head = " · ".join(f"{k.replace('_', ' ')} {fmt(v)}" for k, v in stats.items())
    drift = lens.get("drift") or {}
    found = (f"<p><b>drift</b> at token {fmt(drift.get('position'))}: {_e(drift.get('reason') or '')}</p>"
             if drift.get("drift") else "<p>no drift</p>" if drift else "")
    text = "".join(lens.get("pieces") or ())
    shown = text if len(text) <= 20 * TEXT_SHOWN else text[: 20 * TEXT_SHOWN] + "…"
    return f"<p>{_e(head)}</p>{found}<pre style=\"white-space:pre-wrap\">{html.escape(shown)}</pre>"


def fallback_html(state: Mapping[str, Any], name: str = "") -> str:
    """Plain HTML of a widget's static state (any kind); `name` heads it."""
    kind = state.get("kind", "")
    if kind == "viewer":
        body = trajectory_html(state.get("trajectory") or {})
    elif kind == "table":
        body = table_html(state)
    elif kind == "browser":
        body = table_html(state) + trajectory_html(state.get("trajectory") or {})
    elif kind == "compare":
        body = compare_html(state)
    elif kind == "groups":
        body = groups_html(state)
    elif kind == "lens":
        body = lens_html(state)
    else:
        body = ""
    title = f"<p><b>{_e(name)}</b> <i>(static copy: run the cell, or trust the notebook, for the interactive view)</i></p>"
    return title + body
