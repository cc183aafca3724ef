"""The math agent (seed 001): GSM8K-style problems, a sandboxed `run_python` tool, a boxed answer.

Offline tasks come from `reasoning-gym`'s seeded generators (`gsm_symbolic` word problems plus
arithmetic, lcm/gcd and fractions); `math_tasks` also loads a real GSM8K JSONL/Parquet file or a
`datasets.Dataset` (answers like `"... #### 72"` become `"72"`). The reward compares the final
`\\boxed{}` answer with the ground truth using math-verify (`correct`), plus 0.1 × `format` (the
reply has a `\\boxed{}` answer and no broken tool call).

AgentJet's *debug mode* — rollouts without training, to check the agent and the reward — is just
`run_rollouts(MathPythonEnv(), policy, tasks)`; training reads the same trajectories.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agent_gym.envs.code.base import SandboxToolEnv
from agent_gym.errors import TaskError
from agent_gym.policies.experts import TaskExpert
from agent_gym.rewards.functions import extract_boxed, math_match
from agent_gym.rewards.rubric import weighted
from agent_gym.sandbox.box import SandboxLimits
from agent_gym.tasks import load_tasks
from agent_gym.tools.base import tool
from agent_gym.types import Message, Task, ToolCall, assistant

SYSTEM_PROMPT = (
    "You are an agent specialized in solving math problems with tools. Think step by step and use the "
    "run_python tool to compute (it is a persistent Python session without network). When you have the "
    "result, reply with a short explanation and the final answer in \\boxed{}, for example \\boxed{42}."
)

DEFAULT_GENERATORS: dict[str, int] = {
    "gsm_symbolic": 36, "basic_arithmetic": 4, "lcm": 3, "gcd": 3, "fraction_simplification": 4,
}
"""reasoning-gym generator -> number of tasks in `MathPythonEnv`'s default set (50 in all)."""


def reasoning_gym_tasks(generators: Mapping[str, int] | None = None, seed: int = 0) -> list[Task]:
    """Seeded problems from reasoning-gym generators (`{name: count}`), with their ground truth."""
    try:
        import reasoning_gym
    except ImportError as exc:
        raise TaskError("Offline math tasks need the PyPI package reasoning-gym: pip install reasoning-gym") from exc
    tasks = []
    for name, count in (generators or DEFAULT_GENERATORS).items():
        if count <= 0:
            continue
        try:
            dataset = reasoning_gym.create_dataset(name, size=count, seed=seed)
        except Exception as exc:  # noqa: BLE001 - reasoning-gym raises assorted errors for bad names
            raise TaskError(f"reasoning-gym cannot make {name!r}: {exc}") from exc
        for index, entry in enumerate(dataset):
            meta = json.loads(json.dumps(entry["metadata"], default=str))
            tasks.append(Task(
                id=f"{name}-{seed}-{index:03d}",
                prompt=entry["question"],
                answer=str(entry["answer"]).strip().strip("$").strip(),
                metadata={"source": "reasoning_gym", "generator": name, "details": meta},
            ))
    return tasks


def math_tasks(source: str | Path | Iterable[Any], *, limit: int | None = None) -> list[Task]:
    """Tasks from a GSM8K-style file (.jsonl/.json/.parquet) or records (e.g. a `datasets.Dataset`).

    `question`/`answer` records work as they are; an answer with a worked solution ending in
    `#### 72` becomes `72`, and the worked solution is kept in `metadata.solution`.
    """
    tasks = []
    for task in load_tasks(source, limit=limit):
        answer = "" if task.answer is None else str(task.answer)
        if "####" in answer:
            worked, _, final = answer.rpartition("####")
            task = task.model_copy(update={
                "answer": final.strip().replace(",", ""),
                "metadata": {**task.metadata, "solution": worked.strip(),
                             "source": task.metadata.get("source", "gsm8k")},
            })
        tasks.append(task)
    return tasks


def boxed_format(task: Task, messages: Sequence[Message]) -> float:
    """1.0 when the episode ends in a reply with a `\\boxed{}` answer and no assistant turn was malformed."""
    turns = [m for m in messages if m.role == "assistant"]
    if not turns or any(m.error for m in turns) or turns[-1].tool_calls:
        return 0.0
    return float(extract_boxed(turns[-1].content) is not None)


class MathPythonEnv(SandboxToolEnv):
    """Math word problems; tool `run_python`; reward = math-verify(boxed answer, truth) + 0.1 × format.

    Args:
        tasks: A GSM8K-style task file for `default_tasks`; None: reasoning-gym problems.
        generators: reasoning-gym generators and counts (default: `DEFAULT_GENERATORS`).
        seed: Seed of the generated problems.
        limits: Sandbox limits of every `run_python` call.
        allow_weak_fallback: Run without bubblewrap (no isolation; see `agent_gym.sandbox.box`).
        system_prompt: The system message.
    """

    name = "math_python"

    def __init__(
        self,
        tasks: str | Path | None = None,
        *,
        generators: Mapping[str, int] | None = None,
        seed: int = 0,
        limits: SandboxLimits | None = None,
        allow_weak_fallback: bool = False,
        system_prompt: str = SYSTEM_PROMPT,
    ) -> None:
        super().__init__(
            tools=[self.run_python],
            reward=weighted(correct=(math_match, 1.0), format=(boxed_format, 0.1)),
            system_prompt=system_prompt, name="math_python", limits=limits, allow_weak_fallback=allow_weak_fallback,
        )
        self.tasks_path = None if tasks is None else Path(tasks)
        self.generators = dict(generators or DEFAULT_GENERATORS)
        self.seed = seed

    @tool
    def run_python(self, code: str) -> str:
        """Run Python code in a persistent session and return what it prints (and the value of a final expression).

        Args:
            code: Python statements, for example "print(23 * 17 + 4)".
        """
        return self.require_sandbox().python_session().run(code).text()

    def default_tasks(self) -> list[Task]:
        if self.tasks_path is not None:
            return math_tasks(self.tasks_path)
        return reasoning_gym_tasks(self.generators, self.seed)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "tasks": self.tasks_path, "generators": self.generators, "seed": self.seed,
                "system_prompt": self.system_prompt}


# ---- the scripted expert -------------------------------------------------------------------------

_NUM = r"[$£€]?-?\d[\d,]*(?:\.\d+)?%?"
_UNIT = r"(?:/(?!x\b)[A-Za-z]+|\s+(?!x\b)[A-Za-z]+(?:/[A-Za-z]+)?)?"
_TERM = rf"\(?\s*{_NUM}\s*\)?{_UNIT}"
_STEP = re.compile(rf"({_TERM}(?:\s*[-+*/×x÷]\s*{_TERM})+)\s*=\s*[$£€]?-?\d[\d,]*(?:\.\d+)?")
_UNIT_AFTER = re.compile(r"(?<=[\d%)])(?:/(?!x\b)[A-Za-z]+|\s+(?!x\b)[A-Za-z]+(?:/[A-Za-z]+)?)")


def worked_steps(solution: str) -> list[str]:
    """Python expressions for the `a op b = c` steps of a worked solution (units and currency dropped)."""
    steps = []
    for match in _STEP.finditer(solution.split("####")[0]):
        expr = _UNIT_AFTER.sub("", match.group(1)).strip()
        expr = re.sub(r"[$£€,]", "", expr).replace("×", "*").replace("÷", "/").replace("x", "*")
        expr = re.sub(r"(\d+(?:\.\d+)?)%", r"(\1/100)", expr)
        if expr.count("(") != expr.count(")"):
            expr = expr.replace("(", "").replace(")", "")
        try:
            eval(compile(expr, "<step>", "eval"), {"__builtins__": {}})  # noqa: S307 - digits and operators only
        except (SyntaxError, ArithmeticError, TypeError, ValueError):
            continue
        steps.append(" ".join(expr.split()))
    return steps


def expert_program(task: Task) -> str:
    """The Python program the expert runs for `task`: the computation, then `print(answer)`."""
    details = task.metadata.get("details", {})
    generator = task.metadata.get("generator")
    show = "print(int(answer) if float(answer).is_integer() else round(answer, 6))"
    if generator in ("basic_arithmetic", "products") and details.get("expression"):
        return f"answer = {details['expression']}\n{show}"
    if generator in ("lcm", "gcd") and details.get("numbers"):
        return f"import math\nanswer = math.{generator}(*{details['numbers']!r})\nprint(answer)"
    if generator == "fraction_simplification":
        return (f"from fractions import Fraction\nf = Fraction({details['numerator']}, {details['denominator']})\n"
                "print(f'{f.numerator}/{f.denominator}')")
    worked = details.get("answer_cot") or task.metadata.get("solution") or ""
    lines = [f"s{i} = {expr}" for i, expr in enumerate(worked_steps(worked), start=1)]
    final = _closest_step(lines, str(task.answer))
    if final is None:
        comments = [f"# {line}" for line in worked.split("####")[0].strip().splitlines()]
        return "\n".join([*comments, *lines, f"answer = {str(task.answer)!r}", "print(answer)"])
    return "\n".join([*lines, f"answer = {final}", show])


def _closest_step(lines: list[str], answer: str) -> str | None:
    """Name of the last step whose value is the answer, or None."""
    try:
        target = float(answer.replace(",", ""))
    except ValueError:
        return None
    scope: dict[str, Any] = {"__builtins__": {}}
    found = None
    for line in lines:
        exec(line, scope)  # noqa: S102 - expressions built by worked_steps
        name = line.split(" = ")[0]
        if math.isclose(float(scope[name]), target, rel_tol=1e-9, abs_tol=1e-9):
            found = name
    return found


class MathPythonExpert(TaskExpert):
    """A scripted expert: computes the answer with `run_python` (from the worked solution or the
    generator's data), then replies with the tool's result in `\\boxed{}`.

    Args:
        tasks: The tasks it may be asked (matched by prompt) when run outside `rollout`.
    """

    name = "math-python-expert"

    def solve(self, task: Task, messages: Sequence[Message]) -> Message:
        results = [m.content for m in messages if m.role == "tool"]
        if not results:
            call = ToolCall(name="run_python", arguments={"code": expert_program(task)}, id="call_0")
            return assistant(reasoning="I will compute it step by step in Python.", tool_calls=(call,))
        value = results[-1].strip().splitlines()[-1] if results[-1].strip() else ""
        return assistant(f"The computation gives {value}, so the answer is \\boxed{{{value}}}.")

