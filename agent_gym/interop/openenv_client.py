"""Any OpenEnv environment server, given its URL, as an agent_gym `Environment`.

```python
env = OpenEnvEnv("http://127.0.0.1:8000")          # then run_rollouts, widgets, synthesis, GRPO as usual
```

Each episode (each `clone()`) opens its own WebSocket session with OpenEnv's `GenericEnvClient` and
closes it in `close()`, so concurrent episodes are concurrent server sessions.

* An agent_gym server (`agent_gym.interop.openenv_server`, recognised by its `/agent_gym` route) is
  played natively: the same tools, messages, rewards and flags as the environment in-process.
* Any other OpenEnv server is offered to the model as one tool, `step`, whose parameters are the
  server's action schema (`/schema`): a call is one `env.step(action)`, the tool message is the
  observation (as JSON, or `observation_text(obs)`), the step's reward is the server's and the episode
  ends when the server says `done`. The opening user message is the reset observation; a task's
  `metadata["reset"]` (a dict) and `metadata["seed"]` become the reset request's arguments.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import httpx

from agent_gym.env import Environment
from agent_gym.errors import ConfigError, EnvError
from agent_gym.types import Message, StepResult, Task, system, user

ObservationText = Callable[[dict[str, Any]], str]


class OpenEnvEnv(Environment):
    """An OpenEnv server as an environment (see the module docstring).

    Args:
        url: The server's base URL (`http://host:port`).
        name: Name on trajectories (default: the server's environment name).
        max_turns: Turn limit (default: the agent_gym server's, else 30).
        system_prompt: A system message before the opening observation (foreign servers only).
        observation_text: How a foreign server's observation reads to the model (default: JSON).
        message_timeout_s: Seconds to wait for each server answer.
    """

    def __init__(self, url: str, *, name: str | None = None, max_turns: int | None = None, system_prompt: str = "",
                 observation_text: ObservationText | None = None, message_timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.info = _get(self.url, "/agent_gym", missing_ok=True)
        self.native = self.info is not None
        if self.native:
            assert self.info is not None
            self.name = name or self.info["name"]
            self.max_turns = max_turns or int(self.info["max_turns"])
            self._schemas = list(self.info["tools"])
        else:
            action = dict(_get(self.url, "/schema")["action"])
            action.get("properties", {}).pop("metadata", None)
            action.pop("title", None)
            self.name = name or _get(self.url, "/metadata").get("name", "openenv")
            self.max_turns = max_turns or 30
            self._schemas = [{"type": "function", "function": {
                "name": "step", "description": f"Take one action in the {self.name} environment; the arguments are the action.",
                "parameters": {"type": "object", "properties": {}, **action}}}]
        self.system_prompt = system_prompt
        self.observation_text = observation_text or _json_text
        self.message_timeout_s = message_timeout_s
        self._client: Any = None

    def tool_schemas(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._schemas)

    def config(self) -> dict[str, Any]:
        if self.native:
            assert self.info is not None
            return {**self.info["config"], "via": "openenv"}
        return {"name": self.name, "via": "openenv", "tools": self._schemas, "system_prompt": self.system_prompt}

    def default_tasks(self) -> list[Task]:
        if self.native:
            assert self.info is not None
            return [Task.model_validate(t) for t in self.info["tasks"]]
        return [Task(id=f"{self.name}-seed-0", prompt="", metadata={"seed": 0})]

    def clone(self) -> OpenEnvEnv:
        twin = copy.copy(self)
        twin._client = None
        return twin

    async def reset(self, task: Task) -> list[Message]:
        from openenv.core.generic_client import GenericEnvClient

        await self.close()
        self._client = GenericEnvClient(base_url=self.url, message_timeout_s=self.message_timeout_s)
        await self._client.connect()
        if self.native:
            result = await self._client.reset(task=task.model_dump(mode="json"))
            return _messages(result.observation)
        kwargs = dict(task.metadata.get("reset") or {})
        if "seed" in task.metadata:
            kwargs.setdefault("seed", task.metadata["seed"])
        result = await self._client.reset(**kwargs)
        opening = [system(self.system_prompt)] if self.system_prompt else []
        return [*opening, user(self.observation_text(result.observation) if not task.prompt
                               else f"{task.prompt}\n\n{self.observation_text(result.observation)}")]

    async def step(self, action: Message) -> StepResult:
        if self._client is None:
            raise EnvError(f"{type(self).__name__}.step() was called before reset(task); call reset first.")
        if self.native:
            data = {"content": action.content, "reasoning": action.reasoning, "error": action.error,
                    "tool_calls": [c.model_dump(mode="json") for c in action.tool_calls]}
            result = await self._client.step(data)
            obs = result.observation
            return StepResult(observation=tuple(_messages(obs)), reward=float(result.reward or 0.0),
                              terminated=obs.get("terminated", result.done), truncated=obs.get("truncated", False),
                              success=obs.get("success"), components=obs.get("components") or {}, info=obs.get("info") or {})
        return await self._foreign_step(action)

    async def _foreign_step(self, action: Message) -> StepResult:
        if action.error:
            return StepResult(observation=(user(action.error),), info={"parse_error": True})
        if not action.tool_calls:
            return StepResult(observation=(user("Act by calling the `step` tool with an action."),))
        replies, reward, done = [], 0.0, False
        for call in action.tool_calls:
            if done:
                content, is_error = "Error: the episode has ended; this call was not run.", True
            elif call.name != "step":
                content, is_error = f"Error: unknown tool {call.name!r}. Available tools: step.", True
            else:
                try:
                    result = await self._client.step(call.arguments)
                except RuntimeError as exc:  # the server rejected the action (OpenEnv's "Server error: ...")
                    content, is_error = f"Error: {exc}", True
                else:
                    content, is_error = self.observation_text(result.observation), False
                    reward += float(result.reward or 0.0)
                    done = bool(result.done)
            replies.append(Message(role="tool", content=content, name=call.name, tool_call_id=call.id, is_error=is_error))
        return StepResult(observation=tuple(replies), reward=reward, terminated=done)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()


def _messages(observation: dict[str, Any]) -> list[Message]:
    return [Message.model_validate(m) for m in observation.get("messages", [])]


def _json_text(observation: dict[str, Any]) -> str:
    return json.dumps(observation, ensure_ascii=False, default=str)


def _get(url: str, path: str, *, missing_ok: bool = False) -> Any:
    try:
        response = httpx.get(url + path, timeout=30.0)
    except httpx.HTTPError as exc:
        raise ConfigError(f"No OpenEnv server answers at {url} ({type(exc).__name__}: {exc}); start it first "
                          "(for an agent_gym environment: python -m agent_gym.interop.openenv_server ENV --port PORT).") from exc
    if response.status_code == 404 and missing_ok:
        return None
    if response.status_code != 200:
        raise ConfigError(f"{url}{path} answered HTTP {response.status_code}; is this an OpenEnv server? {response.text[:200]}")
    return response.json()


__all__ = ["OpenEnvEnv"]
