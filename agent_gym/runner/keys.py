"""Resume keys and per-episode seeds: what makes two episodes the same job."""

from __future__ import annotations

import hashlib
import json

from agent_gym.env import Environment
from agent_gym.policies.base import Policy
from agent_gym.types import Task


def job_key(env: Environment, policy: Policy, task: Task, sample_index: int, seed: int | None = None) -> str:
    """Resume key of one episode: env settings, task, sample index, policy, model, sampling, seed."""
    payload = {
        "env": env.config(),
        "task": task.id,
        "sample": sample_index,
        "policy": policy.name,
        "model": policy.model,
        "sampling": dict(policy.sampling),
        "seed": seed,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def episode_seed(seed: int | None, task: Task, sample_index: int) -> int | None:
    """A per-episode seed derived from the run's seed, stable across runs and processes."""
    if seed is None:
        return None
    digest = hashlib.sha256(f"{seed}:{task.id}:{sample_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")
