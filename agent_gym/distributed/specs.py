"""Picklable descriptions of environments and policies, built where the episodes run.

A Ray worker on another machine cannot share the driver's objects; it gets a spec (a built-in environment
name or `package.module:Class`, plus keyword parameters) and builds its own copy. The driver builds one
too, for the job fingerprints, the preflight check and rescoring, so both sides agree on every key.

    EnvSpec("calculator")
    PolicySpec("agent_gym.envs.calculator:CalculatorExpert")
    PolicySpec("agent_gym.policies.openai:OpenAIPolicy", {"model": "m", "base_url": "http://10.0.0.5:8000/v1"})
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent_gym.env import Environment
from agent_gym.envs import make_env, resolve
from agent_gym.errors import ConfigError
from agent_gym.policies.base import Policy


@dataclass(frozen=True)
class EnvSpec:
    """An environment by name: `make_env(target, **params)` on whichever machine runs the episodes."""

    target: str
    """A built-in name (`calculator`, `shell`, `textcraft` …) or `package.module:Class` (or a factory)."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments of the constructor; they must pickle (plain values, paths, tasks)."""

    def build(self) -> Environment:
        """A fresh environment from this spec."""
        return make_env(self.target, **dict(self.params))


@dataclass(frozen=True)
class PolicySpec:
    """A policy by name: `package.module:Class(**params)` on whichever machine runs the episodes."""

    target: str
    """`package.module:Class` (or a factory function) that returns a `Policy`."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments of the constructor; they must pickle."""

    def build(self) -> Policy:
        """A fresh policy from this spec."""
        factory = resolve(self.target, "policy")
        try:
            policy = factory(**dict(self.params))
        except TypeError as exc:
            raise ConfigError(f"Could not build policy {self.target!r}: {exc}") from exc
        if not isinstance(policy, Policy):
            raise ConfigError(f"{self.target!r} made a {type(policy).__name__}, not a Policy "
                              "(needs name, model, sampling and async act()).")
        return policy


Spec = EnvSpec | PolicySpec


def build_env(env: Environment | EnvSpec) -> Environment:
    """`env` itself, or the environment its spec describes."""
    return env.build() if isinstance(env, EnvSpec) else env


def build_policy(policy: Policy | PolicySpec) -> Policy:
    """`policy` itself, or the policy its spec describes."""
    return policy.build() if isinstance(policy, PolicySpec) else policy


def check_picklable(value: Any, what: str) -> bytes:
    """`value` pickled (cloudpickle, as Ray sends it), or a ConfigError that says to use a spec."""
    from ray import cloudpickle

    try:
        return cloudpickle.dumps(value)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        spec = "EnvSpec('name' or 'module:Class', {...})" if what == "environment" else \
            "PolicySpec('module:Class', {...})"
        raise ConfigError(f"The {what} {type(value).__name__} cannot be sent to Ray workers ({exc}). Describe "
                          f"it with agent_gym.distributed.{spec}: each worker then builds its own.") from exc
