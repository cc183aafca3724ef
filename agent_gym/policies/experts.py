"""A base for scripted experts: policies that solve tasks from the task record itself (its worked
solution, its metadata), for tests, tutorials and offline data synthesis."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from agent_gym.policies.base import PolicyOutput
from agent_gym.tasks import current_task
from agent_gym.types import Message, Task, assistant


class TaskExpert(ABC):
    """Answers each turn with `solve(task, messages)`.

    The task is the running episode's (`current_task()`); a conversation run outside `rollout` is
    matched to one of `tasks` by its first user message.
    """

    name = "expert"
    model: str | None = None
    sampling: dict[str, Any] = {}

    def __init__(self, tasks: Sequence[Task] | None = None) -> None:
        self.by_prompt = {t.prompt: t for t in tasks or ()}

    async def act(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *, seed: int | None = None
    ) -> PolicyOutput:
        prompt = next((m.content for m in messages if m.role == "user"), "")
        task = current_task() or self.by_prompt.get(prompt)
        if task is None:
            return PolicyOutput(assistant("I do not know this task."))
        return PolicyOutput(self.solve(task, messages))

    @abstractmethod
    def solve(self, task: Task, messages: Sequence[Message]) -> Message:
        """The next assistant message for `task`, given the conversation so far."""
