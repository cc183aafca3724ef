"""Plotly figures of a run (or several): rewards, success, turns, tokens and errors; and of a training
run's metrics file (`metrics_figure`).

Every function takes the table's frame (`runs_frame(...)`, or `TrajectoryStore.to_pandas()`) and
returns a `plotly.graph_objects.Figure`; `dashboard` returns them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agent_gym import training_log
from agent_gym.widgets.models.table import Sources, frame, named_sources, source_rows

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

_LAYOUT = {"template": "plotly_white", "height": 320, "margin": {"l": 50, "r": 20, "t": 50, "b": 45}}


def runs_frame(sources: Sources) -> pd.DataFrame:
    """The table frame of one or several runs (column `run` names them)."""
    return frame({name: source_rows(src) for name, src in named_sources(sources).items()})


def _color(df: pd.DataFrame) -> str | None:
    if "run" in df.columns and df["run"].nunique() > 1:
        return "run"
    if "model" in df.columns and df["model"].nunique() > 1:
        return "model"
    return None


def _label(df: pd.DataFrame, column: str) -> pd.Series:
    return df[column].fillna("(none)").astype(str)


def reward_distribution(df: pd.DataFrame) -> go.Figure:
    """Histogram of final rewards (one colour per run or model)."""
    import plotly.express as px

    data = df.assign(group=_label(df, _color(df))) if _color(df) else df
    fig = px.histogram(data, x="reward", color="group" if _color(df) else None, barmode="overlay", nbins=20, opacity=0.75)
    return fig.update_layout(title="Reward distribution", **_LAYOUT)


def success_by(df: pd.DataFrame, by: str = "env") -> go.Figure:
    """Success rate (episodes with a verdict) per `env`, `model`, `run` or any column, with counts."""
    import plotly.express as px

    judged = df[df["success"].notna()].assign(key=lambda d: _label(d, by), ok=lambda d: d["success"].astype(float))
    rates = judged.groupby("key", sort=True)["ok"].agg(["mean", "count"]).reset_index()
    fig = px.bar(rates, x="key", y="mean", text=rates["count"].map(lambda n: f"n={n}"), range_y=[0, 1])
    return fig.update_layout(title=f"Success rate by {by}", xaxis_title=by, yaxis_title="success rate", **_LAYOUT)


def turns_vs_reward(df: pd.DataFrame) -> go.Figure:
    """Each episode's number of turns (jittered) against its reward; errors get their own symbol."""
    import pandas as pd
    import plotly.express as px

    jitter = (pd.util.hash_pandas_object(df["id"].astype(str), index=False) % 1000 / 1000 - 0.5) * 0.3
    data = df.assign(status=df["error"].map(lambda e: "error" if isinstance(e, str) else "ok"), x=df["turns"] + jitter)
    color = _color(df)
    if color:
        data = data.assign(group=_label(df, color))
    fig = px.scatter(
        data, x="x", y="reward", color="group" if color else None, symbol="status", opacity=0.75,
        hover_data=[c for c in ("task_id", "id", "model", "turns") if c in data.columns],
    )
    return fig.update_layout(title="Turns vs reward", xaxis_title="turns", **_LAYOUT)


def token_lengths(df: pd.DataFrame) -> go.Figure:
    """Distribution of tokens per episode (prompt + completion)."""
    import plotly.express as px

    color = _color(df)
    data = df.assign(group=_label(df, color)) if color else df
    fig = px.box(data, x="group" if color else None, y="total_tokens", points="outliers")
    return fig.update_layout(title="Tokens per episode", yaxis_title="tokens", **_LAYOUT)


def error_kinds(df: pd.DataFrame) -> go.Figure:
    """How many episodes failed, by exception kind."""
    import plotly.express as px

    kinds = _label(df[df["error"].notna()], "error").value_counts().rename_axis("error").reset_index(name="episodes")
    fig = px.bar(kinds, x="error", y="episodes")
    if kinds.empty:
        fig.add_annotation(text="no errors", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig.update_layout(title="Errors by kind", **_LAYOUT)


def dashboard(df: pd.DataFrame) -> dict[str, go.Figure]:
    """All figures, by name."""
    figures = {
        "reward_distribution": reward_distribution(df),
        "success_by_env": success_by(df, "env"),
        "success_by_model": success_by(df, "model"),
        "turns_vs_reward": turns_vs_reward(df),
        "token_lengths": token_lengths(df),
        "error_kinds": error_kinds(df),
    }
    if "run" in df.columns and df["run"].nunique() > 1:
        figures["success_by_run"] = success_by(df, "run")
    return figures


class FigureGrid:
    """Figures as one HTML output with plotly.js inlined: it renders the same in JupyterLab, Voila
    (where plotly's own renderer currently fails, voila-dashboards/voila#1533), exported HTML and
    executed notebooks, with no network."""

    def __init__(self, figures: dict[str, go.Figure] | list[go.Figure], columns: int = 2) -> None:
        self.figures = list(figures.values()) if isinstance(figures, dict) else list(figures)
        self.columns = columns

    def to_html(self, include_plotlyjs: bool = True) -> str:
        """The grid as an HTML fragment (plotly.js inlined once unless `include_plotlyjs=False`)."""
        from plotly.offline import get_plotlyjs

        script = "<script>" + get_plotlyjs().replace("</script", "<\\/script") + "</script>" if include_plotlyjs else ""
        cells = "".join(
            f'<div class="ag-plot">{fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})}</div>'
            for fig in self.figures
        )
        grid = f"display:grid;grid-template-columns:repeat({self.columns},minmax(0,1fr));gap:8px"
        return f'{script}<div class="ag-plots" style="{grid}">{cells}</div>'

    def _repr_html_(self) -> str:
        return self.to_html()


# ---- training metrics ----------------------------------------------------------------------

DEFAULT_PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("reward", ("reward", "env/success")),
    ("turns and horizon", ("env/turns", "env/horizon")),
    ("zero-variance groups", ("frac_reward_zero_std",)),
    ("loss and KL", ("loss", "kl")),
)
"""Panels of `metrics_figure`: (title, metric names)."""


def metrics_figure(path_or_frame: Any, panels: Sequence[tuple[str, Sequence[str]]] = DEFAULT_PANELS,
                   title: str = "GRPO training") -> Any:
    """A plotly figure with one panel per (title, metrics) pair, step on the x axis."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    df = path_or_frame if hasattr(path_or_frame, "columns") else training_log.read_metrics(path_or_frame)
    fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, subplot_titles=[p[0] for p in panels])
    for row, (_, names) in enumerate(panels, start=1):
        for name in names:
            xs, ys = metric_series(df, name)
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=name), row=row, col=1)
    fig.update_layout(title=title, height=220 * len(panels), margin={"t": 60, "b": 40})
    fig.update_xaxes(title_text="step", row=len(panels), col=1)
    return fig


def metric_series(df: Any, name: str) -> tuple[list[Any], list[Any]]:
    """The (steps, values) of one metric, rows without it left out."""
    if df is None or len(df) == 0 or name not in df.columns or "step" not in df.columns:
        return [], []
    part = df[["step", name]].dropna()
    return part["step"].tolist(), part[name].tolist()
