"""Episodes beyond one process: executors, picklable specs, and a Ray cluster executor.

* `specs` — `EnvSpec`, `PolicySpec`: an environment or policy by name plus parameters, built on workers.
* `executor` — the `Executor` protocol, `InProcessExecutor` (the default) and `as_executor`.
* `ray_executor` — `RayExecutor`: episodes on `worker.EpisodeWorker` actors across a Ray cluster, the store
  kept by the driver. Ray is imported only when `RayExecutor` is asked for (`pip install
  'agent-gym[distributed]'`); `import agent_gym` never imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent_gym.distributed.executor import EpisodePlayer, Executor, InProcessExecutor, as_executor
from agent_gym.distributed.specs import EnvSpec, PolicySpec

if TYPE_CHECKING:
    from agent_gym.distributed.ray_executor import RayExecutor

__all__ = ["EnvSpec", "EpisodePlayer", "Executor", "InProcessExecutor", "PolicySpec", "RayExecutor", "as_executor"]


def __getattr__(name: str) -> Any:
    if name == "RayExecutor":
        from agent_gym.distributed.ray_executor import RayExecutor

        return RayExecutor
    raise AttributeError(f"module 'agent_gym.distributed' has no attribute {name!r}")
