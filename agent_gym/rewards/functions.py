"""Ready-made reward functions `(task, messages) -> float`: answer extraction and matching, format."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence

from agent_gym.types import Message, Task, final_answer

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?|-?\.\d+")


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
