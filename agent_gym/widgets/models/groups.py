"""GRPO groups: the n samples of one task, their group-relative advantages and what looks wrong.

A group whose rewards are all equal gives GRPO no signal (every advantage is 0). A winner that is
much longer than its group, hedges, or answers nothing is flagged: such wins often mean the reward
can be gamed.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent_gym.types import Trajectory

EPS = 1e-4
"""Added to the group's std before dividing, as TRL's GRPO does."""
LONG_FACTOR = 2.0
"""A winner longer than this many times the median length of the rest of its group is flagged."""
_HEDGES = re.compile(
    r"\b(maybe|perhaps|probably|possibly|i think|i guess|not sure|might be|could be|either|or possibly|"
    r"i am unsure|i'm unsure|it depends)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Sample:
    """One member of a group."""

    trajectory: Trajectory
    """The sample."""
    advantage: float
    """(reward - group mean) / (group std + EPS)."""
    length: int
    """Completion tokens, or characters of the assistant's text when tokens are not known."""
    flags: tuple[str, ...] = ()
    """What looks suspicious about it (only winners are checked)."""


@dataclass(frozen=True)
class Group:
    """The samples of one task by one policy/model."""

    key: tuple[str, ...]
    """(env, task_id, policy, model)."""
    samples: tuple[Sample, ...]
    """Members in sample order."""
    mean: float
    """Mean reward."""
    std: float
    """Sample standard deviation of the rewards (0 for a single sample)."""
    flags: tuple[str, ...] = field(default=())
    """Group-level problems: `zero_variance`, `single_sample`, `errors`."""

    @property
    def task_id(self) -> str:
        return self.key[1]

    @property
    def rewards(self) -> list[float]:
        return [s.trajectory.reward for s in self.samples]


def advantages(rewards: Sequence[float], eps: float = EPS) -> tuple[float, float, list[float]]:
    """(mean, std, advantages) of one group, GRPO-style: (r - mean) / (std + eps), std with n - 1."""
    if not rewards:
        return 0.0, 0.0, []
    mean = statistics.fmean(rewards)
    std = statistics.stdev(rewards) if len(rewards) > 1 else 0.0
    return mean, std, [(r - mean) / (std + eps) for r in rewards]


def sample_length(t: Trajectory) -> int:
    """How long the policy's output was: completion tokens if counted, else assistant characters."""
    if t.usage.completion_tokens:
        return t.usage.completion_tokens
    return sum(len(m.content) + len(m.reasoning or "") for m in t.messages if m.role == "assistant")


def answer_flags(answer: str) -> list[str]:
    """`empty`, `hedging` (hedge words, or several different numbers) for a final answer."""
    text = answer.strip()
    if not text:
        return ["empty"]
    flags = []
    if _HEDGES.search(text) or len(set(_NUMBER.findall(text))) > 2:
        flags.append("hedging")
    return flags


def make_group(key: tuple[str, ...], trajectories: Sequence[Trajectory], eps: float = EPS) -> Group:
    """Statistics and flags of one group."""
    ordered = sorted(trajectories, key=lambda t: (t.sample_index, t.id))
    mean, std, advs = advantages([t.reward for t in ordered], eps)
    lengths = [sample_length(t) for t in ordered]
    best = max((t.reward for t in ordered), default=0.0)
    zero_variance = len(ordered) > 1 and math.isclose(std, 0.0, abs_tol=1e-12)
    samples = []
    for i, (t, adv, length) in enumerate(zip(ordered, advs, lengths, strict=True)):
        flags: list[str] = []
        if t.error is not None:
            flags.append("error")
        if not zero_variance and len(ordered) > 1 and t.reward == best:
            flags += answer_flags(t.final_answer)
            others = lengths[:i] + lengths[i + 1:]
            median = statistics.median(others) if others else 0
            if median and length > LONG_FACTOR * median:
                flags.append("long")
        samples.append(Sample(t, adv, length, tuple(flags)))
    group_flags = []
    if zero_variance:
        group_flags.append("zero_variance")
    if len(ordered) == 1:
        group_flags.append("single_sample")
    if any(t.error is not None for t in ordered):
        group_flags.append("errors")
    if any(set(s.flags) & {"empty", "hedging", "long"} for s in samples):
        group_flags.append("suspicious_winner")
    return Group(key, tuple(samples), mean, std, tuple(group_flags))


def group_key(t: Trajectory) -> tuple[str, ...]:
    return (t.env, t.task_id, t.policy, t.model or "")


def make_groups(trajectories: Iterable[Trajectory], eps: float = EPS) -> list[Group]:
    """Groups by (env, task, policy, model), in order of first appearance."""
    buckets: dict[tuple[str, ...], list[Trajectory]] = {}
    for t in trajectories:
        buckets.setdefault(group_key(t), []).append(t)
    return [make_group(key, members, eps) for key, members in buckets.items()]


def group_summary(groups: Sequence[Group]) -> dict[str, Any]:
    """Across groups: how many give GRPO a signal."""
    multi = [g for g in groups if len(g.samples) > 1]
    zero = sum("zero_variance" in g.flags for g in multi)
    return {
        "groups": len(groups), "multi_sample_groups": len(multi), "zero_variance": zero,
        "signal_fraction": (len(multi) - zero) / len(multi) if multi else 0.0,
        "suspicious": sum("suspicious_winner" in g.flags for g in groups),
        "mean_std": statistics.fmean([g.std for g in multi]) if multi else 0.0,
    }


def group_view(group: Group, answer_chars: int = 400) -> dict[str, Any]:
    """One group as JSON-ready data for the inspector."""
    return {
        "key": "/".join(group.key), "env": group.key[0], "task_id": group.key[1], "policy": group.key[2],
        "model": group.key[3] or None, "mean": group.mean, "std": group.std, "flags": list(group.flags),
        "n": len(group.samples),
        "samples": [
            {
                "id": s.trajectory.id, "sample_index": s.trajectory.sample_index, "reward": s.trajectory.reward,
                "advantage": s.advantage, "success": s.trajectory.success, "turns": s.trajectory.num_turns,
                "length": s.length, "flags": list(s.flags), "answer": s.trajectory.final_answer[:answer_chars],
                "error": s.trajectory.error.kind if s.trajectory.error else None,
            }
            for s in group.samples
        ],
    }


def group_list_entry(group: Group) -> dict[str, Any]:
    """A line of the inspector's group list."""
    return {
        "key": "/".join(group.key), "task_id": group.key[1], "env": group.key[0], "model": group.key[3] or None, "n": len(group.samples),
        "mean": group.mean, "std": group.std, "flags": list(group.flags),
    }
