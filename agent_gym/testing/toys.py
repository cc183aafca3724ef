"""The smallest tool and reward there are, shared by the tests, the README and the tutorials:
`add` (a typed tool) and `correct` (1.0 when the final answer is the task's answer)."""

from __future__ import annotations

from collections.abc import Sequence

from agent_gym.tools import tool
from agent_gym.types import Message, Task, final_answer


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first integer.
        b: The second integer.
    """
    return a + b


def correct(task: Task, messages: Sequence[Message]) -> float:
    """1.0 when the last assistant message, stripped, is the task's answer."""
    return float(final_answer(messages).strip() == str(task.answer))
