"""TokenLens: the exact token sequence a trainer sees for one trajectory, coloured by loss mask,
log-probability or GRPO advantage, with turn boundaries, tool calls and the first drift divergence."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import traitlets

from agent_gym.types import Trajectory
from agent_gym.widgets._assets import css_text
from agent_gym.widgets.export.page import Section
from agent_gym.widgets.models.tokens import lens_view
from agent_gym.widgets.models.trajectory import coerce_trajectory
from agent_gym.widgets.ui.base import AgentGymWidget


def load_tokenizer(tokenizer: Any) -> Any:
    """A tokenizer object as it is, or the one of a model folder (a path)."""
    if isinstance(tokenizer, str | os.PathLike):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(tokenizer))
    if tokenizer is None or not hasattr(tokenizer, "batch_decode"):
        raise TypeError("TokenLens needs the model's tokenizer (tokenizer=AutoTokenizer.from_pretrained(model_dir)) "
                        "or the model folder's path, to decode each id.")
    return tokenizer


def as_drift(drift: Any) -> dict[str, Any] | None:
    """A drift check of one episode (`agent_gym.train.drift.EpisodeDrift` or its `to_dict()`) as a dict."""
    if drift is None:
        return None
    if isinstance(drift, Mapping):
        return dict(drift)
    to_dict = getattr(drift, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    raise TypeError(f"drift= takes an EpisodeDrift or its to_dict(), got {type(drift).__name__}.")


class TokenLens(AgentGymWidget):
    """One trajectory token by token, exactly as the trainer sees it.

    `TokenLens(t, tokenizer)`; `drift=check_drift(...).by_id(t.id)` marks the first divergence of the
    re-rendered conversation; `advantage=` (or `group=`, the episodes of its GRPO group) colours the
    trained ids by the episode's group-relative advantage. Hover a token for its id, piece, log-prob and
    turn; click to pin it. Long sequences are drawn in chunks as they scroll into view.
    """

    _css = css_text()
    lens = traitlets.Dict().tag(sync=True)
    """The view model (`models.tokens.lens_view`)."""

    def __init__(self, trajectory: Trajectory | Mapping[str, Any], tokenizer: Any, *, drift: Any = None,
                 advantage: float | None = None, group: Sequence[Trajectory] = ()) -> None:
        super().__init__(kind="lens")
        self._tokenizer = load_tokenizer(tokenizer)
        self._shown, _ = coerce_trajectory(trajectory)
        self.lens = lens_view(self._shown, self._tokenizer, drift=as_drift(drift), advantage=advantage, group=group)

    @property
    def shown(self) -> Trajectory:
        """The trajectory on screen."""
        return self._shown

    def _lookup(self, trajectory_id: str) -> Trajectory | None:
        return self._shown if self._shown.id == trajectory_id else None


def lens_section(trajectory: Trajectory | Mapping[str, Any], tokenizer: Any, *, drift: Any = None,
                 advantage: float | None = None, group: Sequence[Trajectory] = (),
                 title: str | None = None) -> Section:
    """A static page's section showing `trajectory` in the token lens (for `export.page.write_page`)."""
    record, _ = coerce_trajectory(trajectory)
    view = lens_view(record, load_tokenizer(tokenizer), drift=as_drift(drift), advantage=advantage, group=group)
    return Section({"kind": "lens", "lens": view}, title=title if title is not None else "Token lens")
