"""A calculator environment whose episodes last exactly `task.metadata["turns"]` turns, whatever the model
does: with tasks of different lengths on different ranks, one process runs out of episodes while the other
still generates — the case where collective generation calls must agree on when to stop."""

from __future__ import annotations

from agent_gym.envs.calculator import CalculatorEnv, make_tasks
from agent_gym.types import Message, StepResult, Task, user


class TurnsEnv(CalculatorEnv):
    """`CalculatorEnv`, but an answer before the last turn is met with "Check it again." and the last
    turn always ends the episode (scored by the calculator's reward when it is an answer)."""

    name = "calculator_turns"

    async def reset(self, task: Task) -> list[Message]:
        self.turns_left = int(task.metadata["turns"])
        return await super().reset(task)

    async def step(self, action: Message) -> StepResult:
        self.turns_left -= 1
        if self.turns_left <= 0:
            self.messages.append(action)
            return await self.finish()
        if not action.tool_calls and not action.error:
            self.messages.append(action)
            reply = user("Check it again.")
            self.messages.append(reply)
            return StepResult(observation=(reply,))
        return await super().step(action)


def turn_tasks(lengths: tuple[int, ...] = (1, 3)) -> list[Task]:
    """One calculator task per length, in order (task i lasts `lengths[i]` turns)."""
    return [t.model_copy(update={"id": f"turns{n}-{t.id}", "metadata": {**t.metadata, "turns": n}})
            for t, n in zip(make_tasks(len(lengths)), lengths, strict=True)]
