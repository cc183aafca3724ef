"""`SandboxToolEnv`: a `ToolEnv` whose every episode owns a fresh `Sandbox` (job directory, session).

The base of the shell, Python-coding and math environments. `reset(task)` makes the episode's
sandbox and writes the task's `metadata.files` into it; `close()` deletes it; `clone()` builds a
new environment from `settings()`, so concurrent episodes never share a sandbox.

```python
class Grep(SandboxToolEnv):
    name = "grep"

    def __init__(self, limits=None):
        super().__init__(tools=[self.sh], reward=my_reward, name="grep", limits=limits)

    def settings(self):
        return {"limits": self.limits}

    @tool
    def sh(self, command: str) -> str:
        '''Run a command.

        Args:
            command: The command line.
        '''
        return self.require_sandbox().run(command).text()
```
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from agent_gym.env import ToolEnv
from agent_gym.errors import EnvError
from agent_gym.rewards.rubric import RewardFn, Rubric
from agent_gym.sandbox.box import Sandbox, SandboxLimits
from agent_gym.tools.base import Tool
from agent_gym.types import Message, Task


class SandboxToolEnv(ToolEnv):
    """A ToolEnv with one sandbox per episode.

    Args:
        tools: The tools (usually `@tool` methods that use `self.require_sandbox()`).
        reward: Reward function or Rubric.
        system_prompt: The system message.
        name: The environment's name.
        limits: Sandbox limits of every call.
        allow_weak_fallback: Run without bubblewrap (no isolation; see `agent_gym.sandbox.box`).
    """

    def __init__(
        self,
        tools: Sequence[Tool | Callable[..., Any]],
        reward: Rubric | RewardFn | None,
        system_prompt: str = "",
        *,
        name: str,
        limits: SandboxLimits | None = None,
        allow_weak_fallback: bool = False,
        success_threshold: float | None = 1.0,
    ) -> None:
        super().__init__(tools=tools, reward=reward, system_prompt=system_prompt, name=name,
                         success_threshold=success_threshold)
        self.limits = limits or SandboxLimits()
        self.allow_weak_fallback = allow_weak_fallback
        self.sandbox: Sandbox | None = None

    def settings(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this environment (used by `clone`)."""
        return {"limits": self.limits, "allow_weak_fallback": self.allow_weak_fallback}

    def clone(self) -> SandboxToolEnv:
        return type(self)(**self.settings())

    def __deepcopy__(self, memo: dict) -> SandboxToolEnv:
        # Wrappers clone by deep copy: give them a fresh environment, never a copy of a live sandbox.
        return self.clone()

    def config(self) -> dict[str, Any]:
        return {**super().config(), "limits": dataclasses.asdict(self.limits)}

    def new_sandbox(self) -> Sandbox:
        """A sandbox with this environment's limits."""
        return Sandbox(self.limits, allow_weak_fallback=self.allow_weak_fallback)

    def require_sandbox(self) -> Sandbox:
        """The episode's sandbox; tools call this (an error before `reset`)."""
        if self.sandbox is None:
            raise EnvError(f"{type(self).__name__}: a tool was called before reset(task).")
        return self.sandbox

    def prepare(self, sandbox: Sandbox, task: Task) -> None:
        """Fill the job directory for `task` (runs in a worker thread). Default: `metadata.files`."""
        files = task.metadata.get("files") or {}
        if files:
            sandbox.write_files(files)

    async def reset(self, task: Task) -> list[Message]:
        await self.close()
        self.sandbox = await asyncio.to_thread(self.new_sandbox)
        await asyncio.to_thread(self.prepare, self.sandbox, task)
        return await super().reset(task)

    async def close(self) -> None:
        if self.sandbox is not None:
            sandbox, self.sandbox = self.sandbox, None
            await asyncio.to_thread(sandbox.close)
