"""Composable trajectory filters, each reporting how many trajectories it removed.

A filter sees the whole list (so group-level filters such as best-of-n and de-duplication fit the
same shape) plus the tasks by id. `apply_filters` runs them in order and reports each one.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from agent_gym.errors import ConfigError
from agent_gym.types import Task, Trajectory

Tasks = Mapping[str, Task]


@dataclass(frozen=True)
class FilterReport:
    """How one filter changed the dataset."""

    name: str
    """The filter's name."""
    before: int
    """Trajectories it was given."""
    after: int
    """Trajectories it kept."""

    @property
    def removed(self) -> int:
        """Trajectories it removed."""
        return self.before - self.after

    @property
    def pass_rate(self) -> float:
        """Fraction kept (1.0 when it was given nothing)."""
        return self.after / self.before if self.before else 1.0


@dataclass(frozen=True)
class Filter:
    """A named step `(trajectories, tasks) -> kept trajectories`."""

    name: str
    """Shown in progress bars, reports and the dataset card."""
    apply: Callable[[Sequence[Trajectory], Tasks], list[Trajectory]]
    """The selection itself; must keep the input order."""
    per_trajectory: bool = False
    """True when it judges each trajectory alone (so a progress bar can count passes live)."""

    def __call__(self, trajectories: Sequence[Trajectory], tasks: Tasks) -> list[Trajectory]:
        return self.apply(trajectories, tasks)


def keep_if(name: str, predicate: Callable[[Trajectory, Task | None], bool]) -> Filter:
    """A per-trajectory filter from a predicate `(trajectory, its task or None) -> keep?`."""
    return Filter(name, lambda ts, tasks: [t for t in ts if predicate(t, tasks.get(t.task_id))], per_trajectory=True)


def apply_filters(
    trajectories: Sequence[Trajectory], filters: Sequence[Filter], tasks: Tasks | None = None
) -> tuple[list[Trajectory], list[FilterReport]]:
    """Run `filters` in order; return the kept trajectories and one report per filter."""
    kept, reports = list(trajectories), []
    for step in filters:
        if not isinstance(step, Filter):
            raise ConfigError(f"filters must be agent_gym.synth Filter objects, got {type(step).__name__}; wrap a predicate with keep_if().")
        before = len(kept)
        kept = step(kept, tasks or {})
        reports.append(FilterReport(step.name, before, len(kept)))
    return kept, reports


def passes(trajectory: Trajectory, filters: Sequence[Filter], tasks: Tasks | None = None) -> bool:
    """Whether one trajectory passes every per-trajectory filter (group filters are skipped)."""
    return all(step([trajectory], tasks or {}) for step in filters if step.per_trajectory)


# ---- the filters ---------------------------------------------------------------------------------


def no_errors() -> Filter:
    """Drop failed episodes (those with `error`)."""
    return keep_if("no_errors", lambda t, task: t.error is None)


def min_reward(threshold: float) -> Filter:
    """Keep trajectories whose total reward is at least `threshold`."""
    return keep_if(f"reward>={threshold:g}", lambda t, task: t.reward >= threshold)


def successful() -> Filter:
    """Keep trajectories the environment judged successful."""
    return keep_if("success", lambda t, task: t.success is True)


def valid_format() -> Filter:
    """Every assistant turn parsed, and the episode ended naturally: with a final answer (no tool
    call, some text), or by the environment after a tool call (games end on the winning action)."""

    def ok(t: Trajectory, task: Task | None) -> bool:
        assistant = [m for m in t.messages if m.role == "assistant"]
        if not assistant or any(m.error for m in assistant) or not t.terminated:
            return False
        last = t.messages[-1]
        return last.role != "assistant" or (not last.tool_calls and bool(last.content.strip()))

    return keep_if("valid_format", ok)


def length_bounds(min_turns: int = 1, max_turns: int | None = None, max_tokens: int | None = None, max_chars: int | None = None) -> Filter:
    """Keep trajectories within turn, completion-token and character bounds."""

    def ok(t: Trajectory, task: Task | None) -> bool:
        chars = sum(len(m.content) + len(m.reasoning or "") for m in t.messages)
        return (
            t.num_turns >= min_turns
            and (max_turns is None or t.num_turns <= max_turns)
            and (max_tokens is None or t.usage.completion_tokens <= max_tokens)
            and (max_chars is None or chars <= max_chars)
        )

    return keep_if("length_bounds", ok)


def best_of_n(k: int = 1) -> Filter:
    """Per task, keep the `k` best trajectories (reward, then fewer turns, then sample index)."""
    if k < 1:
        raise ConfigError(f"best_of_n needs k >= 1, got {k}.")

    def apply(ts: Sequence[Trajectory], tasks: Tasks) -> list[Trajectory]:
        groups: dict[str, list[Trajectory]] = defaultdict(list)
        for t in ts:
            groups[t.task_id].append(t)
        chosen = {id(t) for group in groups.values() for t in sorted(group, key=lambda t: (-t.reward, t.num_turns, t.sample_index))[:k]}
        return [t for t in ts if id(t) in chosen]

    return Filter(f"best_of_{k}", apply)


def normalize_text(text: str) -> str:
    """Lower-case, accents and punctuation removed, whitespace collapsed: the near-duplicate key."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def dedupe(near: bool = True) -> Filter:
    """Drop repeated conversations: exact copies, and with `near` those equal after `normalize_text`."""

    def key(t: Trajectory) -> str:
        text = "\x1f".join(f"{m.role}:{m.content}:{m.reasoning or ''}:{[c.model_dump() for c in m.tool_calls]}" for m in t.messages)
        return normalize_text(text) if near else text

    def apply(ts: Sequence[Trajectory], tasks: Tasks) -> list[Trajectory]:
        seen: set[str] = set()
        out = []
        for t in ts:
            k = key(t)
            if k not in seen:
                seen.add(k)
                out.append(t)
        return out

    return Filter("dedupe" if near else "dedupe_exact", apply)


def no_leakage() -> Filter:
    """Drop trajectories whose final answer merely copies the task's answer from the prompt: the
    answer appears word for word both in the prompt and in the last assistant message."""

    def ok(t: Trajectory, task: Task | None) -> bool:
        if task is None or task.answer is None or str(task.answer).strip() == "" or t.messages[-1].role != "assistant":
            return True
        pattern = rf"(?<!\w){re.escape(str(task.answer).strip())}(?!\w)"
        prompt = " ".join(m.content for m in t.messages if m.role in ("system", "user"))
        return not (re.search(pattern, prompt) and re.search(pattern, t.messages[-1].content))

    return keep_if("no_leakage", ok)


def default_filters() -> list[Filter]:
    """A sensible pipeline: no errors, success, valid format, de-duplicated, best of 1, no leakage."""
    return [no_errors(), successful(), valid_format(), no_leakage(), dedupe(), best_of_n(1)]
