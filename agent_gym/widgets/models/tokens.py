"""The token lens's view model: a trajectory as the exact id sequence the trainer sees, token by token.

From a trajectory with a token record (`Trajectory.tokens`): every id of prompt + completion with its
decoded piece, where it came from (`prompt`, `generated`: in the loss, `environment`: masked out), its
log-probability (generated ids), the turn it belongs to, tool calls located in the generated text, the
GRPO advantage of the episode where one is known, and — given a drift check of the episode
(`agent_gym.train.drift`, as a dict) — the first divergence. JSON-ready; pieces are text, never HTML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from agent_gym.types import Trajectory
from agent_gym.widgets.models.groups import advantages

ROLE_PROMPT, ROLE_GENERATED, ROLE_ENV = 0, 1, 2
"""Codes of `roles`: the rendered opening messages, ids the model generated, ids the environment added."""
WINDOW = 4
"""Ids decoded before each one to find its piece (multi-byte characters span ids)."""
_CALL = re.compile(r"<tool_call>.*?(?:</tool_call>|$)", re.DOTALL)


def token_pieces(tokenizer: Any, ids: Sequence[int]) -> list[str]:
    """The text each id adds: the decode of a few ids up to it less the decode of those before it.

    A character split over several ids belongs to the id that completes it; pieces join to the
    sequence's text (up to characters the tokenizer cannot decode on their own).
    """
    ids = list(ids)
    windows = [ids[max(0, i - WINDOW):i + 1] for i in range(len(ids))]
    heads = [w[:-1] for w in windows]
    full = tokenizer.batch_decode(windows, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    before = tokenizer.batch_decode(heads, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    pieces = []
    for whole, head in zip(full, before, strict=True):
        head = head.rstrip("\ufffd")
        pieces.append(whole[len(head):] if whole.startswith(head) else whole[-1:])
    return [p.replace("\ufffd", "") for p in pieces]


def lens_view(t: Trajectory, tokenizer: Any, *, drift: Mapping[str, Any] | None = None,
              advantage: float | None = None, group: Sequence[Trajectory] = ()) -> dict[str, Any]:
    """Everything the token lens shows of `t` (see the module docstring).

    `advantage` is the episode's GRPO advantage; without it, `metadata["grpo"]["advantage"]` when
    recorded, else the group-relative advantage within `group` (the episodes of its GRPO group).
    """
    if t.tokens is None:
        raise ValueError(f"Trajectory {t.id} has no token record: it was played by a text-only policy "
                         f"({t.policy}). The token lens needs a token-capable one (TokenPolicy).")
    tokens = t.tokens
    ids = [*tokens.prompt_ids, *tokens.completion_ids]
    roles = [ROLE_PROMPT] * len(tokens.prompt_ids) + [ROLE_GENERATED if m else ROLE_ENV for m in tokens.env_mask]
    logprobs: list[float | None] = [None] * len(tokens.prompt_ids) + [
        round(lp, 4) if m else None for lp, m in zip(tokens.logprobs, tokens.env_mask, strict=False)]
    pieces = token_pieces(tokenizer, ids)
    spans = _spans(t, roles)
    generated = [lp for lp in logprobs if lp is not None]
    return {
        "id": t.id, "task_id": t.task_id, "env": t.env, "policy": t.policy, "model": t.model,
        "reward": t.reward, "success": t.success, "n": len(ids), "prompt_len": len(tokens.prompt_ids),
        "ids": ids, "pieces": pieces, "roles": roles, "logprobs": logprobs,
        "spans": spans, "calls": _tool_calls(t, pieces, spans),
        "advantage": _advantage(t, advantage, group),
        "drift": _drift(drift, len(ids)),
        "stats": {"prompt": len(tokens.prompt_ids), "generated": sum(tokens.env_mask),
                  "environment": len(tokens.env_mask) - sum(tokens.env_mask),
                  "mean_logprob": sum(generated) / len(generated) if generated else None,
                  "min_logprob": min(generated) if generated else None},
    }


def _spans(t: Trajectory, roles: list[int]) -> list[dict[str, Any]]:
    """Runs of one role: the prompt, each model turn (`turn` from 0), the environment's reply after it."""
    spans: list[dict[str, Any]] = []
    runs = sum(1 for i, r in enumerate(roles) if r == ROLE_GENERATED and (i == 0 or roles[i - 1] != ROLE_GENERATED))
    turn = sum(m.role == "assistant" for m in t.messages) - runs - 1  # turns rendered into the prompt (a branch's prefix)
    turn = max(turn, -1)
    for i, role in enumerate(roles):
        if spans and spans[-1]["role"] == role:
            spans[-1]["end"] = i + 1
            continue
        turn += role == ROLE_GENERATED
        spans.append({"start": i, "end": i + 1, "role": role, "turn": max(turn, 0) if role else None})
    for span in spans:
        span["label"] = _label(t, span)
        if span["role"] == ROLE_GENERATED and span["turn"] < len(t.steps):
            span["reward"] = t.steps[span["turn"]].reward
    return spans


def _label(t: Trajectory, span: Mapping[str, Any]) -> str:
    if span["role"] == ROLE_PROMPT:
        return "prompt"
    k = span["turn"]
    if span["role"] == ROLE_GENERATED:
        return f"turn {k + 1}"
    if k >= len(t.steps):
        return "environment"
    step = t.steps[k]
    replies = t.messages[step.action_index + 1: step.action_index + 1 + step.observation_count]
    names = [f"tool · {m.name}" if m.role == "tool" and m.name else m.role for m in replies]
    return "environment: " + (", ".join(dict.fromkeys(names)) or "header")


def _tool_calls(t: Trajectory, pieces: list[str], spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each `<tool_call>` block the model wrote: its first and last id, and the call it was parsed to."""
    calls = []
    for span in (s for s in spans if s["role"] == ROLE_GENERATED):
        starts, text = [], ""
        for i in range(span["start"], span["end"]):
            starts.append(len(text))
            text += pieces[i]
        k = span["turn"]
        parsed = t.messages[t.steps[k].action_index].tool_calls if k < len(t.steps) else ()
        for n, match in enumerate(_CALL.finditer(text)):
            first = max(j for j, s in enumerate(starts) if s <= match.start())
            last = max(j for j, s in enumerate(starts) if s < match.end())
            label = f"{parsed[n].name}({', '.join(f'{a}={v!r}' for a, v in parsed[n].arguments.items())})" \
                if n < len(parsed) else "unparsed tool call"
            calls.append({"start": span["start"] + first, "end": span["start"] + last + 1, "turn": k, "label": label})
    return calls


def _advantage(t: Trajectory, given: float | None, group: Sequence[Trajectory]) -> float | None:
    if given is not None:
        return float(given)
    recorded = t.metadata.get("grpo", {}).get("advantage") if isinstance(t.metadata.get("grpo"), Mapping) else None
    if isinstance(recorded, int | float):
        return float(recorded)
    members = list(group)
    if len(members) > 1 and any(m.id == t.id for m in members):
        _, _, values = advantages([m.reward for m in members])
        return values[next(i for i, m in enumerate(members) if m.id == t.id)]
    return None


def _drift(drift: Mapping[str, Any] | None, n: int) -> dict[str, Any] | None:
    """The drift check as the lens marks it: `position` (clamped to the sequence) and both decodings."""
    if drift is None:
        return None
    divergence = drift.get("divergence")
    if not divergence:
        return {"drift": False, "rendered_tokens": drift.get("rendered_tokens")}
    keys = ("position", "region", "turn", "recorded_text", "rendered_text", "before", "reason",
            "recorded_ids", "rendered_ids")
    return {"drift": True, "rendered_tokens": drift.get("rendered_tokens"),
            **{k: divergence.get(k) for k in keys}, "mark": min(int(divergence["position"]), n - 1)}
