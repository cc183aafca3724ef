"""What makes two episodes the same job: identities, fingerprints and per-episode seeds.

A job's fingerprint (`job_key`) hashes everything that changes what an episode is or how it is scored:
the environment's class, version, configuration and reward identity (each reward function's qualified
name and a hash of its source, defaults and closure), the task's whole content (prompt, answer,
metadata — not only its id), the policy (class, name, model, sampling), the turn limit, the sample index
and the seed. The `replay_key` is the same without the reward identity: two records that share it played
the same interaction and were only scored differently.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from dataclasses import dataclass
from typing import Any

from pydantic_core import PydanticSerializationError

from agent_gym.env import Environment, Wrapper
from agent_gym.errors import ConfigError
from agent_gym.policies.base import Policy
from agent_gym.rewards.rubric import Rubric
from agent_gym.types import Task


@dataclass(frozen=True)
class Fingerprints:
    """The two keys of one job."""

    job_key: str
    """Everything, reward identity included: a finished record with this key is the same episode."""
    replay_key: str
    """Everything but the reward identity: the same interaction, maybe scored differently."""


def qualified_name(obj: Any) -> str:
    """`module.QualName` of a function, class or callable object."""
    target = obj if inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismethod(obj) else type(obj)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"


def source_hash(fn: Any) -> str:
    """A short hash of what a callable computes: its source (or byte code), defaults and closure values."""
    digest = hashlib.sha256()
    _feed(digest, fn, depth=0)
    return digest.hexdigest()[:16]


def _feed(digest: Any, fn: Any, depth: int) -> None:
    if depth > 3:
        return
    if isinstance(fn, functools.partial):
        digest.update(_stable(fn.args, fn.keywords).encode())
        _feed(digest, fn.func, depth + 1)
        return
    function = fn.__func__ if inspect.ismethod(fn) else fn
    if not inspect.isfunction(function):  # a callable object: its class's source and its state
        digest.update(_source_of(type(fn)).encode())
        digest.update(_stable(getattr(fn, "__dict__", {})).encode())
        return
    digest.update(_source_of(function).encode())
    digest.update(_stable(function.__defaults__, function.__kwdefaults__).encode())
    for cell in function.__closure__ or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if callable(value) and not inspect.isclass(value):
            _feed(digest, value, depth + 1)
        else:
            digest.update(_stable(value).encode())


def _source_of(obj: Any) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):  # no source file (exec'd code, builtins): the byte code stands in
        code = getattr(obj, "__code__", None)
        return repr((code.co_code, code.co_consts)) if code is not None else qualified_name(obj)


def _stable(*values: Any) -> str:
    return json.dumps(values, sort_keys=True, default=repr)


def unwrapped(env: Environment) -> Environment:
    """The innermost environment under any wrappers."""
    while isinstance(env, Wrapper):
        env = env.env
    return env


def reward_identity(env: Environment) -> list[dict[str, Any]]:
    """Each reward function of the environment: component name, weight, qualified name, source hash.

    Environments scored by a `Rubric` (`ToolEnv` and its kind) list its functions; environments that
    compute their reward inside `step` (the text games, the simulators) are identified by their class.
    """
    base = unwrapped(env)
    rubric = getattr(base, "rubric", None)
    if isinstance(rubric, Rubric):
        return [
            {"component": name, "weight": rubric.weights.get(name, 1.0), "function": qualified_name(fn),
             "source_hash": source_hash(fn)}
            for name, fn in rubric.funcs.items()
        ]
    cls = type(base)
    return [{"component": "step", "weight": 1.0, "function": f"{qualified_name(cls)}.step",
             "source_hash": hashlib.sha256(_source_of(cls).encode()).hexdigest()[:16]}]


def environment_identity(env: Environment) -> dict[str, Any]:
    """Name, class, version, configuration and reward identity of an environment (stored on trajectories)."""
    base = unwrapped(env)
    return {
        "name": env.name,
        "class": qualified_name(type(base)),
        "version": str(getattr(base, "version", "1")),
        "config": _jsonable(env.config()),
        "reward": reward_identity(env),
        "agent_gym": _agent_gym_version(),
    }


@functools.cache
def _agent_gym_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("agent_gym")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "unknown"


def policy_identity(policy: Policy) -> dict[str, Any]:
    """Class, name, model, sampling of a policy, and whether it records token ids."""
    return {
        "class": qualified_name(type(policy)),
        "name": policy.name,
        "model": policy.model,
        "sampling": _jsonable(dict(policy.sampling)),
        "tokens": bool(getattr(policy, "records_tokens", False)),
    }


def task_hash(task: Task) -> str:
    """A hash of the task's whole content: id, prompt, expected answer, metadata."""
    try:
        content = task.to_dict()
    except PydanticSerializationError as exc:
        raise ConfigError(f"Task {task.id!r}: its metadata holds a value JSON cannot hold ({exc}); keep task "
                          "metadata to str, numbers, bools, None, lists and dicts.") from None
    return hashlib.sha256(_stable(content).encode()).hexdigest()[:24]


def fingerprints(
    env: Environment, policy: Policy, task: Task, sample_index: int, seed: int | None = None,
    *, max_turns: int | None = None, identity: dict[str, Any] | None = None, policy_info: dict[str, Any] | None = None,
) -> Fingerprints:
    """The job key and replay key of one episode (see the module docstring).

    `identity` and `policy_info` may be passed precomputed (`environment_identity`, `policy_identity`):
    they are the same for every job of a run.
    """
    identity = identity if identity is not None else environment_identity(env)
    policy_info = policy_info if policy_info is not None else policy_identity(policy)
    interaction = {
        "env": {k: identity[k] for k in ("name", "class", "version", "config")},
        "task": task_hash(task),
        "sample": sample_index,
        "policy": {k: v for k, v in policy_info.items() if k != "tokens"},
        "max_turns": max_turns or env.max_turns,
        "seed": seed,
    }
    replay = _digest(interaction)
    return Fingerprints(job_key=_digest({"replay": replay, "reward": identity["reward"]}), replay_key=replay)


def job_key(env: Environment, policy: Policy, task: Task, sample_index: int, seed: int | None = None,
            *, max_turns: int | None = None) -> str:
    """The job fingerprint of one episode (`fingerprints(...).job_key`)."""
    return fingerprints(env, policy, task, sample_index, seed, max_turns=max_turns).job_key


def _digest(payload: Any) -> str:
    return hashlib.sha256(_stable(payload).encode()).hexdigest()[:24]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=repr))


def episode_seed(seed: int | None, task: Task, sample_index: int) -> int | None:
    """A per-episode seed derived from the run's seed, stable across runs and processes."""
    if seed is None:
        return None
    digest = hashlib.sha256(f"{seed}:{task.id}:{sample_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")

