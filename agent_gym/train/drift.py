"""Token drift: are the ids a trainer sees the ids the chat template gives for the same conversation?

Multi-turn RL goes wrong silently when the tokens trained on are not the tokens the model would see
when the conversation is rendered whole (by a chat server at deployment, or by a trainer that
re-tokenizes text): a template that renders a tool response with other whitespace in context than
when it was appended after a generated turn, a template that drops earlier `<think>` blocks, a
tokenizer that splits text differently from how the model generated it.

`check_drift(store, tokenizer)` re-renders each recorded conversation with the tokenizer's chat
template, re-tokenizes it and compares it id by id with the recorded ids (`Trajectory.tokens`: prompt
then completion). Assistant turns are rendered from the text their generated ids decode to
(`assistant="raw"`, the default: what the model wrote, think blocks and tool-call JSON as written), or
from the parsed messages (`assistant="parsed"`: what an OpenAI-style server re-renders). Positions
count from the first prompt id. `drift_metrics(trajectories, tokenizer)` is the per-step summary a
GRPO loop logs.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent_gym.errors import ConfigError
from agent_gym.policies.chat_render import ChatRenderer
from agent_gym.store import TrajectoryStore
from agent_gym.types import Trajectory

AssistantText = Literal["raw", "parsed"]
CONTEXT = 12
"""Tokens of each side shown around a divergence."""


@dataclass(frozen=True)
class Divergence:
    """Where the recorded ids and the re-rendered ids first differ."""

    position: int
    """Index of the first differing id in prompt ids + completion ids."""
    region: str
    """`prompt`, `generated` (a model turn) or `environment` (ids the environment's reply was rendered to)."""
    turn: int | None
    """The model turn (from 0) the region belongs to or follows; None in the prompt."""
    recorded_ids: list[int]
    """Recorded ids from `position` (up to `CONTEXT`)."""
    rendered_ids: list[int]
    """Re-rendered ids from `position` (up to `CONTEXT`)."""
    recorded_text: str
    """`recorded_ids` decoded, with the `CONTEXT` ids before them as `before`."""
    rendered_text: str
    """`rendered_ids` decoded."""
    before: str
    """The text just before the divergence (the same on both sides)."""
    reason: str
    """What the difference is, in plain words, where it can be told."""
    retokenized: bool = False
    """The same text on both sides, split into other ids (a tokenization, not a template, difference: the
    model sampled a tokenization that re-encoding its text does not give back)."""


@dataclass(frozen=True)
class EpisodeDrift:
    """The drift check of one trajectory."""

    trajectory_id: str
    recorded_tokens: int
    """Prompt plus completion ids on the record."""
    rendered_tokens: int
    """Ids of the re-rendered conversation (cut after the last recorded turn)."""
    divergence: Divergence | None
    """The first divergence; None when every id matches."""

    @property
    def drift(self) -> bool:
        """Whether any id differs."""
        return self.divergence is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as the token lens takes it (`TokenLens(..., drift=...)`)."""
        return asdict(self) | {"drift": self.drift}


@dataclass(frozen=True)
class DriftReport:
    """Drift over a run: which episodes drift, and where."""

    episodes: list[EpisodeDrift]
    """One per checked trajectory (those with a token record)."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(trajectory id, why) of the trajectories that could not be checked."""

    @property
    def checked(self) -> int:
        return len(self.episodes)

    @property
    def drifted(self) -> list[EpisodeDrift]:
        """The episodes with a divergence."""
        return [e for e in self.episodes if e.drift]

    @property
    def fraction(self) -> float:
        """Fraction of checked episodes with drift (0 when none was checked)."""
        return len(self.drifted) / self.checked if self.checked else 0.0

    @property
    def retokenized(self) -> list[EpisodeDrift]:
        """The drifting episodes whose first divergence is the same text in other ids (`Divergence.retokenized`)."""
        return [e for e in self.drifted if e.divergence is not None and e.divergence.retokenized]

    @property
    def positions(self) -> list[int]:
        """First-divergence positions of the drifting episodes."""
        return [e.divergence.position for e in self.drifted if e.divergence is not None]

    def by_id(self, trajectory_id: str) -> EpisodeDrift:
        """The check of one trajectory."""
        for episode in self.episodes:
            if episode.trajectory_id == trajectory_id:
                return episode
        raise KeyError(f"trajectory {trajectory_id!r} was not checked")

    def to_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "fraction": self.fraction, "positions": self.positions,
                "episodes": [e.to_dict() for e in self.episodes], "skipped": [list(s) for s in self.skipped]}

    def summary(self) -> str:
        """A few lines for a person or a CI log."""
        lines = [f"token drift: {len(self.drifted)} of {self.checked} episodes ({100 * self.fraction:.1f}%)"
                 + (f", {len(self.skipped)} skipped" if self.skipped else "")]
        for episode in self.drifted[:5]:
            d = episode.divergence
            assert d is not None
            lines.append(f"  {episode.trajectory_id}: token {d.position} ({d.region}"
                         + (f", turn {d.turn + 1}" if d.turn is not None else "") + f"): {d.reason}")
            lines.append(f"    recorded {d.recorded_text!r} | rendered {d.rendered_text!r}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def check_drift(store: TrajectoryStore | str | Path | Iterable[Trajectory], tokenizer: Any, *,
                tool_format: str = "native", template_kwargs: dict[str, Any] | None = None,
                assistant: AssistantText = "raw") -> DriftReport:
    """Re-render every recorded conversation with `tokenizer`'s chat template and compare ids.

    Args:
        store: A `TrajectoryStore`, its path, or trajectories.
        tokenizer: The model's tokenizer (its chat template renders the conversations).
        tool_format: How tools were given to the model when the episodes were played (`native` or `text`).
        template_kwargs: Extra `apply_chat_template` arguments the episodes were played with.
        assistant: Render assistant turns from their generated text (`raw`) or from the parsed messages
            (`parsed`).
    """
    if isinstance(store, str | Path):
        store = TrajectoryStore(store)
    records = store.read() if isinstance(store, TrajectoryStore) else list(store)
    episodes, skipped = [], []
    for t in records:
        if t.tokens is None or not t.tokens.prompt_ids:
            skipped.append((t.id, "no token record (a text-only policy, or reset failed)"))
            continue
        try:
            episodes.append(episode_drift(t, tokenizer, tool_format=tool_format, template_kwargs=template_kwargs,
                                          assistant=assistant))
        except ConfigError as exc:
            skipped.append((t.id, str(exc)))
    return DriftReport(episodes, skipped)


def drift_metrics(trajectories: Sequence[Trajectory], tokenizer: Any, *, tool_format: str = "native",
                  template_kwargs: dict[str, Any] | None = None) -> dict[str, float]:
    """Per-step drift numbers of a batch: `drift/fraction` (of the batch's episodes with token records),
    `drift/episodes` (how many drift), `drift/retokenized` (how many of those only in how the same text is
    split into ids), `drift/first_position` (the earliest divergence, -1 for none)."""
    report = check_drift(trajectories, tokenizer, tool_format=tool_format, template_kwargs=template_kwargs)
    positions = report.positions
    return {"drift/fraction": report.fraction, "drift/episodes": float(len(report.drifted)),
            "drift/retokenized": float(len(report.retokenized)),
            "drift/first_position": float(min(positions)) if positions else -1.0,
            **({"drift/median_position": float(statistics.median(positions))} if positions else {})}


def episode_drift(t: Trajectory, tokenizer: Any, *, tool_format: str = "native",
                  template_kwargs: dict[str, Any] | None = None, assistant: AssistantText = "raw") -> EpisodeDrift:
    """The drift check of one trajectory with a token record."""
    if t.tokens is None:
        raise ConfigError(f"Trajectory {t.id} has no token record; only token-capable policies record ids.")
    if assistant not in ("raw", "parsed"):
        raise ConfigError(f"assistant must be 'raw' or 'parsed', got {assistant!r}.")
    renderer = ChatRenderer(tokenizer, t.tools, tool_format=tool_format, template_kwargs=template_kwargs)  # type: ignore[arg-type]
    recorded = [*t.tokens.prompt_ids, *t.tokens.completion_ids]
    regions = _regions(len(t.tokens.prompt_ids), t.tokens.env_mask, sum(m.role == "assistant" for m in t.messages))
    rendered = _rendered_ids(t, renderer, regions, assistant)
    position = next((i for i, (a, b) in enumerate(zip(recorded, rendered, strict=False)) if a != b), None)
    if position is None and len(rendered) < len(recorded):
        position = len(rendered)
    divergence = None if position is None else _divergence(tokenizer, recorded, rendered, position, regions, t)
    return EpisodeDrift(t.id, len(recorded), len(rendered), divergence)


def _regions(prompt_len: int, env_mask: Sequence[int], turns: int) -> list[tuple[int, int, str, int | None]]:
    """(start, end, region, turn) runs over prompt + completion; an environment run has the turn before it.
    Of `turns` assistant turns, those without a generated run were rendered into the prompt (a branch's prefix)."""
    out: list[tuple[int, int, str, int | None]] = [(0, prompt_len, "prompt", None)] if prompt_len else []
    runs = sum(1 for i, keep in enumerate(env_mask) if keep and (i == 0 or not env_mask[i - 1]))
    turn = max(turns - runs, 0) - 1
    for i, keep in enumerate(env_mask):
        at, kind = prompt_len + i, "generated" if keep else "environment"
        if out and out[-1][2] == kind and out[-1][1] == at:
            out[-1] = (out[-1][0], at + 1, kind, out[-1][3])
            continue
        turn += kind == "generated"
        out.append((at, at + 1, kind, max(turn, 0)))
    return out


def _rendered_ids(t: Trajectory, renderer: ChatRenderer, regions: list[tuple[int, int, str, int | None]],
                  assistant: AssistantText) -> list[int]:
    """The conversation up to the last recorded model turn, rendered whole and tokenized."""
    assert t.tokens is not None
    ids = [*t.tokens.prompt_ids, *t.tokens.completion_ids]
    runs = [ids[s:e] for s, e, kind, _ in regions if kind == "generated"]
    actions = [k for k, m in enumerate(t.messages) if m.role == "assistant"]
    if len(runs) > len(actions):
        raise ConfigError(f"Trajectory {t.id} has {len(runs)} generated runs but {len(actions)} assistant messages; "
                          "its token record does not belong to its conversation.")
    if not runs:  # the model never spoke: the prompt alone
        return renderer.prompt_ids(t.messages[: actions[0]] if actions else t.messages)
    # the generated runs are the last assistant turns (earlier ones, e.g. a branch's replayed prefix, are in the prompt)
    last = actions[-1]
    chat = renderer.chat(t.messages[: last + 1])
    if assistant == "raw":
        spoken = [k for k, entry in enumerate(chat) if entry["role"] == "assistant"][-len(runs):]
        for k, run in zip(spoken, runs, strict=True):
            chat[k] = {"role": "assistant", "content": _generated_text(renderer, run)}
    text = renderer.render(chat, generation_prompt=False)
    end = text.rfind(renderer.eos_text) if renderer.eos_text else -1
    if end >= 0:
        text = text[: end + len(renderer.eos_text)]  # the record ends with the last turn's end-of-turn id
    return renderer.encode(text)


def _generated_text(renderer: ChatRenderer, run: Sequence[int]) -> str:
    """What a generated run says, without its closing end-of-turn id (the template writes that)."""
    ids = list(run)
    if ids and ids[-1] in renderer.eos_ids:
        ids = ids[:-1]
    return renderer.tokenizer.decode(ids, skip_special_tokens=False)


def _divergence(tokenizer: Any, recorded: list[int], rendered: list[int], position: int,
                regions: list[tuple[int, int, str, int | None]], t: Trajectory) -> Divergence:
    region, turn = next(((kind, k) for s, e, kind, k in regions if s <= position < e), ("environment", None))
    if position >= len(recorded):
        region = "end"
    decode = lambda ids: tokenizer.decode(list(ids), skip_special_tokens=False)  # noqa: E731
    rec, ren = recorded[position:position + CONTEXT], rendered[position:position + CONTEXT]
    before = decode(recorded[max(0, position - CONTEXT):position])
    same_text = decode(recorded[position:]) == decode(rendered[position:len(recorded)]) \
        or _retokenized(decode, recorded, rendered, position)
    reason = explain(decode(rec), decode(ren), before, region, _follows_tool(t, turn, region), same_text=same_text)
    return Divergence(position, region, turn, rec, ren, decode(rec), decode(ren), before, reason, same_text)


def _retokenized(decode: Any, recorded: list[int], rendered: list[int], position: int) -> bool:
    """Whether a few ids from `position` on each side decode to the same text and the ids agree again right
    after (a local re-tokenization, e.g. ' att'+'endant' against ' attendant'), or the record ends there."""
    rendered_ends: dict[str, list[int]] = {}  # decoded text of rendered[position:position + j] -> those j
    for j in range(1, CONTEXT + 1):
        rendered_ends.setdefault(decode(rendered[position:position + j]), []).append(j)
    for i in range(1, CONTEXT + 1):
        for j in rendered_ends.get(decode(recorded[position:position + i]), ()):
            if position + i >= len(recorded) or recorded[position + i:position + i + 1] \
                    == rendered[position + j:position + j + 1]:
                return True
    return False


def _follows_tool(t: Trajectory, turn: int | None, region: str) -> bool:
    """Whether an environment region after model turn `turn` holds a tool's reply."""
    if region != "environment" or turn is None or turn >= len(t.steps):
        return False
    step = t.steps[turn]
    replies = t.messages[step.action_index + 1: step.action_index + 1 + step.observation_count]
    return any(m.role == "tool" or "<tool_response>" in m.content for m in replies)


def explain(recorded: str, rendered: str, before: str, region: str, after_tool: bool = False,
            same_text: bool = False) -> str:
    """A plain-words reason for a divergence, from the texts on both sides of it."""
    if region == "end":
        return "the re-rendered conversation ends here; the record goes on (a turn the template does not render)"
    if same_text:
        what = "the model generated a tokenization that re-encoding its text does not give back" \
            if region == "generated" else "a piece was tokenized apart from its neighbours when the turn was appended"
        return f"same text, other token ids: {what}; a trainer that re-tokenizes the text trains on other ids"
    if "<think>" in before[-7:] + recorded and "<think>" not in before[-7:] + rendered:
        return ("the chat template drops <think> … </think> from earlier assistant turns: the model saw (and "
                "generated) its reasoning, the re-rendered conversation does not have it")
    common = 0
    while common < min(len(recorded), len(rendered)) and recorded[common] == rendered[common]:
        common += 1
    a, b = recorded[common:common + 1], rendered[common:common + 1]
    if (a.isspace() or b.isspace()) and (a or b):
        where = "after a tool response" if after_tool or "tool_response>" in before + recorded[:common] else \
            f"in the {region} tokens"
        extra, missing = (b, "rendered") if b.isspace() else (a, "recorded")
        return (f"whitespace {where}: the {missing} side has an extra {extra!r} — the template renders this "
                "reply with other spacing in the whole conversation than when it was appended after the "
                "generated turn")
    if region == "prompt":
        return "the prompt renders differently (another template, other tools or template arguments than when played)"
    if region == "generated":
        return "the template renders this assistant turn differently from what the model generated"
    return "the template renders the environment's reply differently in the whole conversation than when it was appended"


def as_lens_drift(episode: EpisodeDrift | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """An episode's drift as the token lens takes it (a plain dict), or None."""
    if episode is None:
        return None
    return episode.to_dict() if isinstance(episode, EpisodeDrift) else dict(episode)
