"""`sft(dataset, model, config)`: supervised fine-tuning with TRL on synthesized trajectories (the warm start).

    result = synthesize(TextCraftEnv(), TextCraftEnv().expert(), tasks, out="runs/synth")
    run = sft(result, None, sft_config("runs/sft"), peft_config=lora_config())
    run.model_dir     # a full model folder (LoRA merged) that `grpo` and `evaluate` load

The dataset is what synthesis exports for TRL (`messages` with native `tool_calls`, `tools` as JSON):
a `SynthesisResult`, a `datasets.Dataset`, or a list of such rows. With `assistant_only_loss=True`
(the CPU preset) only the assistant turns are learned; the embedded model's chat template (TRL's
`qwen2_5_training.jinja`) marks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_gym.errors import ConfigError
from agent_gym.train.grpo_trainer import load_tokenizer, resolve_model
from agent_gym.train.metrics import MetricsLogger


@dataclass
class SFTRun:
    """What an `sft` call produced."""

    trainer: Any
    """The `trl.SFTTrainer`."""
    model_dir: Path
    """A full model folder with its tokenizer: the merged model when LoRA was used."""
    adapter_dir: Path | None
    """The LoRA adapter, when `peft_config` was given."""
    metrics: dict[str, Any]
    """`train()`'s metrics (loss, runtime …)."""
    metrics_path: Path | None = None
    """The per-step metrics JSONL file (written by the main process)."""


def as_dataset(data: Any) -> Any:
    """A `datasets.Dataset` from a SynthesisResult, a Dataset or a list of `hf_row` rows."""
    from datasets import Dataset

    if hasattr(data, "dataset") and callable(data.dataset):
        return data.dataset()
    if isinstance(data, Dataset):
        return data
    if isinstance(data, Sequence) and data and isinstance(data[0], dict):
        from agent_gym.synth import to_hf_dataset

        return to_hf_dataset(data)
    raise ConfigError("sft takes a SynthesisResult, a datasets.Dataset or a non-empty list of rows with messages/tools.")


def sft(dataset: Any, model: Any, config: Any, *, peft_config: Any = None, merge: bool = True,
        processing_class: Any = None, callbacks: Sequence[Any] = (), metrics_path: str | Path | None = None) -> SFTRun:
    """Fine-tune `model` (a folder, a loaded model, or None for the embedded model) on `dataset`.

    Saves the result to `config.output_dir/model` (full weights; with LoRA and `merge`, the merged
    model) and, with LoRA, the adapter to `config.output_dir/adapter`. Every trainer log is appended to
    `metrics_path` (default `config.output_dir/metrics.jsonl`). Under `accelerate launch` each process
    trains on its shard of every batch and the main process alone writes the files.
    """
    from trl import SFTConfig, SFTTrainer

    if not isinstance(config, SFTConfig):
        raise ConfigError("config must be a trl.SFTConfig; build one with agent_gym.train.sft_config(output_dir, ...).")
    model = resolve_model(model)
    tokenizer = processing_class or load_tokenizer(model)
    out = Path(config.output_dir)
    logger = MetricsLogger(metrics_path or out / "metrics.jsonl")
    trainer = SFTTrainer(model=model, args=config, train_dataset=as_dataset(dataset), processing_class=tokenizer,
                         peft_config=peft_config, callbacks=[logger, *callbacks])
    metrics = dict(trainer.train().metrics)
    main = trainer.accelerator.is_main_process
    adapter_dir = out / "adapter" if peft_config is not None else None
    model_dir = adapter_dir if adapter_dir is not None and not merge else out / "model"
    if main:
        trained = trainer.model
        if adapter_dir is not None:
            trained.save_pretrained(adapter_dir)
            tokenizer.save_pretrained(adapter_dir)
            if merge:
                trained = trained.merge_and_unload()
        if model_dir != adapter_dir:
            trained.save_pretrained(model_dir)
            tokenizer.save_pretrained(model_dir)
    trainer.accelerator.wait_for_everyone()
    return SFTRun(trainer, model_dir, adapter_dir, metrics, logger.path)
