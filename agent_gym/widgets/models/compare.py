"""Two trajectories of the same task, aligned turn by turn, with their differences marked.

Typical pairs: two models, two checkpoints, before and after training. `pairs` matches the
trajectories of two runs by (task, sample index).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from agent_gym.stats import paired_comparison
from agent_gym.types import Message, Trajectory
from agent_gym.widgets.models.trajectory import trajectory_view

DIFF_LIMIT = 4_000
"""Texts longer than this are compared but not word-diffed (too slow to be useful)."""
_WORDS = re.compile(r"\s+|[^\s\w]|\w+")


def _turn_signature(t: Trajectory, k: int) -> dict[str, Any] | None:
    if k >= len(t.steps):
        return None
    step = t.steps[k]
    action = t.messages[step.action_index] if 0 <= step.action_index < len(t.messages) else Message(role="assistant")
    observations = t.messages[step.action_index + 1: step.action_index + 1 + step.observation_count]
    return {
        "content": action.content.strip(),
        "calls": [(c.name, json.dumps(c.arguments, sort_keys=True)) for c in action.tool_calls],
        "observations": [m.content.strip() for m in observations],
        "reward": step.reward,
        "error": action.error,
    }


def word_diff(a: str, b: str) -> list[list[str]] | None:
    """[[op, text], …] with op `=`, `-` (only in a) or `+` (only in b); None when too long to diff."""
    if len(a) > DIFF_LIMIT or len(b) > DIFF_LIMIT:
        return None
    wa, wb = _WORDS.findall(a), _WORDS.findall(b)
    out: list[list[str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, wa, wb, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(["=", "".join(wa[i1:i2])])
            continue
        if i2 > i1:
            out.append(["-", "".join(wa[i1:i2])])
        if j2 > j1:
            out.append(["+", "".join(wb[j1:j2])])
    return out


def align(a: Trajectory, b: Trajectory) -> list[dict[str, Any]]:
    """One row per turn index: what differs between a's and b's turn (`missing` when one has none)."""
    rows = []
    for k in range(max(len(a.steps), len(b.steps))):
        sa, sb = _turn_signature(a, k), _turn_signature(b, k)
        if sa is None or sb is None:
            rows.append({"turn": k, "a": sa is not None, "b": sb is not None, "diff": ["missing"], "same": False})
            continue
        diff = []
        if sa["content"] != sb["content"]:
            diff.append("content")
        if sa["calls"] != sb["calls"]:
            diff.append("tool_calls" if [c[0] for c in sa["calls"]] != [c[0] for c in sb["calls"]] else "arguments")
        if sa["observations"] != sb["observations"]:
            diff.append("observations")
        if sa["reward"] != sb["reward"]:
            diff.append("reward")
        if sa["error"] != sb["error"]:
            diff.append("error")
        row: dict[str, Any] = {"turn": k, "a": True, "b": True, "diff": diff, "same": not diff}
        if "content" in diff:
            row["content_diff"] = word_diff(sa["content"], sb["content"])
        rows.append(row)
    return rows


def outcome_diff(a: Trajectory, b: Trajectory) -> dict[str, Any]:
    """Headline differences: reward, success, turns, tokens, final answer, error."""
    return {
        "reward": [a.reward, b.reward], "success": [a.success, b.success], "turns": [a.num_turns, b.num_turns],
        "tokens": [a.usage.total_tokens, b.usage.total_tokens],
        "error": [a.error.kind if a.error else None, b.error.kind if b.error else None],
        "same_answer": a.final_answer.strip() == b.final_answer.strip(),
        "answer_diff": word_diff(a.final_answer, b.final_answer),
        "first_divergence": next((r["turn"] for r in align(a, b) if not r["same"]), None),
    }


def pair_view(a: Trajectory, b: Trajectory, labels: Sequence[str] = ("A", "B")) -> dict[str, Any]:
    """Everything the compare view shows of one pair, as JSON-ready data."""
    rows = align(a, b)
    return {
        "labels": list(labels), "a": trajectory_view(a), "b": trajectory_view(b), "rows": rows,
        "outcome": outcome_diff(a, b), "task_id": a.task_id if a.task_id == b.task_id else f"{a.task_id} | {b.task_id}",
        "differing_turns": sum(not r["same"] for r in rows),
    }


def pairs(a: Sequence[Trajectory], b: Sequence[Trajectory]) -> list[tuple[Trajectory, Trajectory]]:
    """Trajectories of run a and run b with the same (task, sample index), in a's order."""
    by_key: Mapping[tuple[str, int], Trajectory] = {(t.task_id, t.sample_index): t for t in b}
    return [(t, by_key[(t.task_id, t.sample_index)]) for t in a if (t.task_id, t.sample_index) in by_key]


def pair_choice(a: Trajectory, b: Trajectory) -> dict[str, Any]:
    """A line of the compare view's pair selector; `flip` is `gained` (B solved what A did not), `lost` or None."""
    solved = bool(a.success) and a.error is None, bool(b.success) and b.error is None
    flip = "gained" if solved == (False, True) else "lost" if solved == (True, False) else None
    return {
        "key": f"{a.task_id}#{a.sample_index}", "task_id": a.task_id, "sample_index": a.sample_index,
        "reward": [a.reward, b.reward], "success": [a.success, b.success], "flip": flip,
    }


def flipped_first(found: Sequence[tuple[Trajectory, Trajectory]]) -> list[tuple[Trajectory, Trajectory]]:
    """Pairs whose outcome flipped first (gained, then lost), then the rest, each in the order given."""
    rank = {"gained": 0, "lost": 1, None: 2}
    return sorted(found, key=lambda pair: rank[pair_choice(*pair)["flip"]])


def paired_summary(a: Sequence[Trajectory], b: Sequence[Trajectory], labels: Sequence[str]) -> dict[str, Any]:
    """The paired statistics of two runs (`stats.paired_comparison`) as the compare view's header shows them."""
    comparison = paired_comparison(a, b, label_a=labels[0], label_b=labels[1])
    return comparison.to_dict() | {"text": comparison.report()}


def branch_link(t: Trajectory) -> dict[str, Any] | None:
    """A branch's link to its parent (`metadata["branch"]`: parent id, turn, edit, policy), or None."""
    link = t.metadata.get("branch")
    return dict(link) if isinstance(link, Mapping) and "parent" in link else None


def branch_label(t: Trajectory) -> str:
    """How a branch is named in the compare view: where it forks, who played on, what was edited."""
    link = branch_link(t) or {}
    edit = link.get("edit") or {}
    edited = [name for name in ("assistant", "observation") if edit.get(name)]
    who = link.get("model") or link.get("policy") or t.model or t.policy
    return f"branch at turn {int(link.get('turn', 0)) + 1} · {who}" + (f" · edited {' & '.join(edited)}" if edited else "")


def branch_choice(parent: Trajectory, child: Trajectory) -> dict[str, Any]:
    """A line of the compare view's selector for one branch of `parent` (keyed by the branch's id)."""
    return pair_choice(parent, child) | {"key": f"{branch_label(child)} · {child.id[-8:]}", "branch": branch_link(child)}
