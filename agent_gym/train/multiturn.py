"""Token-level helpers for multi-turn training: the GRPO view of a recorded episode.

Episodes are played by the one engine (`agent_gym.runner.run_episodes_async`) with a token-capable
policy (`agent_gym.policies.tokens.TokenPolicy`); each trajectory's `tokens` holds the sequence exactly as
generated. `sequences` turns trajectories into what a trainer consumes; `mask_spans` splits a completion
into the model's turns and the environment's; `valid_tool_call` says whether a turn was a good call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent_gym.errors import ConfigError
from agent_gym.types import Trajectory


@dataclass(frozen=True)
class TokenSequences:
    """A trajectory as a trainer consumes it (TRL's `rollout_func` fields)."""

    prompt_ids: list[int]
    completion_ids: list[int]
    logprobs: list[float]
    env_mask: list[int]
    """1 for generated ids (trained on), 0 for ids the environment added."""


def sequences(t: Trajectory, fallback_prompt_ids: Sequence[int] = (), end_id: int = 0) -> TokenSequences:
    """The token sequences of a trajectory recorded by a token-capable policy.

    An episode that failed before its first turn has no completion; TRL needs at least one id, so one
    `end_id` is added with mask 0 (never trained on). `fallback_prompt_ids` stand in for a prompt the
    environment never produced (its `reset` failed).
    """
    if t.tokens is None and t.error is None:
        raise ConfigError(f"Trajectory {t.id} has no token record: it was played by a text-only policy "
                          f"({t.policy}); token-exact training needs a token-capable one (TokenPolicy).")
    tokens = t.tokens
    prompt = list(tokens.prompt_ids) if tokens is not None and tokens.prompt_ids else list(fallback_prompt_ids) or [end_id]
    completion = list(tokens.completion_ids) if tokens is not None else []
    logprobs = list(tokens.logprobs) if tokens is not None else []
    mask = list(tokens.env_mask) if tokens is not None else []
    if not completion:
        completion, logprobs, mask = [end_id], [0.0], [0]
    return TokenSequences(prompt, completion, logprobs, mask)


def mask_spans(ids: Sequence[int], mask: Sequence[int]) -> list[tuple[bool, list[int]]]:
    """Runs of equal mask: `[(trained?, ids), ...]` — the model's turns and the environment's in between."""
    spans: list[tuple[bool, list[int]]] = []
    for token, keep in zip(ids, mask, strict=True):
        if spans and spans[-1][0] == bool(keep):
            spans[-1][1].append(token)
        else:
            spans.append((bool(keep), [token]))
    return spans


def valid_tool_call(t: Trajectory, turn: int = 0) -> bool:
    """Whether assistant turn `turn` of `t` is a well-formed call of a known tool that ran without error."""
    if len(t.steps) <= turn:
        return False
    step = t.steps[turn]
    message = t.messages[step.action_index]
    bad = step.info.get("tool_errors", 0) or step.info.get("parse_error")  # a legal call of a bad move still counts
    return bool(message.tool_calls) and message.error is None and not bad
