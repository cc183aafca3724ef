"""The dataset card written beside synthesized data: counts, filter pass rates, teacher, settings,
and reward / length histograms (plotly, offline HTML)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agent_gym.synth.export import write_text
from agent_gym.synth.filters import FilterReport
from agent_gym.types import Trajectory


def card_markdown(
    name: str, seen: Sequence[Trajectory], kept: Sequence[Trajectory], reports: Sequence[FilterReport],
    settings: Mapping[str, Any], files: Mapping[str, Path],
) -> str:
    """The README.md text of a synthesized dataset."""
    lines = [
        f"# {name}", "",
        f"Synthesized by agent_gym: {len(kept)} examples kept of {len(seen)} trajectories "
        f"({len({t.task_id for t in kept})} tasks).", "",
        "## Filters", "", "| filter | in | kept | removed | pass rate |", "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {r.name} | {r.before} | {r.after} | {r.removed} | {r.pass_rate:.1%} |" for r in reports]
    lines += ["", "## Teacher and settings", "", "```json", json.dumps(dict(settings), indent=2, default=str), "```", ""]
    lines += ["## Numbers", "", "| | seen | kept |", "| --- | --- | --- |"]
    for label, fn in (("mean reward", _mean_reward), ("mean turns", _mean_turns), ("completion tokens", _tokens)):
        lines.append(f"| {label} | {fn(seen):.3g} | {fn(kept):.3g} |")
    lines += ["", "## Files", ""]
    lines += [f"- `{path.name}`: {kind}" for kind, path in files.items()]
    lines += ["", "Histograms: `card.html`.", ""]
    return "\n".join(lines)


def card_figure(seen: Sequence[Trajectory], kept: Sequence[Trajectory]) -> Any:
    """Reward and length histograms of seen vs kept trajectories."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("reward", "characters per conversation"))
    for label, group in (("seen", seen), ("kept", kept)):
        fig.add_trace(go.Histogram(x=[t.reward for t in group], name=f"{label}: reward", opacity=0.6), row=1, col=1)
        fig.add_trace(go.Histogram(x=[_chars(t) for t in group], name=f"{label}: length", opacity=0.6), row=1, col=2)
    fig.update_layout(barmode="overlay", height=360)
    return fig


def write_card(
    out_dir: Path, name: str, seen: Sequence[Trajectory], kept: Sequence[Trajectory],
    reports: Sequence[FilterReport], settings: Mapping[str, Any], files: Mapping[str, Path],
) -> dict[str, Path]:
    """Write README.md and card.html (plotly.js beside it, so it opens offline)."""
    readme = write_text(card_markdown(name, seen, kept, reports, settings, files), out_dir / "README.md")
    html = out_dir / "card.html"
    card_figure(seen, kept).write_html(html, include_plotlyjs="directory")
    return {"card": readme, "card_html": html}


def _chars(t: Trajectory) -> int:
    return sum(len(m.content) + len(m.reasoning or "") for m in t.messages)


def _mean_reward(ts: Sequence[Trajectory]) -> float:
    return sum(t.reward for t in ts) / len(ts) if ts else 0.0


def _mean_turns(ts: Sequence[Trajectory]) -> float:
    return sum(t.num_turns for t in ts) / len(ts) if ts else 0.0


def _tokens(ts: Sequence[Trajectory]) -> float:
    return float(sum(t.usage.completion_tokens for t in ts))
