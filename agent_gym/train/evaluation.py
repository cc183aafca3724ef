"""`evaluate(env, policy_or_checkpoint, tasks)`: before/after comparisons on held-out tasks.

A `Policy` (any OpenAI-compatible server, a scripted expert, `TransformersPolicy`) runs through
`run_rollouts`. A checkpoint — a model folder, a LoRA adapter folder, a loaded model, an `SFTRun` or
a `GRPORun` — is played in-process by the same engine, through a `TokenPolicy` over an `HFGenerator`
(token-in/token-out, as GRPO trains), all episodes batched per turn, greedy by default. Both give an `Evaluation` with the trajectories and
the headline numbers: success rate, mean reward, turns, valid tool calls (first turn and all turns).
A policy's episodes can run on a Ray cluster (`executor="auto"`, or a `RayExecutor`); give the environment and
the policy as `EnvSpec`/`PolicySpec` there, so each worker builds its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_gym.distributed.executor import Executor, InProcessExecutor
from agent_gym.distributed.specs import EnvSpec, PolicySpec
from agent_gym.env import Environment
from agent_gym.errors import ConfigError
from agent_gym.policies.base import Policy
from agent_gym.policies.hf_generator import HFGenerator
from agent_gym.policies.tokens import TokenPolicy
from agent_gym.runner.batch import RunResult, run_rollouts
from agent_gym.store import TrajectoryStore, summarize
from agent_gym.train.multiturn import valid_tool_call
from agent_gym.types import Task, Trajectory


@dataclass
class Evaluation:
    """Trajectories of an evaluation and their summary."""

    label: str
    """Name of what was evaluated (shown in tables and figures)."""
    trajectories: list[Trajectory]
    """One per task and sample."""
    run: RunResult | None = None
    """What the run reused, ran, retried (`run.report()`)."""

    @property
    def summary(self) -> dict[str, float]:
        return summarize(self.trajectories) | tool_call_rates(self.trajectories)

    def row(self) -> dict[str, Any]:
        """`{"model": label, **summary}` for a comparison table."""
        return {"model": self.label, **self.summary}


def tool_call_rates(trajectories: Sequence[Trajectory]) -> dict[str, float]:
    """Valid tool calls: the share of episodes whose first turn is one, and the share of all turns."""
    turns = [(t, i) for t in trajectories for i in range(t.num_turns)]
    return {
        "valid_tool_call_rate": sum(valid_tool_call(t) for t in trajectories) / max(len(trajectories), 1),
        "valid_tool_call_turns": sum(valid_tool_call(t, i) for t, i in turns) / max(len(turns), 1),
    }


def evaluate(
    env: Environment | EnvSpec,
    policy_or_checkpoint: Any,
    tasks: Sequence[Task],
    *,
    n: int = 1,
    max_turns: int = 10,
    temperature: float = 0.0,
    max_turn_tokens: int = 128,
    max_completion_tokens: int = 1024,
    batch_size: int = 64,
    store: TrajectoryStore | str | Path | None = None,
    label: str | None = None,
    tool_format: str = "native",
    seed: int = 0,
    progress: bool = True,
    executor: Executor | str | None = None,
) -> Evaluation:
    """Play `n` episodes of every task with a policy or a checkpoint and summarize them.

    `temperature`, `max_turn_tokens`, `max_completion_tokens` and `batch_size` apply to checkpoints;
    `seed` seeds sampling (checkpoints) or the episodes (policies). `progress` shows a progress bar.
    `executor` plays a policy's episodes elsewhere (a Ray address such as `"auto"`, or a `RayExecutor`),
    `batch_size` of them at once (8 in this process). A checkpoint is played in this process.
    """
    tasks = list(tasks)
    store = TrajectoryStore(store) if isinstance(store, (str, Path)) else store
    if isinstance(policy_or_checkpoint, (Policy, PolicySpec)):
        remote = executor is not None and not isinstance(executor, InProcessExecutor)
        run = run_rollouts(env, policy_or_checkpoint, tasks, n=n, max_turns=max_turns, store=store,
                           seed=seed, progress=progress, executor=executor,
                           max_concurrency=batch_size if remote else 8)
        name = getattr(policy_or_checkpoint, "name", None) or (run[0].policy if run else "policy")
        return Evaluation(label or name, list(run), run)
    if executor is not None and not isinstance(executor, InProcessExecutor):
        raise ConfigError("A checkpoint is evaluated in this process; to evaluate it on a Ray cluster, serve it "
                          "(e.g. `trl vllm-serve`) and pass PolicySpec('agent_gym.policies.openai:OpenAIPolicy', "
                          "{'model': ..., 'base_url': ...}) instead.")
    if isinstance(env, EnvSpec):
        env = env.build()
    model, tokenizer, name = load_checkpoint(policy_or_checkpoint)
    import torch

    torch.manual_seed(seed)
    label = label or Path(name).name
    policy = TokenPolicy(
        HFGenerator(model, tokenizer, temperature=temperature, batch_size=batch_size, turn_cache=True), tokenizer,
        name="evaluate",
        model=label, sampling={"temperature": temperature, "seed": seed, "checkpoint": checkpoint_id(name)},
        max_turn_tokens=max_turn_tokens, max_completion_tokens=max_completion_tokens,
        tool_format=tool_format)  # type: ignore[arg-type]
    run = run_rollouts(env, policy, tasks, n=n, max_turns=max_turns, store=store, progress=progress,
                       max_concurrency=max(1, len(tasks) * n))
    return Evaluation(label, list(run), run)


def checkpoint_id(name: str) -> str:
    """What identifies a checkpoint's weights in a job fingerprint: a model folder's file names, sizes and
    modification times; a model held in memory (it may have trained since) a fresh id each call."""
    import hashlib
    import uuid

    path = Path(name)
    if not path.is_dir():
        return uuid.uuid4().hex
    entries = sorted((str(f.relative_to(path)), f.stat().st_size, f.stat().st_mtime_ns) for f in path.rglob("*") if f.is_file())
    return hashlib.sha256(repr(entries).encode()).hexdigest()[:16]


def load_checkpoint(checkpoint: Any) -> tuple[Any, Any, str]:
    """(model in eval mode, tokenizer, name) of a folder, an adapter folder, a loaded model or a run."""
    from agent_gym.train.grpo_trainer import GRPORun, load_tokenizer, resolve_model
    from agent_gym.train.sft_trainer import SFTRun

    if isinstance(checkpoint, SFTRun):
        checkpoint = checkpoint.model_dir
    if isinstance(checkpoint, GRPORun):
        return checkpoint.trainer.model.eval(), checkpoint.trainer.processing_class, str(checkpoint.output_dir)
    checkpoint = resolve_model(checkpoint)
    if isinstance(checkpoint, str):
        import torch

        path = Path(checkpoint)
        if not path.is_dir():
            raise ConfigError(f"No model folder at {path}.")
        tokenizer = load_tokenizer(path)
        if (path / "adapter_config.json").exists():
            from peft import AutoPeftModelForCausalLM

            model = AutoPeftModelForCausalLM.from_pretrained(path, dtype=torch.float32).merge_and_unload()
        else:
            from transformers import AutoModelForCausalLM

            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        return model.eval(), tokenizer, str(path)
    if hasattr(checkpoint, "generate"):
        return checkpoint.eval(), load_tokenizer(checkpoint), getattr(checkpoint, "name_or_path", "model")
    raise ConfigError(f"evaluate takes a Policy, a model folder, a loaded model, an SFTRun or a GRPORun; "
                      f"got {type(checkpoint).__name__}.")
