"""`MultiTurnRollout`: TRL's experimental `rollout_func(prompts, trainer)` over an agent_gym Environment.

TRL's `RepeatSampler` hands each process its slice of the generation batch, every prompt repeated
`num_generations` times in a row; here a prompt is a task id. For each one the rollout plays a whole
multi-turn episode through the one episode engine (`runner.run_episodes_async` with a `TokenPolicy` over
the trainer's generator: all episodes batched per turn) with the turn limit the horizon schedule gives
for `trainer.state.global_step`, and returns

* `prompt_ids`, `completion_ids`, `logprobs` — the token sequences exactly as generated;
* `env_mask` — 0 on environment tokens, which TRL then leaves out of the loss;
* `env_reward`, `trajectory`, `horizon`, `drift` — forwarded by TRL to the reward functions
  (`env_reward_func` returns the environment's reward and logs the `env/*` metrics and the batch's
  token drift, `drift/*` from `agent_gym.train.drift.drift_metrics`, through TRL's `log_metric`).

Each episode is appended to the `TrajectoryStore` as a `Trajectory` whose `model` is
`<model>@step<N>` and whose `metadata["grpo"]` holds the run, step, phase, horizon and GRPO group id.

Under `accelerate launch` (several processes) each process plays its slice; generation calls stay in lock
step (`TokenPolicy.drain`: a process out of episodes joins the others' calls until all agree to stop), the
run id is the main process's, and the main process alone writes the store, after gathering every rank's
episodes. `metadata["grpo"]` then also tells the `rank`, its `generate_calls` and the `padding_calls` among them.
"""

from __future__ import annotations

import inspect
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agent_gym.env import Environment
from agent_gym.errors import ConfigError
from agent_gym.policies.tokens import Generator, TokenPolicy
from agent_gym.runner.batch import run_episodes_async
from agent_gym.runner.record import store_trajectory
from agent_gym.runner.sync import closing_policy, run_sync
from agent_gym.store import TrajectoryStore
from agent_gym.train.drift import drift_metrics
from agent_gym.train.generation import TrainerGenerator
from agent_gym.train.horizon import HorizonSchedule, as_schedule
from agent_gym.train.multiturn import sequences, valid_tool_call
from agent_gym.types import Task, Trajectory


class MultiTurnRollout:
    """A `rollout_func` for `trl.GRPOTrainer` (see the module docstring).

    Args:
        env: The environment (cloned per episode).
        tasks: Tasks the prompts (task ids) refer to; eval tasks too.
        horizon: Turn-limit schedule, an int (fixed) or a list (stepwise, one round per step).
        store: Where every episode's trajectory goes (None: not stored).
        max_turn_tokens: Cap on the tokens generated in one turn (default: 128 or the completion budget).
        tool_format: `native` (the chat template's tool calling) or `text`.
        template_kwargs: Extra `apply_chat_template` arguments.
        model_name: Name stored on trajectories (`<model_name>@step<N>`).
        generation_batch_size: Sequences per `generate` call on the transformers path (None: all).
        max_concurrency: Episodes played at once (None: the whole batch, so each turn is one generation call).
        turn_cache: Keep the key/value cache across the turns of a step (transformers generation).
        drift_check: Re-render each batch with the chat template and log `drift/*` (the fraction of episodes
            whose trained ids differ from the template's, and the first divergence); see `check_drift`.
        generator_factory: `trainer -> Generator`; default `TrainerGenerator` (the trainer's model or
            its vLLM engine). Another backend (or a `ScriptedGenerator` in tests) plugs in here.
    """

    def __init__(self, env: Environment, tasks: Sequence[Task], *, horizon: HorizonSchedule | int | list[int] | None = None,
                 store: TrajectoryStore | str | Path | None = None, max_turn_tokens: int | None = None,
                 tool_format: str = "native", template_kwargs: dict[str, Any] | None = None,
                 model_name: str | None = None, generation_batch_size: int | None = None, max_concurrency: int | None = None,
                 turn_cache: bool = False, generator_factory: Callable[[Any], Generator] | None = None,
                 drift_check: bool = True) -> None:
        if not isinstance(env, Environment):
            raise ConfigError(f"env must be an agent_gym Environment, got {type(env).__name__}.")
        self.env = env
        self.tasks: dict[str, Task] = {}
        for task in tasks:
            if self.tasks.setdefault(task.id, task) is not task and self.tasks[task.id] != task:
                raise ConfigError(f"Two different tasks share the id {task.id!r}; task ids must be unique.")
        if not self.tasks:
            raise ConfigError("MultiTurnRollout needs at least one task.")
        self.schedule = as_schedule(horizon)
        self.store = TrajectoryStore(store) if isinstance(store, (str, Path)) else store
        self.max_turn_tokens = max_turn_tokens
        self.tool_format = tool_format
        self.template_kwargs = template_kwargs
        self.model_name = model_name or "model"
        self.generation_batch_size = generation_batch_size
        self.max_concurrency = max_concurrency
        self.generator_factory = generator_factory or (
            lambda trainer: TrainerGenerator(trainer, generation_batch_size, turn_cache=turn_cache))
        self.drift_check = drift_check
        self.run_id = uuid.uuid4().hex[:8]
        self.calls = 0
        self.phase: str | None = None
        """Set to label calls (e.g. `debug`); None: `train` or `eval` from the model's mode."""
        self.history: list[dict[str, Any]] = []
        """Per call: step, phase, horizon, success rate, mean reward and turns, wall seconds."""

    def add_tasks(self, tasks: Sequence[Task]) -> None:
        """Make more task ids known (e.g. an eval set)."""
        for task in tasks:
            self.tasks.setdefault(task.id, task)

    def __call__(self, prompts: list[str], trainer: Any) -> dict[str, list[Any]]:
        unknown = sorted({p for p in prompts if p not in self.tasks})
        if unknown:
            raise ConfigError(f"Prompts {unknown[:3]} are not task ids of this rollout; build the dataset with "
                              "`task_dataset(tasks)` or pass the tasks to MultiTurnRollout.")
        step, phase = trainer.state.global_step, self.phase or ("train" if trainer.model.training else "eval")
        horizon = self.schedule.max_turns(step)
        group_size = (getattr(trainer, "num_generations_eval", None) if phase == "eval" else None) \
            or trainer.args.num_generations
        offset = trainer.accelerator.process_index * len(prompts)
        budget = trainer.args.max_completion_length
        tokenizer = getattr(trainer.processing_class, "tokenizer", trainer.processing_class)
        started = time.perf_counter()
        policy = TokenPolicy(
            self.generator_factory(trainer), tokenizer, name="grpo", model=f"{self.model_name}@step{step}",
            sampling=_sampling(trainer.args), max_turn_tokens=min(self.max_turn_tokens or 128, budget),
            max_completion_tokens=budget, tool_format=self.tool_format,  # type: ignore[arg-type]
            template_kwargs=self.template_kwargs)
        if self.calls == 0:
            self._share_run_id(trainer)
        call, self.calls = self.calls, self.calls + 1
        jobs = [(self.tasks[p], (offset + i) % group_size) for i, p in enumerate(prompts)]
        run = run_sync(closing_policy(policy, run_episodes_async(
            self.env, policy, jobs, max_concurrency=self.max_concurrency or len(jobs), max_turns=horizon,
            progress=False, trajectory_ids=[f"{self.run_id}-{call}-{offset + i}" for i in range(len(jobs))])))
        own_calls = policy.generate_calls
        policy.drain()
        trajectories = []
        for i, played in enumerate(run):
            group = (offset + i) // group_size
            meta = {"grpo": {"run": self.run_id, "step": step, "call": call, "phase": phase, "horizon": horizon,
                             "group": f"{self.run_id}/{call}/{group}", "group_index": group,
                             "generation": (offset + i) % group_size, "rank": trainer.accelerator.process_index,
                             "generate_calls": policy.generate_calls, "padding_calls": policy.generate_calls - own_calls}}
            trajectories.append(played.model_copy(update={"metadata": {**played.metadata, **meta}}))
        everything = self._gather(trainer, trajectories)
        self._store(trainer, everything)
        end_id = (tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0)
        seqs = [sequences(t, tokenizer(t.task.prompt if t.task else "", add_special_tokens=False)["input_ids"]
                          if t.tokens is None else (), end_id) for t in trajectories]
        # over the whole batch (every rank's episodes), so each rank logs the same numbers
        drift = drift_metrics(everything, tokenizer, tool_format=self.tool_format,
                              template_kwargs=self.template_kwargs) if self.drift_check else {}
        success = statistics.fmean(float(bool(t.success)) for t in everything)  # over every rank's episodes
        if phase == "train":
            self.schedule.observe(step, success)
        self.history.append({"step": step, "phase": phase, "horizon": horizon, "success": success,
                             "reward": statistics.fmean(t.reward for t in everything),
                             "turns": statistics.fmean(t.num_turns for t in everything),
                             "seconds": time.perf_counter() - started, **drift})
        return {
            "prompt_ids": [q.prompt_ids for q in seqs],
            "completion_ids": [q.completion_ids for q in seqs],
            "logprobs": [q.logprobs for q in seqs],
            "env_mask": [q.env_mask for q in seqs],
            "env_reward": [t.reward for t in trajectories],
            "trajectory": trajectories,
            "horizon": [horizon] * len(trajectories),
            "group_size": [group_size] * len(trajectories),
            "drift": [drift] * len(trajectories),
        }

    def _share_run_id(self, trainer: Any) -> None:
        """Every process takes the main process's run id, so groups and trajectory ids agree across ranks."""
        if trainer.accelerator.num_processes > 1:
            from accelerate.utils import broadcast_object_list

            self.run_id = broadcast_object_list([self.run_id], from_process=0)[0]

    def _gather(self, trainer: Any, trajectories: list[Trajectory]) -> list[Trajectory]:
        """Every rank's episodes of this call, in rank order (the order of the global batch), on every rank;
        with one process, this process's."""
        if trainer.accelerator.num_processes > 1:
            from accelerate.utils import gather_object

            return gather_object(trajectories)
        return trajectories

    def _store(self, trainer: Any, everything: list[Trajectory]) -> None:
        """Append this call's episodes (all ranks') to the store: the main process is its only writer."""
        if self.store is None or (trainer.accelerator.num_processes > 1 and not trainer.accelerator.is_main_process):
            return
        for trajectory in everything:
            store_trajectory(self.store, trajectory)


def episode_stats(trajectories: Sequence[Trajectory], group_size: int | None = None) -> dict[str, float]:
    """The `env/*` metrics of a batch of episodes (groups: consecutive runs of `group_size`)."""
    if not trajectories:
        return {}
    n = len(trajectories)
    stats = {
        "env/reward": statistics.fmean(t.reward for t in trajectories),
        "env/success": sum(bool(t.success) for t in trajectories) / n,
        "env/turns": statistics.fmean(t.num_turns for t in trajectories),
        "env/valid_tool_calls": sum(valid_tool_call(t) for t in trajectories) / n,
        "env/truncated": sum(t.truncated for t in trajectories) / n,
        "env/errors": sum(t.error is not None for t in trajectories) / n,
        "env/generated_tokens": statistics.fmean(t.metrics.get("generated_tokens", 0.0) for t in trajectories),
        "env/env_tokens": statistics.fmean(t.metrics.get("env_tokens", 0.0) for t in trajectories),
    }
    if group_size and group_size > 1 and n >= group_size:
        groups = [trajectories[i:i + group_size] for i in range(0, n - group_size + 1, group_size)]
        stats["env/zero_variance_groups"] = sum(len({t.reward for t in g}) == 1 for g in groups) / len(groups)
    return stats


def env_reward_func(name: str = "env") -> Callable[..., list[float]]:
    """A TRL reward function returning the environment's reward (forwarded by `MultiTurnRollout`);
    it also logs the `env/*` metrics, the horizon and the `drift/*` numbers through TRL's `log_metric`."""

    def reward(prompts: list[Any], completions: list[Any], env_reward: list[float] | None = None,
               trajectory: list[Trajectory] | None = None, horizon: list[int] | None = None,
               group_size: list[int] | None = None, drift: list[dict[str, float]] | None = None,
               log_metric: Callable[[str, float], None] | None = None, **kwargs: Any) -> list[float]:
        if env_reward is None:
            raise ConfigError("The environment reward needs MultiTurnRollout as the trainer's rollout_func.")
        if log_metric is not None and trajectory:
            for key, value in episode_stats(trajectory, group_size[0] if group_size else None).items():
                log_metric(key, value)
            if horizon:
                log_metric("env/horizon", float(horizon[0]))
            for key, value in (drift[0] if drift else {}).items():
                log_metric(key, value)
        return [float(r) for r in env_reward]

    reward.__name__ = name
    return reward


def trl_reward_func(fn: Callable[..., Any], tasks: dict[str, Task]) -> Callable[..., Any]:
    """`fn` as a TRL reward function: TRL-style functions (with `**kwargs`) pass through; agent_gym
    reward functions `(task, messages) -> float` (sync or async) are scored on each episode."""
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(fn).parameters.values()):
        return fn

    def reward(prompts: list[Any], completions: list[Any], trajectory: list[Trajectory] | None = None,
               **kwargs: Any) -> list[float]:
        if trajectory is None:
            raise ConfigError(f"Reward {getattr(fn, '__name__', fn)!r} scores episodes; it needs MultiTurnRollout.")
        values = []
        for t in trajectory:
            value = fn(tasks[t.task_id], t.messages)
            values.append(float(run_sync(value) if inspect.isawaitable(value) else value))
        return values

    reward.__name__ = getattr(fn, "__name__", "reward")
    return reward


def _sampling(args: Any) -> dict[str, Any]:
    return {"temperature": args.temperature, "top_p": args.top_p, "max_completion_length": args.max_completion_length}
