"""`EpisodeWorker`: the Ray actor that plays episodes on a node of the cluster.

Each worker builds its own environment and policy from what the driver sent (an `EnvSpec`/`PolicySpec`,
or a pickled object) once, then plays every episode it is given on a fresh `env.clone()`: sandboxes and
HTTP clients live on the worker's node. The driver creates it with `max_concurrency` set to the worker's
share of the run's concurrency, so Ray bounds how many of its episodes run at once.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from agent_gym.distributed.specs import build_env, build_policy
from agent_gym.runner.episodes import EpisodeJob, play_job
from agent_gym.runner.record import RecordContext
from agent_gym.types import Trajectory


class EpisodeWorker:
    """Plays episodes of one run's environment and policy (wrapped with `ray.remote` by the driver)."""

    def __init__(self, env: Any, policy: Any, shared: RecordContext) -> None:
        import ray

        self.env, self.policy, self.shared = build_env(env), build_policy(policy), shared
        self.identity = {"node": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
                         "pid": os.getpid()}

    def ready(self) -> dict[str, Any]:
        """Where this worker runs: Ray node id, host name, process id."""
        return self.identity

    async def play(self, job: EpisodeJob) -> Trajectory:
        """One episode; the trajectory's `metadata["worker"]` says which worker played it."""
        trajectory = await play_job(self.env, self.policy, job, self.shared)
        return trajectory.model_copy(update={"metadata": {**trajectory.metadata, "worker": self.identity}})

    async def close(self) -> None:
        """Close the policy's HTTP client of this worker's event loop."""
        close = getattr(self.policy, "aclose", None)
        if callable(close):
            await close()
