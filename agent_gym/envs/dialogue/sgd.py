"""Schema-Guided-Dialogue-format folders as a customer-service environment (seed 004's data format).

An SGD folder holds `<split>/schema.json` (services, their slots and intents) and
`<split>/dialogues_*.json` (dialogues whose system turns log the service call made and the results
returned). From it:

* `sgd_tools(schemas)` — one tool per intent (`Restaurants_1_FindRestaurants`), string slots as
  parameters. There is no backend: the tools answer only through a cassette.
* `sgd_cassette(data)` — a replay cassette pre-filled with every logged call and its results: the
  tool mocker answering from recorded responses. Unseen calls go to its fallback (an error, or
  `LLMFallback(policy)` imitating the service from the nearby recorded examples).
* `sgd_tasks(data)` — one task per dialogue: the user's goal as the scenario, the logged service calls
  as the expected actions (so `OraclePolicy` replays them), the user's turns for `ReplayUser`.
* `SGDEnv` — a `ConversationEnv` over all of it, rewarded by `calls_match`.

The SGD data itself (CC BY-SA 4.0) is not shipped; `data/customer_service/sgd_fixture/` is a tiny
folder in its format, written for the tests.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, create_model

from agent_gym.envs.dialogue.conversation import ConversationEnv
from agent_gym.envs.dialogue.users import STOP, UserReply, UserSimulator, user_message, user_turns
from agent_gym.errors import ConfigError, TaskError, ToolError
from agent_gym.rewards.rubric import RewardFn, Rubric
from agent_gym.tools.base import Tool
from agent_gym.tools.cassette import Cassette, Fallback, error_fallback
from agent_gym.types import Message, Task

__all__ = ["ReplayUser", "SGDData", "SGDEnv", "calls_match", "load_sgd", "sgd_cassette", "sgd_tasks", "sgd_tools"]


@dataclass(frozen=True)
class SGDData:
    """One split of an SGD-format folder."""

    root: Path
    """The dataset folder."""
    split: str
    """`train`, `dev` or `test`."""
    schemas: dict[str, dict[str, Any]]
    """Service schemas by service name."""
    dialogues: tuple[dict[str, Any], ...]
    """The dialogues, in file order."""

    def __deepcopy__(self, memo: dict) -> SGDData:
        return self  # read-only; environments are deep-copied per episode


def load_sgd(root: str | Path, split: str = "train", limit: int | None = None) -> SGDData:
    """Read `root/split/schema.json` and the `dialogues_*.json` files (at most `limit` dialogues)."""
    folder = Path(root) / split
    if not (folder / "schema.json").is_file():
        raise ConfigError(f"{folder} is not an SGD split folder (no schema.json); "
                          "point root at a folder with train/, dev/ or test/ inside.")
    schemas = {s["service_name"]: s for s in json.loads((folder / "schema.json").read_text())}
    dialogues: list[dict[str, Any]] = []
    for path in sorted(folder.glob("dialogues_*.json")):
        dialogues.extend(json.loads(path.read_text()))
        if limit is not None and len(dialogues) >= limit:
            break
    return SGDData(Path(root), split, schemas, tuple(dialogues[:limit]))


def tool_name(service: str, intent: str) -> str:
    """The tool of a service's intent: `Restaurants_1_FindRestaurants`."""
    return f"{service}_{intent}"


def _no_backend(name: str) -> Any:
    def call(**arguments: Any) -> Any:
        raise ToolError(f"{name} has no backend: SGD tools answer from a cassette (sgd_cassette).")
    return call


def sgd_tools(schemas: dict[str, dict[str, Any]], services: Sequence[str] | None = None) -> list[Tool]:
    """One tool per intent of the chosen services (all by default)."""
    tools = []
    for service in services or sorted(schemas):
        schema = schemas[service]
        slots = {s["name"]: s for s in schema["slots"]}
        for intent in schema["intents"]:
            name = tool_name(service, intent["name"])
            required, optional = list(intent["required_slots"]), dict(intent.get("optional_slots", {}))
            properties, fields = {}, {}
            for slot in [*required, *optional]:
                info = slots.get(slot, {})
                prop: dict[str, Any] = {"type": "string", "description": info.get("description", slot)}
                if info.get("is_categorical") and info.get("possible_values"):
                    prop["enum"] = list(info["possible_values"])
                if slot in optional:
                    prop["default"] = optional[slot]
                properties[slot] = prop
                fields[slot] = (str, Field(optional[slot]) if slot in optional else ...)
            args_model = create_model(f"{name}_args", __config__=ConfigDict(extra="forbid"), **fields)
            tools.append(Tool(fn=_no_backend(name), name=name, description=f"{schema['description']}: {intent['description']}.",
                              parameters={"type": "object", "properties": properties, "required": required},
                              args_model=args_model, blocking=False))
    return tools


def _service_calls(dialogue: dict[str, Any]) -> list[tuple[str, dict[str, Any], list[Any]]]:
    out = []
    for turn in dialogue["turns"]:
        for frame in turn.get("frames", []):
            call = frame.get("service_call")
            if turn["speaker"] == "SYSTEM" and call:
                out.append((tool_name(frame["service"], call["method"]), call["parameters"], frame.get("service_results", [])))
    return out


def sgd_cassette(data: SGDData, fallback: Fallback = error_fallback, path: str | Path | None = None) -> Cassette:
    """A replay cassette holding every logged service call and its results (as JSON)."""
    tools = {t.name: t for t in sgd_tools(data.schemas)}
    recorder = Cassette(path, mode="record")
    for dialogue in data.dialogues:
        for name, parameters, results in _service_calls(dialogue):
            if name not in tools:
                raise TaskError(f"Dialogue {dialogue['dialogue_id']} calls {name}, which schema.json does not define.")
            recorder.add(tools[name], parameters, json.dumps(results, ensure_ascii=False))
    recorder.mode, recorder.fallback = "replay", fallback
    recorder.reset_stats()
    return recorder


def _goal(dialogue: dict[str, Any], schemas: dict[str, dict[str, Any]]) -> str:
    intents: dict[str, dict[str, str]] = {}
    for turn in dialogue["turns"]:
        for frame in turn.get("frames", []):
            state = frame.get("state")
            if turn["speaker"] == "USER" and state and state.get("active_intent", "NONE") != "NONE":
                values = {k: v[0] for k, v in state.get("slot_values", {}).items() if v}
                intents.setdefault(f"{frame['service']}:{state['active_intent']}", {}).update(values)
    lines = []
    for key, values in intents.items():
        service, intent = key.split(":")
        description = next((i["description"] for i in schemas.get(service, {}).get("intents", []) if i["name"] == intent), intent)
        facts = ", ".join(f"{k} = {v}" for k, v in values.items())
        lines.append(f"- {description} ({facts})")
    return "You are a user talking to a virtual assistant. Your goals, in order:\n" + "\n".join(lines)


def sgd_tasks(data: SGDData) -> list[Task]:
    """One task per dialogue: goal scenario, first utterance, logged calls as expected actions."""
    tasks = []
    for dialogue in data.dialogues:
        users = [t["utterance"] for t in dialogue["turns"] if t["speaker"] == "USER"]
        actions = [{"name": n, "arguments": p, "requestor": "assistant"} for n, p, _ in _service_calls(dialogue)]
        tasks.append(Task(
            id=f"sgd-{dialogue['dialogue_id']}", prompt=users[0] if users else "",
            answer={"actions": actions, "communicate_info": []},
            metadata={"source": "sgd", "services": list(dialogue["services"]),
                      "user_scenario": _goal(dialogue, data.schemas), "user_turns": users},
        ))
    return tasks


def calls_match(task: Task, messages: Sequence[Message]) -> float:
    """Fraction of the logged service calls the agent made (same tool, the logged argument values)."""
    expected = (task.answer or {}).get("actions", [])
    if not expected:
        return 1.0
    made = [(c.name, c.arguments) for m in messages if m.role == "assistant" for c in m.tool_calls]
    hit = sum(any(n == a["name"] and all(args.get(k) == v for k, v in a["arguments"].items()) for n, args in made)
              for a in expected)
    return hit / len(expected)


class ReplayUser:
    """The dialogue's own user: its logged utterances in order, then a stop."""

    def config(self) -> dict[str, Any]:
        return {"user": "replay"}

    async def reply(self, task: Task, messages: Sequence[Message]) -> UserReply:
        turns = task.metadata.get("user_turns") or [task.prompt]
        k = user_turns(messages)
        if k == 0 or k < len(turns) - 1:
            return UserReply(user_message(turns[k]))
        return UserReply(user_message(f"{turns[-1]} {STOP}" if k < len(turns) else STOP), stop=STOP)


class SGDEnv(ConversationEnv):
    """A conversation over an SGD folder's services, tools answered by its logged calls.

    Args:
        root: The SGD-format folder.
        split: `train`, `dev` or `test`.
        user: Who plays the user (default `ReplayUser`, the logged utterances).
        cassette: The tool mocker (default `sgd_cassette(data)`, errors for unseen calls).
        reward: Default `calls_match` (component `calls`).
        limit: Read at most this many dialogues.
    """

    def __init__(self, root: str | Path, split: str = "train", user: UserSimulator | None = None, *,
                 cassette: Cassette | None = None, reward: Rubric | RewardFn | None = None,
                 limit: int | None = None) -> None:
        self.data = load_sgd(root, split, limit)
        self.cassette = cassette if cassette is not None else sgd_cassette(self.data)
        services = "; ".join(f"{name}: {s['description']}" for name, s in sorted(self.data.schemas.items()))
        prompt = (f"You are a virtual assistant for these services: {services}. Use the tools to look things up "
                  "and make bookings, confirm details with the user, and keep replies short.")
        super().__init__(self.cassette.wrap_tools(sgd_tools(self.data.schemas)), user or ReplayUser(),
                         reward=reward or Rubric({"calls": calls_match}), system_prompt=prompt, name="sgd",
                         success_component="calls")

    def config(self) -> dict[str, Any]:
        return {**super().config(), "root": str(self.data.root), "split": self.data.split}

    def default_tasks(self) -> list[Task]:
        return sgd_tasks(self.data)
