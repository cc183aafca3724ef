"""Trainer settings: CPU presets, the GPU/vLLM parameter sets (built and validated on CPU), accelerate configs,
the training CLI, and evaluate() with a policy."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent_gym.envs.calculator import CalculatorEnv, CalculatorExpert, make_tasks
from agent_gym.errors import ConfigError
from agent_gym.train import evaluate, grpo_config, launch_command, lora_config, sft_config
from agent_gym.train.__main__ import parser

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("trl")


def test_cpu_presets_are_the_checked_cpu_settings(tmp_path):
    config = grpo_config(tmp_path, max_steps=3)
    assert config.use_cpu and not config.bf16 and not config.gradient_checkpointing and config.report_to == []
    assert config.logging_steps == 1 and config.num_generations == 4 and config.max_steps == 3 and config.beta > 0
    assert config.generation_batch_size == 8 and config.per_device_train_batch_size == 2  # 2 groups, micro-batches of 2
    sft = sft_config(tmp_path, learning_rate=1e-4)
    assert sft.assistant_only_loss and sft.use_cpu and not sft.bf16 and sft.learning_rate == 1e-4
    lora = lora_config(r=8)
    assert lora.r == 8 and lora.task_type == "CAUSAL_LM"


@pytest.mark.parametrize("mode", ["colocate", "server"])
def test_gpu_vllm_parameter_sets_build_and_validate(tmp_path, mode):
    # bf16 is the GPU preset; this CPU machine cannot validate bf16, everything else is validated as on a GPU
    config = grpo_config(tmp_path, device="gpu", use_vllm=True, vllm_mode=mode, bf16=False)
    assert config.use_vllm and config.vllm_mode == mode and config.gradient_checkpointing and not config.use_cpu
    if mode == "colocate":
        assert 0 < config.vllm_gpu_memory_utilization < 1
    else:
        assert config.vllm_server_port == 8000 and config.vllm_server_timeout > 0
    assert config.generation_batch_size % config.num_generations == 0
    with pytest.raises(ValueError, match="bf16"):
        grpo_config(tmp_path, device="gpu")  # what a GPU-less machine says about the real GPU preset
    with pytest.raises(ConfigError, match="GPU"):
        grpo_config(tmp_path, use_vllm=True)
    with pytest.raises(ConfigError):
        grpo_config(tmp_path, device="tpu")


def test_accelerate_configs_and_launch_lines():
    for name, kind in (("multi_gpu", "MULTI_GPU"), ("zero2", "DEEPSPEED"), ("zero3", "DEEPSPEED")):
        data = yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text())
        assert data["distributed_type"] == kind and data["mixed_precision"] == "bf16" and data["num_processes"] >= 2
        if kind == "DEEPSPEED":
            assert data["deepspeed_config"]["zero_stage"] == int(name[-1])
        line = launch_command("-m agent_gym.train grpo --env calculator --out runs/g", config=name, num_processes=4)
        assert line.startswith(f"accelerate launch --config_file configs/{name}.yaml --num_processes 4 -m agent_gym.train")
    with pytest.raises(ConfigError, match="zero2"):
        launch_command("x.py", config="nope")
    assert "configs/multi_gpu.yaml" in (ROOT / "configs" / "README.md").read_text()


def test_training_cli_parses_the_documented_lines():
    args = parser().parse_args(["grpo", "--env", "agent_gym.envs.games.textcraft.env:TextCraftEnv", "--model", "m", "--out", "o",
                                "--device", "gpu", "--use-vllm", "--vllm-mode", "server", "--horizon", "5,10",
                                "--every", "50", "--set", "max_steps=3", "--set", "beta=0.0"])
    assert args.use_vllm and args.vllm_mode == "server" and args.horizon == "5,10" and args.set == ["max_steps=3", "beta=0.0"]


def test_evaluate_a_policy_counts_valid_tool_calls_and_success(tmp_path):
    result = evaluate(CalculatorEnv(), CalculatorExpert(), make_tasks(4), store=tmp_path / "e.jsonl", label="expert")
    summary = result.summary
    assert summary["episodes"] == 4 and summary["success_rate"] == 1.0 and summary["valid_tool_call_rate"] == 1.0
    assert summary["valid_tool_call_turns"] == 0.5 and summary["mean_turns"] == 2.0  # a call, then the answer
    assert result.row()["model"] == "expert"


def test_async_grpo_parameter_set_builds_and_validates(tmp_path):
    # TRL 1.16's asynchronous GRPO (trl.experimental.async_grpo): built and validated here, run only with a vLLM server
    from agent_gym.train import async_grpo_config
    from agent_gym.train.configs import ASYNC_GRPO

    config = async_grpo_config(tmp_path, bf16=False, vllm_server_base_url="http://10.0.0.2:8000")
    assert type(config).__name__ == "AsyncGRPOConfig"
    assert config.vllm_server_base_url == "http://10.0.0.2:8000" and config.gradient_checkpointing
    for key in ("max_staleness", "weight_sync_steps", "max_inflight_tasks", "num_generations", "max_completion_length",
                "max_tool_calling_iterations", "queue_maxsize", "request_timeout"):
        assert getattr(config, key) == ASYNC_GRPO[key]
    assert config.accelerator_config.split_batches and config.accelerator_config.dispatch_batches  # TRL's own rule
    with pytest.raises(ValueError, match="bf16"):
        async_grpo_config(tmp_path)  # the GPU preset, on a machine without a GPU
