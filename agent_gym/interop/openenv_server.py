"""Serve an agent_gym environment as an OpenEnv environment server.

```python
app = create_openenv_app(TextCraftEnv(), max_concurrent_envs=16)   # a FastAPI app (uvicorn it yourself)
serve_openenv(TextCraftEnv(), port=8000)                           # or block serving it
```
    python -m agent_gym.interop.openenv_server textcraft --port 8000   # READY http://127.0.0.1:8000

The server speaks OpenEnv's protocol (openenv-core's own `HTTPEnvServer`): a WebSocket session at `/ws`
per client, each with its own copy of the environment (`clone()` per episode), plus `/reset`, `/step`,
`/state`, `/schema`, `/metadata`, `/health`. Any OpenEnv client plays it, e.g. `GenericEnvClient`:

* `reset(task_id=...)` (one of the environment's tasks, listed at `/agent_gym`), `reset(task={...})`
  (a Task as JSON) or `reset(seed=n)` (task n of the list, modulo its length) starts an episode;
* `step({"content": ..., "tool_calls": [{"name": ..., "arguments": {...}, "id": ...}]})` sends the
  assistant's message (`tool_calls` may also be in OpenAI's `{"function": {...}}` shape);
* each observation carries the new messages (agent_gym `Message` JSON: role, content, tool_calls,
  tool_call_id, name, is_error, ...), the step's reward, `done` (terminated or truncated) and both flags.

`GET /agent_gym` describes the environment (name, tool schemas, turn limit, configuration, tasks); the
agent_gym client (`OpenEnvEnv`) reads it. Episodes are truncated after the environment's `max_turns`.
"""

from __future__ import annotations

import argparse
import functools
import select
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from openenv.core.env_server.interfaces import Environment as OpenEnvBase
from openenv.core.env_server.types import Action, EnvironmentMetadata, Observation, State
from pydantic import Field

from agent_gym.env import Environment, TimeLimit
from agent_gym.errors import ConfigError
from agent_gym.formats import loads_model_json
from agent_gym.runner.keys import environment_identity
from agent_gym.runner.sync import run_sync
from agent_gym.types import Message, StepResult, Task, ToolCall

PROTOCOL = 1
"""Version of what `/agent_gym` and the observations hold."""


class AgentGymAction(Action):
    """The assistant's message, as an OpenEnv action."""

    content: str = Field(default="", description="The message's text")
    tool_calls: list[dict[str, Any]] = Field(
        default_factory=list, description='Tool calls: {"name", "arguments", "id"} or OpenAI\'s {"function": ...}')
    reasoning: str | None = Field(default=None, description="Reasoning kept apart from the text, if any")
    error: str | None = Field(default=None, description="Why the model's output could not be parsed, if it could not")


class AgentGymObservation(Observation):
    """What the environment answered: the new messages and the step's outcome."""

    messages: list[dict[str, Any]] = Field(default_factory=list, description="New messages (agent_gym Message JSON)")
    terminated: bool = Field(default=False, description="The episode ended on its own")
    truncated: bool = Field(default=False, description="The episode was cut off (turn limit)")
    success: bool | None = Field(default=None, description="Whether the task was solved, when known")
    components: dict[str, float] = Field(default_factory=dict, description="Named parts of the reward")
    info: dict[str, Any] = Field(default_factory=dict, description="The environment's step info")
    task_id: str | None = Field(default=None, description="The episode's task")


class ServedEnvironment(OpenEnvBase):
    """One OpenEnv session over an agent_gym environment: a fresh clone of it per episode."""

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self, template: Environment, tasks: Sequence[Task], max_turns: int) -> None:
        super().__init__()
        self.template, self.tasks, self.max_turns = template, list(tasks), max_turns
        self.by_id = {t.id: t for t in self.tasks}
        self.episode: Environment | None = None
        self._state = State()

    def choose_task(self, seed: int | None, task: dict[str, Any] | None, task_id: str | None) -> Task:
        """The task named by the reset request."""
        if task is not None:
            return Task.model_validate(task)
        if task_id is not None:
            if task_id not in self.by_id:
                raise ValueError(f"Unknown task_id {task_id!r}; GET /agent_gym lists the {len(self.tasks)} tasks.")
            return self.by_id[task_id]
        if not self.tasks:
            raise ValueError(f"{self.template.name} ships no tasks; reset with task={{'id': ..., 'prompt': ...}}.")
        return self.tasks[(seed or 0) % len(self.tasks)]

    async def reset_async(  # type: ignore[override]
        self, seed: int | None = None, episode_id: str | None = None, task: dict[str, Any] | None = None,
        task_id: str | None = None,
    ) -> AgentGymObservation:
        chosen = self.choose_task(seed, task, task_id)
        await self._close_episode()
        self.episode = TimeLimit(self.template.clone(), self.max_turns)
        opening = await self.episode.reset(chosen)
        self._state = State(episode_id=episode_id, step_count=0, task_id=chosen.id, env=self.template.name)
        return AgentGymObservation(messages=_dump(opening), task_id=chosen.id)

    async def step_async(self, action: AgentGymAction, timeout_s: float | None = None) -> AgentGymObservation:  # type: ignore[override]
        if self.episode is None:
            raise ValueError("step before reset: send a reset message first.")
        message = Message(role="assistant", content=action.content, reasoning=action.reasoning,
                          tool_calls=tuple(_tool_call(c, i) for i, c in enumerate(action.tool_calls)),
                          error=action.error)
        result: StepResult = await self.episode.step(message)
        self._state.step_count += 1
        return AgentGymObservation(
            messages=_dump(result.observation), reward=result.reward, done=result.terminated or result.truncated,
            terminated=result.terminated, truncated=result.truncated, success=result.success,
            components=result.components, info=result.info, task_id=self._state.task_id,  # type: ignore[attr-defined]
        )

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> AgentGymObservation:
        return run_sync(self.reset_async(seed, episode_id, kwargs.get("task"), kwargs.get("task_id")))

    def step(self, action: AgentGymAction, timeout_s: float | None = None, **kwargs: Any) -> AgentGymObservation:  # type: ignore[override]
        return run_sync(self.step_async(action, timeout_s))

    @property
    def state(self) -> State:
        return self._state

    def get_metadata(self) -> EnvironmentMetadata:
        doc = (type(self.template).__doc__ or "").strip().splitlines()
        return EnvironmentMetadata(name=self.template.name, description=doc[0] if doc else self.template.name,
                                   version=str(getattr(self.template, "version", "1")), author="agent_gym")

    def close(self) -> None:
        """Close the running episode (OpenEnv calls this when the session ends)."""
        if self.episode is not None:
            run_sync(self._close_episode())

    async def _close_episode(self) -> None:
        episode, self.episode = self.episode, None
        if episode is not None:
            await episode.close()


def _dump(messages: Sequence[Message]) -> list[dict[str, Any]]:
    return [m.model_dump(mode="json") for m in messages]


def _tool_call(call: dict[str, Any], index: int) -> ToolCall:
    """A tool call in agent_gym's shape or OpenAI's (`{"id", "function": {"name", "arguments": "<json>"}}`)."""
    if "function" in call:
        function = call["function"]
        arguments = function.get("arguments") or {}
        if isinstance(arguments, str):
            arguments = loads_model_json(arguments)  # a ModelJSONError (a ValueError) is the client's error
        return ToolCall(name=function["name"], arguments=arguments, id=call.get("id") or f"call_{index}")
    return ToolCall.model_validate(call)


def describe(env: Environment, tasks: Sequence[Task], max_turns: int) -> dict[str, Any]:
    """What `GET /agent_gym` answers."""
    identity = environment_identity(env)
    return {"protocol": PROTOCOL, "name": env.name, "max_turns": max_turns, "tools": env.tool_schemas(),
            "config": identity["config"], "class": identity["class"], "tasks": [t.model_dump(mode="json") for t in tasks]}


def create_openenv_app(
    env: Environment, *, max_concurrent_envs: int = 16, max_turns: int | None = None, tasks: Sequence[Task] | None = None,
) -> Any:
    """A FastAPI app serving `env` over OpenEnv's protocol (`tasks` default to `env.default_tasks()`)."""
    from openenv.core.env_server.http_server import create_fastapi_app

    if not isinstance(env, Environment):
        raise ConfigError(f"create_openenv_app serves an agent_gym Environment, got {type(env).__name__}.")
    chosen = list(env.default_tasks() if tasks is None else tasks)
    limit = max_turns or env.max_turns
    factory = functools.partial(ServedEnvironment, env, chosen, limit)
    app = create_fastapi_app(factory, AgentGymAction, AgentGymObservation, max_concurrent_envs=max_concurrent_envs)
    info = describe(env, chosen, limit)
    app.add_api_route("/agent_gym", lambda: info, methods=["GET"], summary="The served agent_gym environment")
    app.add_middleware(_QuietDisconnect)
    return app


class _QuietDisconnect:
    """OpenEnv's `/ws` handler closes a socket its client already closed (after the client's `close`
    message); the resulting `WebSocketDisconnect` is not an error, so it is not logged as one."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from starlette.websockets import WebSocketDisconnect

        try:
            await self.app(scope, receive, send)
        except WebSocketDisconnect:
            if scope["type"] != "websocket":
                raise


def serve_openenv(env: Environment, *, host: str = "127.0.0.1", port: int = 8000, max_concurrent_envs: int = 16,
                  max_turns: int | None = None) -> None:
    """Serve `env` until interrupted (port 0 picks a free port); prints `READY <url>` when listening."""
    import uvicorn

    app = create_openenv_app(env, max_concurrent_envs=max_concurrent_envs, max_turns=max_turns)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    server = uvicorn.Server(uvicorn.Config(app, host=host, log_level="warning"))
    print(f"READY http://{host}:{sock.getsockname()[1]}", flush=True)
    server.run(sockets=[sock])


@contextmanager
def openenv_server_process(env: str, *, max_concurrent_envs: int = 16, max_turns: int | None = None,
                           timeout: float = 120.0) -> Iterator[str]:
    """Serve the environment named `env` (built-in name or `module:Class`) in a child process on loopback;
    yield its URL. The child is stopped on exit."""
    argv = [sys.executable, "-m", "agent_gym.interop.openenv_server", env, "--port", "0",
            "--max-concurrent-envs", str(max_concurrent_envs), *(["--max-turns", str(max_turns)] if max_turns else [])]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready = select.select([process.stdout], [], [], timeout)[0]
        line = process.stdout.readline() if ready else ""
        if not line.startswith("READY "):
            raise ConfigError(f"The OpenEnv server for {env!r} did not start within {timeout:.0f}s "
                              f"(it said {line!r}, exit code {process.poll()}); run `{' '.join(argv)}` to see why.")
        yield line.split()[1]
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: Sequence[str] | None = None) -> None:
    from agent_gym.envs import make_env

    parser = argparse.ArgumentParser(description="Serve an agent_gym environment as an OpenEnv server.")
    parser.add_argument("env", help="a built-in environment name or package.module:Class")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--max-concurrent-envs", type=int, default=16)
    parser.add_argument("--max-turns", type=int, default=None)
    args = parser.parse_args(argv)
    serve_openenv(make_env(args.env), host=args.host, port=args.port, max_concurrent_envs=args.max_concurrent_envs,
                  max_turns=args.max_turns)


if __name__ == "__main__":
    main()


__all__ = ["AgentGymAction", "AgentGymObservation", "ServedEnvironment", "create_openenv_app", "describe",
           "openenv_server_process", "serve_openenv"]
