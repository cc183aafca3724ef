"""Reward functions combined by weight.

A reward function is a plain function `(task, messages) -> float` (or an async one). A `Rubric`
combines several by weight and keeps each raw value as a named component on the trajectory.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from agent_gym.errors import ConfigError, RewardError
from agent_gym.types import Message, Task

RewardFn = Callable[[Task, Sequence[Message]], "float | Awaitable[float]"]


@dataclass(frozen=True)
class RewardResult:
    """A total reward and the raw value of each named component."""

    reward: float
    """Weighted sum of the components."""
    components: dict[str, float] = field(default_factory=dict)
    """Raw (unweighted) value of each reward function."""


@dataclass(frozen=True)
class Rubric:
    """Named reward functions combined by weight: `reward = Σ weight[name] * fn(task, messages)`."""

    funcs: Mapping[str, RewardFn]
    """Reward functions by component name."""
    weights: Mapping[str, float] = field(default_factory=dict)
    """Weight per component; missing names weigh 1.0."""

    def __post_init__(self) -> None:
        if not self.funcs:
            raise ConfigError("A Rubric needs at least one reward function, e.g. Rubric({'correct': exact_match}).")
        unknown = set(self.weights) - set(self.funcs)
        if unknown:
            raise ConfigError(f"Weights name unknown components {sorted(unknown)}; components are {sorted(self.funcs)}.")
        for name, fn in self.funcs.items():
            if not callable(fn):
                raise ConfigError(f"Reward component {name!r} is not callable: {fn!r}.")

    async def score(self, task: Task, messages: Sequence[Message]) -> RewardResult:
        """Run every function and return the weighted total with the raw components."""
        components: dict[str, float] = {}
        for name, fn in self.funcs.items():
            label = f"Reward {name!r} ({getattr(fn, '__qualname__', type(fn).__name__)})"
            try:
                value = fn(task, messages)
                if inspect.isawaitable(value):
                    value = await value
            except Exception as exc:  # noqa: BLE001 - re-raised with the function named
                raise RewardError(f"{label} raised {type(exc).__name__}: {exc} (task {task.id!r}).") from exc
            try:
                components[name] = float(value)
            except (TypeError, ValueError):
                raise RewardError(f"{label} returned {value!r:.100}, not a number (task {task.id!r}).") from None
        total = sum(self.weights.get(name, 1.0) * value for name, value in components.items())
        return RewardResult(reward=total, components=components)


def as_rubric(reward: Rubric | RewardFn | None) -> Rubric | None:
    """A Rubric from a Rubric, a single function (one component named after it) or None."""
    if reward is None or isinstance(reward, Rubric):
        return reward
    if not callable(reward):
        raise ConfigError(f"reward must be a function (task, messages) -> float or a Rubric, got {type(reward).__name__}.")
    return Rubric({getattr(reward, "__name__", "reward"): reward})


def weighted(**parts: tuple[RewardFn, float]) -> Rubric:
    """Shorthand: `weighted(correct=(exact_match, 1.0), format=(format_ok, 0.2))`."""
    return Rubric({k: fn for k, (fn, _) in parts.items()}, {k: w for k, (_, w) in parts.items()})
