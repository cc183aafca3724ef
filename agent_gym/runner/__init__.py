"""The runner: plays episodes and builds their trajectories.

* `episodes` — `rollout`: one episode of a task, any failure recorded on its trajectory.
* `batch` — `run_rollouts` (blocking, works in Jupyter) and `run_rollouts_async`: many episodes,
  bounded concurrency, resumable through a store.
* `keys` — resume keys and per-episode seeds; `record` — the Trajectory builder.
"""

from agent_gym.runner.batch import run_rollouts, run_rollouts_async, run_sync
from agent_gym.runner.episodes import rollout
from agent_gym.runner.keys import episode_seed, job_key
from agent_gym.runner.record import build_trajectory

__all__ = ["build_trajectory", "episode_seed", "job_key", "rollout", "run_rollouts", "run_rollouts_async", "run_sync"]
