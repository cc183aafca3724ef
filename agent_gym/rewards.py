"""Reward functions and their weighted sums.

A reward function is a plain function `(task, messages) -> float` (or an async one). A `Rubric`
combines several by weight and keeps each raw value as a named component on the trajectory.
"""

from __future__ import annotations

import inspect
import logging
import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .errors import ConfigError
from .types import Message, Task, final_answer

RewardFn = Callable[[Task, Sequence[Message]], "float | Awaitable[float]"]

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?|-?\.\d+")


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
            value = fn(task, messages)
            if inspect.isawaitable(value):
                value = await value
            components[name] = float(value)
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


# ---- answer extraction ---------------------------------------------------------------------------


def extract_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{…}` in `text` (nested braces allowed), or None."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 0, start + len("\\boxed{")
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            if depth == 0:
                return text[i:j].strip()
            depth -= 1
    return None


def extract_number(text: str) -> float | None:
    """The last number in `text` (commas as thousands separators allowed), or None."""
    matches = _NUMBER.findall(text)
    if not matches:
        return None
    try:
        return float(matches[-1].replace(",", ""))
    except ValueError:
        return None


def _answer_text(messages: Sequence[Message]) -> str:
    text = final_answer(messages)
    boxed = extract_boxed(text)
    return boxed if boxed is not None else text.strip()


# ---- reward functions ----------------------------------------------------------------------------


def exact_match(task: Task, messages: Sequence[Message]) -> float:
    """1.0 when the final answer (or its `\\boxed{}` part) equals `task.answer` after trimming."""
    return float(_answer_text(messages) == str(task.answer).strip())


def numeric_match(task: Task, messages: Sequence[Message], rel_tol: float = 1e-6) -> float:
    """1.0 when the last number of the final answer equals the numeric `task.answer`."""
    got = extract_number(_answer_text(messages))
    want = extract_number(str(task.answer))
    if got is None or want is None:
        return 0.0
    return float(math.isclose(got, want, rel_tol=rel_tol, abs_tol=1e-9))


def math_match(task: Task, messages: Sequence[Message]) -> float:
    """1.0 when math-verify finds the final answer equivalent to `task.answer` (LaTeX, fractions …)."""
    from math_verify import parse, verify  # imported lazily: it loads sympy

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # it warns on every call that timeouts are off
    text = final_answer(messages)
    gold = parse(f"${task.answer}$", parsing_timeout=None)
    guess = parse(text, parsing_timeout=None)
    return float(bool(gold) and bool(guess) and verify(gold, guess, timeout_seconds=None))


def format_ok(task: Task, messages: Sequence[Message]) -> float:
    """1.0 when no assistant turn had an unparseable tool call and the episode ends in an answer."""
    assistant_turns = [m for m in messages if m.role == "assistant"]
    if not assistant_turns or any(m.error for m in assistant_turns):
        return 0.0
    last = assistant_turns[-1]
    return float(not last.tool_calls and bool(last.content.strip()))
