"""Training with TRL: SFT warm start, multi-turn GRPO over agent_gym environments, turn-horizon schedules.

* `sft(dataset, model, config)` — supervised fine-tuning on synthesized trajectories.
* `grpo(env, model, tasks, config, horizon=…)` — multi-turn GRPO (TRL's `rollout_func`), environment
  tokens masked out of the loss, token-in/token-out; `train=False` is the debug mode.
* `evaluate(env, policy_or_checkpoint, tasks)` — before/after comparisons.
* `FixedHorizon`, `StepwiseHorizon`, `AdaptiveHorizon` — turn limits per training step.
* `grpo_config`, `sft_config`, `lora_config` — CPU and GPU/vLLM settings as TRL/PEFT configs;
  `async_grpo_config` — TRL's asynchronous GRPO trainer (a vLLM server on its own GPU).
* `as_trl_environment(env, tasks)` — any environment as the class TRL's `GRPOTrainer(environment_factory=…)`
  takes (`trl_tokenizer` loads the tokenizer TRL parses tool calls with).
* `check_drift(store, tokenizer)` — token drift over a run (re-rendered chat template vs recorded ids);
  the GRPO rollout logs `drift/*` per step.
* `trackio_settings(project)` — report to trackio (local-first) besides the metrics file.

TRL, transformers and PEFT are imported when a function needs them, so `import agent_gym.train` is light.
Modules: `configs` (TRL/PEFT settings), `sft_trainer`, `grpo_trainer`, `rollout_func` (TRL's rollout
adapter over the one episode engine), `multiturn` (trajectories as token sequences), `generation`
(`TrainerGenerator`; the other generators and `TokenPolicy` live in `agent_gym.policies`), `horizon`, `resume`, `evaluation`,
`metrics` (the per-step metrics file).
"""

from agent_gym.policies.chat_render import ChatRenderer
from agent_gym.policies.hf_generator import HFGenerator
from agent_gym.policies.tokens import Generation, Generator, ScriptedGenerator, TokenPolicy
from agent_gym.train.configs import (
                        async_grpo_config,
                        grpo_config,
                        launch_command,
                        lora_config,
                        sft_config,
)
from agent_gym.train.drift import DriftReport, EpisodeDrift, check_drift, drift_metrics
from agent_gym.train.evaluation import Evaluation, evaluate, load_checkpoint, tool_call_rates
from agent_gym.train.generation import TrainerGenerator
from agent_gym.train.grpo_trainer import (
                        GRPORun,
                        build_grpo_trainer,
                        debug_batch,
                        grpo,
                        load_tokenizer,
                        task_dataset,
)
from agent_gym.train.horizon import (
                        AdaptiveHorizon,
                        FixedHorizon,
                        HorizonSchedule,
                        StepwiseHorizon,
                        as_schedule,
)
from agent_gym.train.metrics import MetricsLogger
from agent_gym.train.multiturn import TokenSequences, mask_spans, sequences, valid_tool_call
from agent_gym.train.rollout_func import (
                        MultiTurnRollout,
                        env_reward_func,
                        episode_stats,
                        trl_reward_func,
)
from agent_gym.train.sft_trainer import SFTRun, as_dataset, sft
from agent_gym.train.tracking import trackio_logs, trackio_settings
from agent_gym.train.trl_environment import (
                        TRLEnvironment,
                        as_trl_environment,
                        trl_dataset,
                        trl_tokenizer,
)
from agent_gym.training_log import read_metrics

__all__ = [
    "AdaptiveHorizon", "ChatRenderer", "DriftReport", "EpisodeDrift", "Evaluation", "FixedHorizon",
    "GRPORun", "Generation", "Generator", "HFGenerator", "HorizonSchedule", "MetricsLogger",
    "MultiTurnRollout", "SFTRun", "ScriptedGenerator", "StepwiseHorizon", "TRLEnvironment", "TokenPolicy",
    "TokenSequences", "TrainerGenerator", "as_dataset", "as_schedule", "as_trl_environment",
    "async_grpo_config", "build_grpo_trainer", "check_drift", "debug_batch", "drift_metrics",
    "env_reward_func", "episode_stats", "evaluate", "grpo", "grpo_config", "launch_command",
    "load_checkpoint", "load_tokenizer", "lora_config", "mask_spans", "read_metrics", "sequences", "sft",
    "sft_config", "task_dataset", "tool_call_rates", "trackio_logs", "trackio_settings", "trl_dataset",
    "trl_reward_func", "trl_tokenizer", "valid_tool_call",
]

