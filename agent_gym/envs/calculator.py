"""A small arithmetic environment with a calculator tool: the quickstart's and the demo's world.

Tasks are seeded word problems over two or three integers; the answer is judged numerically.
`CalculatorExpert` solves every task (one tool call, then the answer) for tests and tutorials.
"""

from __future__ import annotations

import ast
import operator
import random
from collections.abc import Sequence
from typing import Any

from agent_gym.env import ToolEnv
from agent_gym.policies.base import PolicyOutput
from agent_gym.rewards.functions import format_ok, numeric_match
from agent_gym.rewards.rubric import weighted
from agent_gym.tools.base import tool
from agent_gym.types import Message, Task, ToolCall, assistant

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Mod: operator.mod, ast.FloorDiv: operator.floordiv}

SYSTEM_PROMPT = (
    "You are a careful assistant. Use the calculate tool for arithmetic, "
    "then reply with the final number only."
)


@tool(blocking=False)
def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression with + - * / % // and parentheses.

    Args:
        expression: The expression, for example "(17 + 5) * 3".
    """
    value = _evaluate(ast.parse(expression, mode="eval").body)
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.operand))
    raise ValueError("only numbers, + - * / % // and parentheses are allowed")


def make_tasks(count: int = 50, seed: int = 0) -> list[Task]:
    """`count` seeded arithmetic word problems with their expression and answer."""
    rng = random.Random(seed)
    tasks = []
    for index in range(count):
        a, b, c = rng.randint(2, 99), rng.randint(2, 99), rng.randint(2, 9)
        kind = index % 3
        if kind == 0:
            prompt, expression = f"A shop sells {a} apples in the morning and {b} in the afternoon. How many in total?", f"{a} + {b}"
        elif kind == 1:
            prompt, expression = f"A box holds {a} pens. How many pens are in {c} boxes?", f"{a} * {c}"
        else:
            prompt, expression = f"What is ({a} + {b}) * {c}?", f"({a} + {b}) * {c}"
        answer = calculate(expression)
        tasks.append(Task(id=f"calc-{index:03d}", prompt=prompt, answer=answer, metadata={"expression": expression}))
    return tasks


class CalculatorEnv(ToolEnv):
    """Arithmetic word problems, a `calculate` tool, reward = numeric match + 0.1 × well-formed answer."""

    name = "calculator"

    def __init__(self, system_prompt: str = SYSTEM_PROMPT) -> None:
        super().__init__(
            tools=[calculate],
            reward=weighted(correct=(numeric_match, 1.0), format=(format_ok, 0.1)),
            system_prompt=system_prompt,
            name="calculator",
        )

    def default_tasks(self) -> list[Task]:
        return make_tasks()


class CalculatorExpert:
    """A scripted expert: calls `calculate` on the task's expression, then answers with the result."""

    name = "calculator-expert"
    model: str | None = None
    sampling: dict[str, Any] = {}

    async def act(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *, seed: int | None = None) -> PolicyOutput:
        last = messages[-1]
        if last.role == "tool":
            return PolicyOutput(assistant(last.content, reasoning="The tool gave the result."))
        task_text = next(m.content for m in messages if m.role == "user")
        expression = _expression_from(task_text)
        call = ToolCall(name="calculate", arguments={"expression": expression}, id="call_0")
        return PolicyOutput(assistant(reasoning=f"I need {expression}.", tool_calls=(call,)))


def _expression_from(prompt: str) -> str:
    numbers = [int(tok) for tok in prompt.replace("(", " ").replace(")", " ").replace("?", " ").replace(",", " ").split() if tok.isdigit()]
    if "total" in prompt:
        return f"{numbers[0]} + {numbers[1]}"
    if "boxes" in prompt:
        return f"{numbers[0]} * {numbers[1]}"
    return f"({numbers[0]} + {numbers[1]}) * {numbers[2]}"
