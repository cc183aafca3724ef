"""`as_trl_environment(env, tasks)`: any agent_gym Environment as the class TRL's `environment_factory` takes.

    Env = as_trl_environment(TextCraftEnv(), tasks)
    trainer = GRPOTrainer(model=model, args=grpo_config("runs/trl"), train_dataset=Env.dataset(),
                          processing_class=trl_tokenizer(model), environment_factory=Env,
                          reward_funcs=[Env.final_answer], peft_config=lora_config())

What TRL 1.16's `GRPOTrainer(environment_factory=…)` requires, and what the class gives:

* `reset(**row)` — called with each dataset row before generation: it clones the environment and starts an
  episode on the task `row["task_id"]`. The row's `prompt` (from `Env.dataset()`) already holds the
  environment's opening messages, so `reset` returns None (TRL appends a returned string to the prompt).
* public methods as tools — one per environment tool, with the tool's name, a signature and a Google-style
  docstring from its JSON schema (TRL renders them with `transformers.utils.get_json_schema`). Each call is
  one `env.step` with an assistant message holding that one call; the method returns the environment's reply
  (the tool message, and any message the environment adds), errors included as text.
* `get_reward()` — the reward the environment gave during the tool calls (a goal reached through a tool, as
  in TextCraft, ends the episode there). TRL adds it as a reward column named after the class.
* `Env.final_answer` — a TRL reward function (a classmethod, so TRL does not offer it as a tool) that hands
  each rollout's final text answer to its environment and returns the reward for it: what environments that
  score an answer (`ToolEnv`: calculator, math, customer service) need. It returns 0.0 for an episode that
  already ended through a tool, so the two columns sum to the environment's reward.

`trl_tokenizer(model)` loads the tokenizer with left padding and the response template TRL parses tool calls
with (the embedded model's Qwen2.5-style template is not in TRL's list; its `<tool_call>` format is Qwen3's).
The environment's coroutines run on one background event loop shared by every instance. The classes pickle
as the call that builds them (for TRL's `AsyncGRPOTrainer`, which pickles `environment_factory`): give an
`EnvSpec` for an environment whose objects do not pickle.
"""

from __future__ import annotations

import asyncio
import copyreg
import inspect
import itertools
import json
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, ClassVar, TypeVar

from agent_gym.env import Environment
from agent_gym.errors import ConfigError
from agent_gym.types import Message, StepResult, Task, ToolCall, assistant

T = TypeVar("T")
_JSON_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool, "object": dict}
_RESERVED = ("reset", "get_reward", "final_answer", "dataset")
_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on the shared background loop (environments keep their resources on one loop)."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="agent-gym-trl-env", daemon=True).start()
    return asyncio.run_coroutine_threadsafe(coro, _loop).result()


class _TRLEnvironmentType(type):
    """The metaclass of the built classes: they pickle as the `as_trl_environment(env, tasks)` call that
    builds them (TRL's `AsyncGRPOTrainer` pickles its `environment_factory` into a spawned process)."""


def _reduce_class(cls: type) -> Any:
    if "_env" not in cls.__dict__:  # the base class itself: by reference, as usual
        return cls.__qualname__
    source = cls.__dict__.get("_spec") or cls._env  # type: ignore[attr-defined]
    return as_trl_environment, (source, list(cls._tasks.values()))  # type: ignore[attr-defined]


copyreg.pickle(_TRLEnvironmentType, _reduce_class)


class TRLEnvironment(metaclass=_TRLEnvironmentType):
    """Base of the classes `as_trl_environment` builds; one instance plays one rollout at a time."""

    _env: ClassVar[Environment]
    _tasks: ClassVar[dict[str, Task]]
    _ids: ClassVar[itertools.count[int]]

    def __init__(self) -> None:
        self._episode: Environment | None = None
        self._task: Task | None = None
        self._messages: list[Message] = []
        self._tool_reward = 0.0
        self._answer_reward: float | None = None
        self._ended = False
        self._success: bool | None = None

    def reset(self, **row: Any) -> str | None:
        """Start an episode on the row's task (`task_id`); the row's prompt already holds the opening."""
        task_id = row.get("task_id")
        if task_id not in self._tasks:
            raise ConfigError(f"Row task_id {task_id!r} is not a task of this environment; build the dataset "
                              "with Env.dataset() (or give the rows a task_id column of the tasks passed in).")
        if self._episode is not None:
            _run(self._episode.close())
        self.__init__()  # type: ignore[misc]
        self._task = self._tasks[task_id]
        self._episode = self._env.clone()
        self._messages = list(_run(self._episode.reset(self._task)))
        return None

    def get_reward(self) -> float:
        """The reward the environment gave during this rollout's tool calls."""
        return self._tool_reward

    @classmethod
    def final_answer(cls, completions: list[Any], environments: list[Any] | None = None,
                     **kwargs: Any) -> list[float]:
        """A TRL reward function: each rollout's final text answer, scored by its environment."""
        if environments is None:
            raise ConfigError("final_answer scores environments: pass the class as environment_factory too.")
        return [env._answer(_final_text(c)) for env, c in zip(environments, completions, strict=True)]

    @classmethod
    def dataset(cls, tasks: Sequence[Task] | None = None) -> Any:
        """The GRPO dataset: per task, the environment's opening messages as `prompt`, and its `task_id`."""
        return trl_dataset(cls._env, list(tasks) if tasks is not None else list(cls._tasks.values()))

    @property
    def messages(self) -> list[Message]:
        """The conversation as the environment saw it (one assistant message per tool call)."""
        return list(self._messages)

    @property
    def success(self) -> bool | None:
        """Whether the environment said the task was solved (None: it did not say, or not yet)."""
        return self._success

    def _call(self, name: str, arguments: dict[str, Any]) -> str:
        if self._episode is None:
            raise ConfigError("A tool was called before reset(); TRL calls reset(**row) first.")
        if self._ended:
            return "Error: the episode has ended; no more tool calls are accepted."
        call = ToolCall(name=name, arguments={k: v for k, v in arguments.items() if v is not None},
                        id=f"call_{next(self._ids)}")
        result = self._step(assistant(tool_calls=(call,)))
        self._tool_reward += result.reward
        return "\n".join(m.content for m in result.observation)

    def _answer(self, text: str | None) -> float:
        if self._episode is None or self._ended:
            return 0.0
        if text is None:  # cut by the length or tool-iteration limit before an answer
            self._ended = True
            return 0.0
        self._answer_reward = self._step(assistant(text)).reward
        self._ended = True
        return self._answer_reward

    def _step(self, action: Message) -> StepResult:
        assert self._episode is not None
        result = _run(self._episode.step(action))
        self._messages += [action, *result.observation]
        if result.terminated or result.truncated:
            self._ended, self._success = True, result.success
        return result


def as_trl_environment(env: Environment | Any, tasks: Sequence[Task] | None = None) -> type[TRLEnvironment]:
    """The class TRL's `environment_factory` takes, playing `env` on `tasks` (default `env.default_tasks()`).

    Pass the class itself as `environment_factory`, `Env.dataset()` as the training dataset, and
    `Env.final_answer` in `reward_funcs` when the environment scores a final answer (see the module docstring).
    `env` may be an `EnvSpec` (`agent_gym.distributed`): the class then pickles as the spec, for environments
    whose objects do not pickle (TRL's `AsyncGRPOTrainer` pickles its `environment_factory`).
    """
    from agent_gym.distributed.specs import EnvSpec

    spec = env if isinstance(env, EnvSpec) else None
    if spec is not None:
        env = spec.build()
    if not isinstance(env, Environment):
        raise ConfigError(f"as_trl_environment takes an agent_gym Environment, got {type(env).__name__}.")
    tasks = list(tasks) if tasks is not None else env.default_tasks()
    if not tasks:
        raise ConfigError(f"{env.name} has no default tasks; pass tasks=[...].")
    namespace: dict[str, Any] = {"_env": env, "_spec": spec, "_tasks": {t.id: t for t in tasks}, "_ids": itertools.count(),
                                 "__doc__": f"agent_gym environment {env.name!r} for TRL's environment_factory."}
    for schema in env.tool_schemas():
        method = tool_method(schema)
        namespace[method.__name__] = method
    name = "".join(part.capitalize() for part in env.name.replace("-", "_").split("_") if part) or "Env"
    return type(f"{name}TRLEnvironment", (TRLEnvironment,), namespace)


def tool_method(schema: dict[str, Any]) -> Any:
    """A method calling the tool of an OpenAI `schema`, with the signature and docstring TRL derives its schema from."""
    function = schema.get("function", schema)
    name = function["name"]
    if name in _RESERVED or name.startswith("_") or not name.isidentifier():
        raise ConfigError(f"Tool name {name!r} cannot be a TRL environment method (reserved, private or not a "
                          "Python identifier); rename the tool.")
    params = function.get("parameters") or {}
    properties: dict[str, Any] = params.get("properties", {})
    required = set(params.get("required", ()))
    ordered = sorted(properties, key=lambda p: p not in required)  # required first, then those with defaults
    signature = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict[str, Any] = {}
    lines = []
    for param in ordered:
        spec = properties[param]
        annotations[param] = _python_type(spec) if param in required else _python_type(spec) | None
        default = inspect.Parameter.empty if param in required else None
        signature.append(inspect.Parameter(param, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default,
                                           annotation=annotations[param]))
        text = " ".join(str(spec.get("description") or spec.get("title") or param).split())
        if "enum" in spec:
            text += f" (choices: {json.dumps(spec['enum'])})"
        lines.append(f"    {param}: {text}")
    annotations["return"] = str

    def method(self: TRLEnvironment, *args: Any, **kwargs: Any) -> str:
        bound = inspect.Signature(signature).bind(self, *args, **kwargs)
        return self._call(name, {k: v for k, v in bound.arguments.items() if k != "self"})

    method.__name__ = method.__qualname__ = name
    method.__signature__ = inspect.Signature(signature, return_annotation=str)  # type: ignore[attr-defined]
    method.__annotations__ = annotations
    description = " ".join((function.get("description") or name).split())
    method.__doc__ = description + ("\n\nArgs:\n" + "\n".join(lines) if lines else "")
    return method


def trl_dataset(env: Environment, tasks: Sequence[Task]) -> Any:
    """A `datasets.Dataset` for `environment_factory` training: `prompt` (the environment's opening messages
    as chat dicts) and `task_id` per task."""
    from datasets import Dataset

    async def openings() -> list[list[dict[str, Any]]]:
        out = []
        for task in tasks:
            episode = env.clone()
            try:
                out.append([{"role": m.role, "content": m.content} for m in await episode.reset(task)])
            finally:
                await episode.close()
        return out

    return Dataset.from_dict({"prompt": _run(openings()), "task_id": [t.id for t in tasks]})


def trl_tokenizer(model: Any) -> Any:
    """The model's tokenizer, left-padded, with a response template TRL can parse tool calls with."""
    from trl.chat_template_utils import add_response_schema, qwen3_template

    from agent_gym.train.grpo_trainer import load_tokenizer, resolve_model

    tokenizer = load_tokenizer(resolve_model(model))
    if getattr(tokenizer, "response_template", None) is not None:
        return tokenizer
    try:
        return add_response_schema(tokenizer)
    except ValueError:
        if "<tool_call>" not in (tokenizer.chat_template or ""):
            raise ConfigError("TRL cannot parse this chat template's tool calls; set tokenizer.response_template "
                              "(see transformers' response-parsing docs).") from None
    tokenizer.response_template = qwen3_template  # the Hermes/Qwen `<tool_call>{json}</tool_call>` format
    return tokenizer


def _python_type(spec: dict[str, Any]) -> Any:
    kind = spec.get("type")
    if isinstance(kind, list):  # ["string", "null"]
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "array":
        item = _python_type(spec.get("items") or {"type": "string"})
        return list[item]
    if kind is None and "enum" in spec:
        return str
    if kind not in _JSON_TYPES:
        raise ConfigError(f"Parameter type {spec!r} has no Python equivalent TRL can describe; give the tool "
                          "parameters plain JSON types (string, integer, number, boolean, array, object).")
    return _JSON_TYPES[kind]


def _final_text(completion: Any) -> str | None:
    """The final answer of a TRL completion (a message list): the last assistant message without tool calls."""
    if isinstance(completion, str):
        return completion
    last = completion[-1] if completion else None
    if not isinstance(last, dict) or last.get("role") != "assistant" or last.get("tool_calls"):
        return None
    content = last.get("content") or ""
    return content if isinstance(content, str) else " ".join(p.get("text", "") for p in content if isinstance(p, dict))
