"""Built-in environments, addressable by name (`agent-gym eval calculator`) or as `module:Class`."""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from agent_gym.env import Environment
from agent_gym.errors import ConfigError

BUILTIN_ENVS: dict[str, str] = {
    "calculator": "agent_gym.envs.calculator:CalculatorEnv",
    "shell": "agent_gym.envs.code.shell:ShellEnv",
    "python_code": "agent_gym.envs.code.python_code:PythonCodeEnv",
    "math_python": "agent_gym.envs.code.math_python:MathPythonEnv",
    "babyai": "agent_gym.envs.games.babyai.env:BabyAIEnv",
    "textcraft": "agent_gym.envs.games.textcraft.env:TextCraftEnv",
    "textworld": "agent_gym.envs.games.textworld:TextWorldEnv",
    "scienceworld": "agent_gym.envs.games.scienceworld:ScienceWorldEnv",
    "customer_service": "agent_gym.envs.dialogue.customer_service:CustomerServiceEnv",
    "customer_service_retail": "agent_gym.envs.dialogue.customer_service:RetailServiceEnv",
    "customer_service_airline": "agent_gym.envs.dialogue.customer_service:AirlineServiceEnv",
}
"""Name -> `module:Class` of every built-in environment."""


def resolve(spec: str, what: str = "environment") -> Any:
    """The object named by a built-in environment name or `package.module:attribute` (`what` names it in errors)."""
    if what != "environment" and ":" not in spec:
        raise ConfigError(f"The {what} is named as 'package.module:Name', got {spec!r}.")
    target = BUILTIN_ENVS.get(spec, spec)
    if ":" not in target:
        close = difflib.get_close_matches(spec, BUILTIN_ENVS, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ConfigError(
            f"Unknown environment {spec!r}.{hint} Use a built-in name ({', '.join(sorted(BUILTIN_ENVS))}) "
            "or 'package.module:ClassName'."
        )
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"Cannot import {module_name!r} for {what} {spec!r}: {exc}") from exc
    try:
        return getattr(module, attribute)
    except AttributeError as exc:
        raise ConfigError(f"Module {module_name!r} has no attribute {attribute!r}.") from exc


def make_env(spec: str, **kwargs: Any) -> Environment:
    """Build an environment from a built-in name or `module:Class` (or a factory function)."""
    factory = resolve(spec)
    try:
        env = factory(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"Could not build environment {spec!r}: {exc}") from exc
    if not isinstance(env, Environment):
        raise ConfigError(f"{spec!r} made a {type(env).__name__}, not an agent_gym Environment.")
    return env
