"""Linux command-line tasks in a sandbox (seed 000's CommandLine environment).

Each episode gets its own sandboxed job directory (`/workspace`), prepared from the task's
`metadata.files` and `metadata.setup` commands. The model runs commands with `execute_shell`
(a fresh bash per call; files persist) and ends with a reply. Checkers then inspect the final
state of the job directory or the reply; `correct` is 1.0 only when every check passes.

Task file format (`data/tasks/shell.jsonl`, one task per line):

```json
{"id": "shell-text-01", "prompt": "How many lines of access.log contain ' 404 '? Reply with the number.",
 "answer": "3",
 "metadata": {"files": {"access.log": "..."}, "setup": "mkdir -p logs",
              "checks": [{"type": "answer"}], "solution": ["grep -c ' 404 ' access.log"]}}
```

Check types: `answer` (the reply equals `answer` after trimming quotes, backticks, `./` and a final
period; a `\\boxed{}` part counts), `file` (`path` plus `equals`, `contains` or `regex`), `exists`,
`absent`, `mode` (`path`, octal `mode`), `command` (`run` must exit 0 in the job directory).
`ShellExpert` replays each task's `solution` through the real tool.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent_gym.envs.code.base import SandboxToolEnv
from agent_gym.errors import EnvError, TaskError
from agent_gym.paths import data_dir
from agent_gym.policies.experts import TaskExpert
from agent_gym.rewards.functions import extract_boxed, format_ok
from agent_gym.rewards.rubric import weighted
from agent_gym.sandbox.box import Sandbox, SandboxLimits
from agent_gym.tasks import load_tasks
from agent_gym.tools.base import tool
from agent_gym.types import Message, StepResult, Task, ToolCall, assistant, final_answer

DATA_DIR = data_dir() / "tasks"
DEFAULT_TASKS = DATA_DIR / "shell.jsonl"

SYSTEM_PROMPT = (
    "You are working in a Linux shell. Your working directory is /workspace; it holds the task's files. "
    "Run commands with the execute_shell tool: each call starts a fresh bash in /workspace, files persist "
    "between calls but shell variables do not, and there is no network. When the task is done, reply "
    "without a tool call: give only the answer if the task asks a question, otherwise say 'done'."
)

CHECK_TYPES = ("answer", "file", "exists", "absent", "mode", "command")


class ShellEnv(SandboxToolEnv):
    """Sandboxed Linux tasks; tool `execute_shell`; reward = all checks pass + 0.1 × well-formed reply.

    Args:
        tasks: Task file for `default_tasks` (default: `data/tasks/shell.jsonl`).
        limits: Sandbox limits of every command (default: `SandboxLimits()`, 10 s per command).
        allow_weak_fallback: Run without bubblewrap (no isolation; see `agent_gym.sandbox.box`).
        system_prompt: The system message.
    """

    name = "shell"

    def __init__(
        self,
        tasks: str | Path = DEFAULT_TASKS,
        limits: SandboxLimits | None = None,
        *,
        allow_weak_fallback: bool = False,
        system_prompt: str = SYSTEM_PROMPT,
    ) -> None:
        super().__init__(
            tools=[self.execute_shell],
            reward=weighted(correct=(self.checks_pass, 1.0), format=(format_ok, 0.1)),
            system_prompt=system_prompt,
            name="shell",
            limits=limits,
            allow_weak_fallback=allow_weak_fallback,
        )
        self.tasks_path = Path(tasks)
        self.check_results: list[dict[str, Any]] = []

    @tool
    def execute_shell(self, command: str) -> str:
        """Run a bash command line in /workspace and return its output (stdout, then stderr, then the exit code).

        Args:
            command: The command line, for example "ls -la" or "grep -c ERROR app.log".
        """
        return self.require_sandbox().run(command).text()

    def default_tasks(self) -> list[Task]:
        return load_tasks(self.tasks_path)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "tasks": self.tasks_path, "system_prompt": self.system_prompt}

    def prepare(self, sandbox: Sandbox, task: Task) -> None:
        validate_task(task)
        prepare_job_dir(sandbox, task)

    async def reset(self, task: Task) -> list[Message]:
        validate_task(task)
        self.check_results = []
        return await super().reset(task)

    async def finish(self) -> StepResult:
        result = await super().finish()
        return result.model_copy(update={"info": {**result.info, "checks": self.check_results}})

    async def checks_pass(self, task: Task, messages: Sequence[Message]) -> float:
        """1.0 when every check of the task passes on the final job directory and reply."""
        if self.sandbox is None:
            return 0.0
        self.check_results = await asyncio.to_thread(run_checks, self.sandbox, task, final_answer(messages))
        return float(all(c["passed"] for c in self.check_results))


def validate_task(task: Task) -> None:
    """Raise `TaskError` when a shell task's checks are missing or malformed."""
    checks = task.metadata.get("checks")
    if not checks or not isinstance(checks, list):
        raise TaskError(f"Shell task {task.id!r} needs metadata.checks, a list like [{{'type': 'answer'}}].")
    for check in checks:
        kind = check.get("type") if isinstance(check, dict) else None
        if kind not in CHECK_TYPES:
            raise TaskError(f"Shell task {task.id!r}: check {check!r} has no valid type; use one of {CHECK_TYPES}.")
        if kind == "answer" and task.answer is None:
            raise TaskError(f"Shell task {task.id!r} has an 'answer' check but no answer.")
        if kind in ("file", "exists", "absent", "mode") and not check.get("path"):
            raise TaskError(f"Shell task {task.id!r}: the {kind!r} check needs a 'path'.")
        if kind == "command" and not check.get("run"):
            raise TaskError(f"Shell task {task.id!r}: the 'command' check needs 'run', a command that exits 0.")


def prepare_job_dir(sandbox: Sandbox, task: Task) -> None:
    """Write the task's files and run its setup commands in the job directory."""
    files = task.metadata.get("files") or {}
    if files:
        sandbox.write_files(files)
    setup = task.metadata.get("setup")
    if setup:
        result = sandbox.run(setup if isinstance(setup, str) else "\n".join(setup), timeout=60)
        if not result.ok:
            raise EnvError(f"Setup of task {task.id!r} failed: {result.text()}")


def normalize_answer(text: str) -> str:
    """The reply as compared with the expected answer: boxed part, trimmed quotes, backticks, `./`, period."""
    boxed = extract_boxed(text)
    text = boxed if boxed is not None else text
    previous = None
    while text != previous:
        previous = text
        text = text.strip().strip("`'\"")
        if text.endswith(".") and not text.endswith(".."):
            text = text[:-1]
        if text.startswith("./"):
            text = text[2:]
    return text


def run_checks(sandbox: Sandbox, task: Task, reply: str) -> list[dict[str, Any]]:
    """Each check of `task` with whether it passed (and why not)."""
    results = []
    for check in task.metadata["checks"]:
        passed, detail = _check(sandbox, task, check, reply)
        results.append({"type": check["type"], "path": check.get("path"), "passed": passed, "detail": detail})
    return results


def _check(sandbox: Sandbox, task: Task, check: dict[str, Any], reply: str) -> tuple[bool, str]:
    kind = check["type"]
    if kind == "answer":
        got, want = normalize_answer(reply), normalize_answer(str(task.answer))
        return got == want, "" if got == want else f"reply {got[:200]!r} != {want!r}"
    if kind == "command":
        result = sandbox.run(check["run"], timeout=check.get("timeout", 30))
        return result.ok, "" if result.ok else result.text()[:500]
    path = check["path"]
    quoted = "'" + path.replace("'", "'\\''") + "'"
    if kind == "exists":
        ok = sandbox.run(f"test -e {quoted} || test -L {quoted}").ok
        return ok, "" if ok else f"{path} does not exist"
    if kind == "absent":
        ok = not sandbox.run(f"test -e {quoted} || test -L {quoted}").ok
        return ok, "" if ok else f"{path} still exists"
    if kind == "mode":
        result = sandbox.run(f"stat -c %a {quoted}")
        got = result.stdout.strip()
        return got == str(check["mode"]), f"mode of {path} is {got or 'unknown'}, want {check['mode']}"
    content = sandbox.read_text(path, limit=1 << 20)
    if content is None:
        return False, f"cannot read {path}"
    if "equals" in check:
        ok = content.rstrip("\n") == str(check["equals"]).rstrip("\n")
    elif "contains" in check:
        ok = str(check["contains"]) in content
    elif "regex" in check:
        ok = re.search(str(check["regex"]), content, re.MULTILINE) is not None
    else:
        ok = True
    return ok, "" if ok else f"{path} holds {content[:200]!r}"


class ShellExpert(TaskExpert):
    """A scripted expert: runs the task's `metadata.solution` commands with `execute_shell`, then
    replies with the last command's output (question tasks) or 'done'.

    Args:
        tasks: The tasks it may be asked (matched by prompt) when run outside `rollout`.
    """

    name = "shell-expert"

    def solve(self, task: Task, messages: Sequence[Message]) -> Message:
        solution = task.metadata.get("solution") or []
        solution = [solution] if isinstance(solution, str) else list(solution)
        done = sum(m.role == "tool" for m in messages)
        if done < len(solution):
            call = ToolCall(name="execute_shell", arguments={"command": solution[done]}, id=f"call_{done}")
            return assistant(reasoning=f"Step {done + 1} of {len(solution)}.", tool_calls=(call,))
        asks = any(c.get("type") == "answer" for c in task.metadata.get("checks", []))
        last_output = next((m.content for m in reversed(messages) if m.role == "tool"), "")
        return assistant(last_output.strip() if asks else "done")
