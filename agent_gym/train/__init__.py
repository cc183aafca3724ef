"""Training with TRL: SFT warm start, multi-turn GRPO over agent_gym environments, turn-horizon schedules.

* `sft(dataset, model, config)` — supervised fine-tuning on synthesized trajectories.
* `grpo(env, model, tasks, config, horizon=…)` — multi-turn GRPO (TRL's `rollout_func`), environment
  tokens masked out of the loss, token-in/token-out; `train=False` is the debug mode.
* `evaluate(env, policy_or_checkpoint, tasks)` — before/after comparisons.
* `FixedHorizon`, `StepwiseHorizon`, `AdaptiveHorizon` — turn limits per training step.
* `grpo_config`, `sft_config`, `lora_config` — CPU and GPU/vLLM settings as TRL/PEFT configs.

TRL, transformers and PEFT are imported when a function needs them, so `import agent_gym.train` is light.
(`grpo`, `sft` and `evaluate` name both a function and its module: the package attribute is the function;
`from agent_gym.train.grpo import ...` reaches the module.)
"""

from .evaluate import Evaluation, evaluate, load_checkpoint, summarize
from .generation import HFGenerator, TrainerGenerator
from .gpu import grpo_config, launch_command, lora_config, sft_config
from .grpo import GRPORun, build_grpo_trainer, debug_batch, grpo, load_tokenizer, task_dataset
from .horizon import AdaptiveHorizon, FixedHorizon, HorizonSchedule, StepwiseHorizon, as_schedule
from .metrics import LiveMetrics, MetricsLogger, metrics_figure, read_metrics
from .multiturn import (
                        ChatRenderer,
                        Episode,
                        Generation,
                        Generator,
                        ScriptedGenerator,
                        mask_spans,
                        play,
                        to_trajectory,
                        valid_tool_call,
)
from .rollout_func import MultiTurnRollout, env_reward_func, episode_stats, trl_reward_func
from .sft import SFTRun, as_dataset, sft

__all__ = [
    "AdaptiveHorizon", "ChatRenderer", "Episode", "Evaluation", "FixedHorizon", "GRPORun", "Generation", "Generator",
    "HFGenerator", "HorizonSchedule", "LiveMetrics", "MetricsLogger", "MultiTurnRollout", "SFTRun", "ScriptedGenerator",
    "StepwiseHorizon", "TrainerGenerator", "as_dataset", "as_schedule", "build_grpo_trainer", "debug_batch",
    "env_reward_func", "episode_stats", "evaluate", "grpo", "grpo_config", "launch_command", "load_checkpoint",
    "load_tokenizer", "lora_config", "mask_spans", "metrics_figure", "play", "read_metrics", "sft", "sft_config", "summarize",
    "task_dataset", "to_trajectory", "trl_reward_func", "valid_tool_call",
]

