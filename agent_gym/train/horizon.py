"""Turn-horizon schedules: how many turns an episode may take at each training step.

ScalingInter-RL (AgentGym-RL) starts with short interactions, so the policy first learns to act
well in a few turns, then grows the horizon to allow exploration and long-horizon behaviour.

* `FixedHorizon(10)` — the same limit throughout.
* `StepwiseHorizon(rounds=[10, 20, 30], every=100)` — the ScalingInter-RL schedule: the k-th value
  from step `k * every` on.
* `AdaptiveHorizon(start=5, step=5, maximum=30, threshold=0.6)` — grow when the recent success rate
  passes a threshold.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from agent_gym.errors import ConfigError


@runtime_checkable
class HorizonSchedule(Protocol):
    """Maps a training step (and what was observed) to a maximum number of turns."""

    def max_turns(self, step: int) -> int:
        """The turn limit for episodes collected at `step`."""
        ...

    def observe(self, step: int, success_rate: float) -> None:
        """Report the success rate of the episodes collected at `step`."""
        ...


@dataclass
class FixedHorizon:
    """The same turn limit at every step."""

    turns: int
    """The limit."""

    def __post_init__(self) -> None:
        if self.turns < 1:
            raise ConfigError(f"FixedHorizon needs turns >= 1, got {self.turns}.")

    def max_turns(self, step: int) -> int:
        return self.turns

    def observe(self, step: int, success_rate: float) -> None:
        """Nothing to adapt."""


@dataclass
class StepwiseHorizon:
    """ScalingInter-RL: `rounds[k]` turns from step `k * every` on (the last value stays)."""

    rounds: list[int]
    """Turn limits in order, e.g. [10, 20, 30]."""
    every: int
    """Steps per round."""

    def __post_init__(self) -> None:
        if not self.rounds or any(r < 1 for r in self.rounds):
            raise ConfigError(f"StepwiseHorizon needs a non-empty list of positive turn limits, got {self.rounds}.")
        if self.every < 1:
            raise ConfigError(f"StepwiseHorizon needs every >= 1, got {self.every}.")

    def max_turns(self, step: int) -> int:
        return self.rounds[min(max(step, 0) // self.every, len(self.rounds) - 1)]

    def observe(self, step: int, success_rate: float) -> None:
        """The schedule is fixed in advance."""


@dataclass
class AdaptiveHorizon:
    """Grow the limit by `step` (up to `maximum`) when the mean success of the last `window`
    observed steps reaches `threshold`; the window restarts after each growth."""

    start: int
    """Initial limit."""
    step: int
    """Growth per increase."""
    maximum: int
    """Upper bound."""
    threshold: float = 0.6
    """Success rate that triggers growth."""
    window: int = 3
    """Steps averaged before deciding."""
    current: int = field(init=False)
    _recent: deque[float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.start <= self.maximum or self.step < 1 or self.window < 1:
            raise ConfigError("AdaptiveHorizon needs 1 <= start <= maximum, step >= 1 and window >= 1.")
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold is a success rate in [0, 1], got {self.threshold}.")
        self.current = self.start
        self._recent = deque(maxlen=self.window)

    def max_turns(self, step: int) -> int:
        return self.current

    def observe(self, step: int, success_rate: float) -> None:
        self._recent.append(success_rate)
        if len(self._recent) == self.window and sum(self._recent) / self.window >= self.threshold:
            self.current = min(self.current + self.step, self.maximum)
            self._recent.clear()


def as_schedule(horizon: HorizonSchedule | int | list[int] | None, every: int = 1) -> HorizonSchedule:
    """A schedule from a schedule, an int (fixed), a list (stepwise, `every` steps a round) or None (10 turns)."""
    if horizon is None:
        return FixedHorizon(10)
    if isinstance(horizon, bool):
        raise ConfigError("horizon must be a schedule, an int or a list of ints.")
    if isinstance(horizon, int):
        return FixedHorizon(horizon)
    if isinstance(horizon, list):
        return StepwiseHorizon(horizon, every)
    if isinstance(horizon, HorizonSchedule):
        return horizon
    raise ConfigError(f"horizon must be a schedule, an int or a list of ints, got {type(horizon).__name__}.")
