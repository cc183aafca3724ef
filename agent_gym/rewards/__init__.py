"""Rewards: plain functions `(task, messages) -> float` (`functions`), weighted into a `Rubric`
(`rubric`); an LLM judge that scores episodes with any policy is in `agent_gym.rewards.judge`."""

from agent_gym.rewards.functions import (
    exact_match,
    extract_boxed,
    extract_number,
    format_ok,
    math_match,
    numeric_match,
)
from agent_gym.rewards.rubric import RewardFn, RewardResult, Rubric, as_rubric, weighted

__all__ = [
    "RewardFn", "RewardResult", "Rubric", "as_rubric", "exact_match", "extract_boxed", "extract_number", "format_ok",
    "math_match", "numeric_match", "weighted",
]
