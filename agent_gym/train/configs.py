"""Trainer settings for this CPU machine and for GPUs (vLLM colocate or server mode, multi-GPU).

`grpo_config(output_dir, device=..., use_vllm=..., vllm_mode=...)` and `sft_config(...)` return plain
`trl.GRPOConfig` / `trl.SFTConfig` objects; any field can be overridden by keyword.

* `device="cpu"`: `use_cpu=True`, fp32, no gradient checkpointing, tiny batches (the checked CPU
  settings for the embedded 135M model).
* `device="gpu"`: bf16, gradient checkpointing, and with `use_vllm=True` TRL's vLLM integration:
  `vllm_mode="colocate"` runs vLLM inside the training process (shares the GPU; set
  `vllm_gpu_memory_utilization`), `vllm_mode="server"` talks to `trl vllm-serve --model <model>` on
  another GPU (`vllm_server_base_url` or host/port). The multi-turn rollout uses the same engine.

Scale-out across GPUs is `accelerate launch --config_file configs/<file>.yaml your_script.py`;
`launch_command()` writes that line, and `configs/README.md` documents the files (DDP, ZeRO-2/3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent_gym.errors import ConfigError
from agent_gym.paths import configs_dir

CPU_GRPO: dict[str, Any] = {
    "use_cpu": True, "bf16": False, "activation_checkpointing": False, "report_to": "none", "logging_steps": 1,
    "save_strategy": "no", "num_generations": 4, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 4,
    "max_completion_length": 256,
    "temperature": 1.0, "beta": 0.02, "learning_rate": 2e-5, "max_steps": 10, "dataloader_num_workers": 0,
}
"""GRPO on this CPU machine: LoRA on the embedded model, 2 prompts x 4 episodes per step, in micro-batches
of 2 sequences (fp32 activations of 8 sequences of ~600 tokens take over 20 GB without checkpointing)."""

GPU_GRPO: dict[str, Any] = {
    "bf16": True, "activation_checkpointing": True, "report_to": "none", "logging_steps": 1, "save_strategy": "steps",
    "save_steps": 100, "num_generations": 8, "per_device_train_batch_size": 16, "max_completion_length": 2048,
    "temperature": 1.0, "beta": 0.02, "learning_rate": 1e-6, "max_steps": 500,
}
"""GRPO on a GPU: bf16, gradient checkpointing, 2 prompts x 8 episodes per device and step."""

VLLM_COLOCATE: dict[str, Any] = {"use_vllm": True, "vllm_mode": "colocate", "vllm_gpu_memory_utilization": 0.3,
                                 "vllm_enable_sleep_mode": False}
"""vLLM in the training process, sharing the GPU."""

VLLM_SERVER: dict[str, Any] = {"use_vllm": True, "vllm_mode": "server", "vllm_server_host": "0.0.0.0",
                               "vllm_server_port": 8000, "vllm_server_timeout": 240.0}
"""vLLM behind `trl vllm-serve --model <model> [--tensor-parallel-size N]` on other GPUs."""

ASYNC_GRPO: dict[str, Any] = {
    "bf16": True, "activation_checkpointing": True, "report_to": "none", "logging_steps": 1, "save_strategy": "steps",
    "save_steps": 100, "num_generations": 8, "per_device_train_batch_size": 16, "max_completion_length": 2048,
    "temperature": 1.0, "learning_rate": 1e-6, "max_steps": 500, "max_tool_calling_iterations": 10,
    "max_staleness": 4, "weight_sync_steps": 1, "max_inflight_tasks": -1, "queue_maxsize": 1024,
    "vllm_server_base_url": "http://localhost:8000", "vllm_server_timeout": 240.0, "request_timeout": 600,
}
"""TRL's asynchronous GRPO (`trl.experimental.async_grpo`): generation on a `trl vllm-serve` server on its own
GPU(s) runs ahead of training; samples more than `max_staleness` weight versions old are dropped, weights
are pushed to the server every `weight_sync_steps` steps, and `max_inflight_tasks=-1` lets TRL size the
number of concurrent rollouts (`max_staleness x batch x accumulation x processes`)."""

CPU_SFT: dict[str, Any] = {
    "use_cpu": True, "bf16": False, "activation_checkpointing": False, "report_to": "none", "logging_steps": 1,
    "save_strategy": "no", "per_device_train_batch_size": 2, "gradient_accumulation_steps": 4, "num_train_epochs": 1,
    "learning_rate": 2e-4,
    "assistant_only_loss": True, "max_length": 1024, "dataloader_num_workers": 0,
}
"""SFT on this CPU machine: batches of 8 as 4 micro-batches of 2 (LoRA learning rate; ~2e-5 for a full fine-tune)."""

GPU_SFT: dict[str, Any] = {
    "bf16": True, "activation_checkpointing": True, "report_to": "none", "logging_steps": 10, "save_strategy": "epoch",
    "per_device_train_batch_size": 16, "num_train_epochs": 2, "learning_rate": 2e-5, "assistant_only_loss": True,
    "max_length": 4096,
}
"""SFT on a GPU (full fine-tune learning rate)."""


def grpo_config(output_dir: str | Path, *, device: str = "cpu", use_vllm: bool = False, vllm_mode: str = "colocate",
                **overrides: Any) -> Any:
    """A `trl.GRPOConfig` with the settings of `device` (`cpu` or `gpu`) and optional vLLM, then `overrides`."""
    from trl import GRPOConfig

    settings = {**_preset(device, CPU_GRPO, GPU_GRPO), **_vllm(device, use_vllm, vllm_mode), **overrides}
    return GRPOConfig(output_dir=str(output_dir), **settings)


def async_grpo_config(output_dir: str | Path, **overrides: Any) -> Any:
    """A `trl.experimental.async_grpo.AsyncGRPOConfig` with the `ASYNC_GRPO` settings, then `overrides`.

    It needs a GPU and a vLLM server (`trl vllm-serve --model <model>`); on this CPU machine it is built and
    validated only (`bf16=False` to validate here). See `configs/README.md` for the launch lines.
    """
    from trl.experimental.async_grpo import AsyncGRPOConfig

    return AsyncGRPOConfig(output_dir=str(output_dir), **{**ASYNC_GRPO, **overrides})


def sft_config(output_dir: str | Path, *, device: str = "cpu", **overrides: Any) -> Any:
    """A `trl.SFTConfig` with the settings of `device`, then `overrides`."""
    from trl import SFTConfig

    return SFTConfig(output_dir=str(output_dir), **{**_preset(device, CPU_SFT, GPU_SFT), **overrides})


def lora_config(r: int = 16, alpha: int = 32, dropout: float = 0.05, target_modules: str | list[str] = "all-linear") -> Any:
    """A causal-LM `peft.LoraConfig` (r=16 on all linear layers: the checked CPU setting)."""
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules, task_type="CAUSAL_LM")


def launch_command(script: str, *, config: str = "multi_gpu", num_processes: int | None = None, args: str = "") -> str:
    """The `accelerate launch` line for `script` with `configs/<config>.yaml` (multi_gpu, zero2, zero3).

    In a checkout the file is named as the docs write it, `configs/<config>.yaml` (run from the
    project's root); in an installed package, by its full path inside the package.
    """
    folder = configs_dir()
    path = folder / f"{config}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ConfigError(f"No accelerate config {config!r}; the configs are {known}.")
    installed = (folder.parent / "__init__.py").is_file()  # agent_gym/configs, not <checkout>/configs
    shown = path if installed else path.relative_to(folder.parent)
    processes = f" --num_processes {num_processes}" if num_processes else ""
    return f"accelerate launch --config_file {shown}{processes} {script} {args}".strip()


def _preset(device: str, cpu: dict[str, Any], gpu: dict[str, Any]) -> dict[str, Any]:
    if device not in ("cpu", "gpu"):
        raise ConfigError(f"device must be 'cpu' or 'gpu', got {device!r}.")
    return dict(cpu if device == "cpu" else gpu)


def _vllm(device: str, use_vllm: bool, mode: str) -> dict[str, Any]:
    if not use_vllm:
        return {}
    if mode not in ("colocate", "server"):
        raise ConfigError(f"vllm_mode must be 'colocate' or 'server', got {mode!r}.")
    if device == "cpu":
        raise ConfigError("vLLM needs a GPU: use device='gpu' with use_vllm=True (or use_vllm=False on CPU).")
    return dict(VLLM_COLOCATE if mode == "colocate" else VLLM_SERVER)
