"""The runner: the one episode engine, and the complete record of each episode.

* `episodes` — `rollout`: one episode of a task, any failure recorded on its trajectory.
* `batch` — `run_episodes_async` (the engine every stage uses), `run_rollouts` (blocking, works in
  Jupyter) and `run_rollouts_async`: many episodes, bounded concurrency, resumable through a store;
  they return a `RunResult` (the trajectories, and what was reused, ran, retried, rescored).
* `keys` — job fingerprints (what makes two episodes the same job) and per-episode seeds.
* `record` — the Trajectory builder; `rescore` — scoring recorded interactions again (in a run, or a
  whole store into a new one); `sync` — `run_sync`, async work from sync code (Jupyter included).
* `branch` — `branch(trajectory, at_turn=k, policy=…, edit=…)`: a recorded episode replayed to turn k,
  then continued live (another policy, sampling, or an edited message); `branch_from_view(viewer, …)`
  branches where a viewer stands.
"""

from agent_gym.runner.batch import (
    RunResult,
    run_episodes_async,
    run_rollouts,
    run_rollouts_async,
)
from agent_gym.runner.branch import Edit, branch, branch_async, branch_from_view, branches_of
from agent_gym.runner.episodes import rollout
from agent_gym.runner.keys import (
    environment_identity,
    episode_seed,
    fingerprints,
    job_key,
    policy_identity,
)
from agent_gym.runner.record import build_trajectory
from agent_gym.runner.rescore import RescoreResult, rescore_records, rescore_store
from agent_gym.runner.sync import closing_policy, run_sync

__all__ = [
    "Edit", "RescoreResult", "RunResult", "branch", "branch_async", "branch_from_view", "branches_of", "build_trajectory", "closing_policy", "environment_identity", "episode_seed",
    "fingerprints", "job_key", "policy_identity", "rescore_records", "rescore_store", "rollout",
    "run_episodes_async", "run_rollouts", "run_rollouts_async", "run_sync",
]
