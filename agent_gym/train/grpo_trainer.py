"""`grpo(env, model, tasks, config)`: multi-turn GRPO with TRL over any agent_gym Environment.

    from agent_gym.train import grpo, grpo_config, lora_config, StepwiseHorizon
    run = grpo(TextCraftEnv(), "runs/sft/model", tasks, grpo_config("runs/grpo", max_steps=30),
               horizon=StepwiseHorizon([3, 5], every=15), peft_config=lora_config())
    run.metrics()          # per-step loss, KL, reward, success, turns, horizon, zero-variance groups
    run.store.read()       # every training episode, grouped by GRPO group for the GroupInspector

`trl.GRPOConfig` is used as is (`grpo_config()` builds one with CPU or GPU/vLLM settings). The prompts
of the training dataset are task ids; `MultiTurnRollout` plays the episodes (see `rollout_func`).
`train=False` is the debug mode: one batch of rollouts with their rewards, no optimizer step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_gym.env import Environment
from agent_gym.errors import ConfigError
from agent_gym.store import TrajectoryStore
from agent_gym.train.horizon import HorizonSchedule
from agent_gym.train.metrics import MetricsLogger
from agent_gym.train.resume import checkpoint_step, find_checkpoint, forget_after
from agent_gym.train.rollout_func import (
    MultiTurnRollout,
    env_reward_func,
    episode_stats,
    trl_reward_func,
)
from agent_gym.training_log import read_metrics
from agent_gym.types import Task, Trajectory


@dataclass
class GRPORun:
    """What a `grpo` call produced."""

    trainer: Any
    """The `trl.GRPOTrainer` (its model is the trained policy)."""
    rollout: MultiTurnRollout
    """The rollout function (its `history` has the per-call success, reward, turns and horizon)."""
    output_dir: Path
    """`config.output_dir`: the saved model (or LoRA adapter) and tokenizer."""
    store: TrajectoryStore | None
    """Every episode played, training and debug."""
    metrics_path: Path
    """The per-step metrics JSONL file."""
    resumed_from: Path | None = None
    """The checkpoint training resumed from (`resume=`), if any."""
    debug: dict[str, Any] = field(default_factory=dict)
    """Debug mode (`train=False`): rewards per function, totals, `env/*` stats, trajectories, and the token
    sequences (`prompt_ids`, `completion_ids`, `env_mask`)."""

    def metrics(self) -> Any:
        """The metrics file as a DataFrame."""
        return read_metrics(self.metrics_path)

    def trajectories(self) -> list[Trajectory]:
        return self.store.read() if self.store is not None else []


def task_dataset(tasks: Sequence[Task]) -> Any:
    """The GRPO prompt dataset: one row per task, its id as the `prompt` (standard text format)."""
    from datasets import Dataset

    return Dataset.from_dict({"prompt": [t.id for t in tasks]})


def resolve_model(model: Any) -> Any:
    """None -> the embedded model's folder; a path -> its string; a loaded model as it is."""
    if model is None:
        from agent_gym.local.files import prepare_local_model

        model = prepare_local_model()
    return str(model) if isinstance(model, os.PathLike) else model


def load_tokenizer(model: Any) -> Any:
    """The tokenizer of a model folder or loaded model, left-padded with a pad token (as TRL wants)."""
    from transformers import AutoTokenizer

    source = model if isinstance(model, (str, os.PathLike)) else getattr(model, "name_or_path", None)
    if not source:
        raise ConfigError("Pass processing_class= (the tokenizer) with a model object that has no name_or_path.")
    tokenizer = AutoTokenizer.from_pretrained(str(source), padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def build_grpo_trainer(
    env: Environment,
    model: Any,
    tasks: Sequence[Task],
    config: Any,
    *,
    horizon: HorizonSchedule | int | list[int] | None = None,
    peft_config: Any = None,
    reward_funcs: Sequence[Callable[..., Any]] = (),
    store: TrajectoryStore | str | Path | None = None,
    metrics_path: str | Path | None = None,
    processing_class: Any = None,
    max_turn_tokens: int | None = None,
    tool_format: str = "native",
    eval_tasks: Sequence[Task] | None = None,
    callbacks: Sequence[Any] = (),
    live: Any = None,
) -> tuple[Any, MultiTurnRollout, MetricsLogger]:
    """The `GRPOTrainer`, its `MultiTurnRollout` and its `MetricsLogger`, ready to `train()`.

    Args are those of `grpo`; this is the same set-up without running anything.
    """
    from trl import GRPOConfig, GRPOTrainer

    if not isinstance(config, GRPOConfig):
        raise ConfigError("config must be a trl.GRPOConfig; build one with agent_gym.train.grpo_config(output_dir, ...).")
    tasks = list(tasks)
    if not tasks:
        raise ConfigError("grpo needs at least one task.")
    model = resolve_model(model)
    tokenizer = processing_class or load_tokenizer(model)
    if not isinstance(model, str) and peft_config is None and not any(p.requires_grad for p in model.parameters()):
        model.requires_grad_(True)  # e.g. a merged LoRA model: merging leaves every weight frozen
    name = model if isinstance(model, str) else getattr(model, "name_or_path", type(model).__name__)
    output_dir = Path(config.output_dir)
    if store is None:
        store = output_dir / "trajectories.jsonl"
    rollout = MultiTurnRollout(env, [*tasks, *(eval_tasks or [])], horizon=horizon, store=store,
                               max_turn_tokens=max_turn_tokens, tool_format=tool_format, model_name=Path(str(name)).name)
    logger = MetricsLogger(metrics_path or output_dir / "metrics.jsonl", extra={"run": rollout.run_id}, live=live)
    funcs = [env_reward_func(env.name), *(trl_reward_func(f, rollout.tasks) for f in reward_funcs)]
    trainer = GRPOTrainer(
        model=model, reward_funcs=funcs, args=config, train_dataset=task_dataset(tasks),
        eval_dataset=task_dataset(eval_tasks) if eval_tasks else None, processing_class=tokenizer,
        peft_config=peft_config, rollout_func=rollout, callbacks=[logger, *callbacks],
    )
    return trainer, rollout, logger


def grpo(
    env: Environment,
    model: Any,
    tasks: Sequence[Task],
    config: Any,
    *,
    horizon: HorizonSchedule | int | list[int] | None = None,
    peft_config: Any = None,
    reward_funcs: Sequence[Callable[..., Any]] = (),
    store: TrajectoryStore | str | Path | None = None,
    metrics_path: str | Path | None = None,
    processing_class: Any = None,
    max_turn_tokens: int | None = None,
    tool_format: str = "native",
    eval_tasks: Sequence[Task] | None = None,
    callbacks: Sequence[Any] = (),
    live: Any = None,
    train: bool = True,
    resume: bool | str | Path = False,
) -> GRPORun:
    """Train `model` with multi-turn GRPO on `env` over `tasks`.

    Args:
        env: Any agent_gym Environment (cloned per episode).
        model: A model folder, a loaded model (a merged LoRA model is made trainable) or None for the
            embedded model.
        tasks: Training tasks (each is a GRPO prompt; `config.num_generations` episodes per group).
        config: A `trl.GRPOConfig`. `max_completion_length` caps a whole episode's completion (generated
            plus environment tokens); `logging_steps=1` gives one metrics line per step.
        horizon: Turn-limit schedule (`FixedHorizon`, `StepwiseHorizon`, `AdaptiveHorizon`), an int or
            a list (one round per step); applied at each step from `trainer.state.global_step`.
        peft_config: e.g. `lora_config()`; None trains all weights.
        reward_funcs: Extra rewards added to the environment's: TRL reward functions
            (`(prompts, completions, **kwargs)`, which also receive `trajectory` and `env_reward`) or
            agent_gym reward functions `(task, messages) -> float`.
        store: Trajectory store for every episode (default `<output_dir>/trajectories.jsonl`).
        metrics_path: Per-step metrics JSONL (default `<output_dir>/metrics.jsonl`).
        processing_class: The tokenizer (default: loaded from the model, left padding).
        max_turn_tokens: Cap on the tokens of one generated turn (default 128).
        tool_format: `native` chat-template tool calling, or `text`.
        eval_tasks: Tasks for TRL's evaluation loop (`eval_strategy` in the config).
        callbacks: More `TrainerCallback`s.
        live: A `LiveMetrics` refreshed on every log.
        train: False is the debug mode: one batch of rollouts and rewards, no training.
        resume: Go on from a checkpoint of an interrupted run (`save_strategy="steps"` in the config):
            True takes the last `checkpoint-N` in `config.output_dir` (none yet: a fresh start), or
            a checkpoint folder. The metric lines and episodes the interrupted run wrote after that
            checkpoint are dropped first, so every step appears once.
    """
    trainer, rollout, logger = build_grpo_trainer(
        env, model, tasks, config, horizon=horizon, peft_config=peft_config, reward_funcs=reward_funcs, store=store,
        metrics_path=metrics_path, processing_class=processing_class, max_turn_tokens=max_turn_tokens,
        tool_format=tool_format, eval_tasks=eval_tasks, callbacks=callbacks, live=live,
    )
    checkpoint = find_checkpoint(config.output_dir, resume) if train else None
    if checkpoint is not None:  # nothing is written before training starts, so the files are the crashed run's
        if trainer.accelerator.is_main_process:  # the only writer of both files
            forget_after(checkpoint_step(checkpoint), logger.path, rollout.store.path if rollout.store else None)
        trainer.accelerator.wait_for_everyone()
    run = GRPORun(trainer, rollout, Path(config.output_dir), rollout.store, logger.path, resumed_from=checkpoint)
    if not train:
        run.debug = debug_batch(trainer, rollout, list(tasks), logger)
        return run
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    trainer.save_model(config.output_dir)  # the main process writes (TrainingArguments.should_save)
    if trainer.accelerator.is_main_process:
        trainer.processing_class.save_pretrained(config.output_dir)
    trainer.accelerator.wait_for_everyone()
    return run


def debug_batch(trainer: Any, rollout: MultiTurnRollout, tasks: list[Task], logger: MetricsLogger | None = None) -> dict[str, Any]:
    """Play `num_generations` episodes of each task and score them with every reward function,
    without training (seed 001's debug mode). Returns rewards per function, totals, `env/*` stats, the
    trajectories and the token sequences with their env masks."""
    group = trainer.args.num_generations
    prompts = [t.id for t in tasks for _ in range(group)]
    rollout.phase = "debug"
    try:
        output = rollout(prompts, trainer)
    finally:
        rollout.phase = None
    extra = {k: v for k, v in output.items() if k not in ("prompt_ids", "completion_ids", "logprobs", "env_mask")}
    tokenizer = getattr(trainer.processing_class, "tokenizer", trainer.processing_class)
    completions = tokenizer.batch_decode(output["completion_ids"], skip_special_tokens=True)
    logged: dict[str, float] = {}
    per_func: dict[str, list[float]] = {}
    for fn in trainer.reward_funcs:
        name = getattr(fn, "__name__", type(fn).__name__)
        per_func[name] = [float(v) for v in fn(prompts=prompts, completions=completions,
                                                completion_ids=output["completion_ids"], log_metric=logged.__setitem__,
                                                trainer_state=trainer.state, **extra)]
    weights = list(trainer.args.reward_weights or [1.0] * len(per_func))
    totals = [sum(w * values[i] for w, values in zip(weights, per_func.values(), strict=True)) for i in range(len(prompts))]
    groups = [totals[i:i + group] for i in range(0, len(totals), group)]
    stats = {**episode_stats(output["trajectory"], group), **logged,
             "reward": sum(totals) / len(totals), "frac_reward_zero_std": sum(len(set(g)) == 1 for g in groups) / len(groups)}
    if logger is not None:
        logger.write({"step": trainer.state.global_step, "phase": "debug", **stats})
    return {"rewards": per_func, "total": totals, "stats": stats, "trajectories": output["trajectory"],
            **{k: output[k] for k in ("prompt_ids", "completion_ids", "env_mask")}}
