"""The golden runs: what the code did before the layout change, recorded so a test can prove it still does.

`python tests/golden/golden_record.py [--only NAME]` (re)writes `tests/golden/*.json`; the test
`test_golden.py` plays the same runs and compares. The runs: 20 episodes of every built-in environment
with its expert (rewards, success, metrics, messages) and 3 multi-turn GRPO steps on the embedded model
with fixed seeds (losses, rewards, generated token ids, env masks).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
EPISODES = 20

# Fields that differ between two runs of the same code (clocks, random ids): never compared.
VOLATILE = {"id", "started_at", "seconds", "policy_seconds", "queue_seconds", "env_seconds"}


def _experts() -> dict[str, Any]:
    """Built-in name -> (environment factory, tasks, expert factory)."""
    from agent_gym.envs.calculator import CalculatorEnv, CalculatorExpert
    from agent_gym.envs.code.math_python import MathPythonEnv, MathPythonExpert
    from agent_gym.envs.code.python_code import PythonCodeEnv, PythonCodeExpert
    from agent_gym.envs.code.shell import ShellEnv, ShellExpert
    from agent_gym.envs.dialogue.customer_service import (
        CustomerServiceEnv,
        OraclePolicy,
        domain_tasks,
        is_replayable,
    )
    from agent_gym.envs.games.babyai import BabyAIEnv
    from agent_gym.envs.games.scienceworld import ScienceWorldEnv
    from agent_gym.envs.games.textcraft import TextCraftEnv
    from agent_gym.envs.games.textworld import TextWorldEnv

    def game(cls):  # text games carry their own expert
        return lambda: (cls(), lambda env, tasks: env.expert())

    def with_tasks(cls, expert):
        return lambda: (cls(), lambda env, tasks: expert(tasks))

    def service(domain):
        def make():
            env = CustomerServiceEnv(domain)
            return env, lambda env, tasks: OraclePolicy()
        make.tasks = lambda env: [t for t in domain_tasks(domain) if is_replayable(t)][:EPISODES]
        return make

    return {
        "calculator": lambda: (CalculatorEnv(), lambda env, tasks: CalculatorExpert()),
        "shell": with_tasks(ShellEnv, ShellExpert),
        "python_code": with_tasks(PythonCodeEnv, PythonCodeExpert),
        "math_python": with_tasks(MathPythonEnv, MathPythonExpert),
        "babyai": game(BabyAIEnv),
        "textcraft": game(TextCraftEnv),
        "textworld": game(TextWorldEnv),
        "scienceworld": game(ScienceWorldEnv),
        "customer_service_retail": service("retail"),
        "customer_service_airline": service("airline"),
    }


def available(name: str) -> bool:
    """Whether this machine can run the environment (ScienceWorld needs Java and its package)."""
    if name == "scienceworld":
        return importlib.util.find_spec("scienceworld") is not None and shutil.which("java") is not None
    return True


def strip(value: Any) -> Any:
    """`value` without the volatile fields, at any depth."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def expert_run(name: str) -> list[dict[str, Any]]:
    """20 episodes of built-in environment `name` with its expert, as stripped trajectory dicts."""
    from agent_gym import run_rollouts

    make = _experts()[name]
    env, expert = make()
    tasks = make.tasks(env) if hasattr(make, "tasks") else env.default_tasks()[:EPISODES]
    trajectories = run_rollouts(env, expert(env, tasks), tasks, max_concurrency=2, seed=0, progress=False)
    return [strip(t.to_dict()) for t in trajectories]


def grpo_run() -> dict[str, Any]:
    """3 multi-turn GRPO steps (LoRA, TextCraft, fixed seeds) on the embedded model."""
    import torch

    from agent_gym.envs.games.textcraft import TextCraftEnv, make_tasks
    from agent_gym.local import local_model_dir
    from agent_gym.train import StepwiseHorizon, build_grpo_trainer, grpo_config, lora_config

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        config = grpo_config(Path(tmp) / "grpo", max_steps=3, num_generations=2, per_device_train_batch_size=4,
                             gradient_accumulation_steps=1, max_completion_length=80, seed=0)
        trainer, _, _ = build_grpo_trainer(
            TextCraftEnv(), local_model_dir(), make_tasks(depths=(1,), seeds=range(2), distractors=0), config,
            horizon=StepwiseHorizon([1, 2], every=1), peft_config=lora_config(), max_turn_tokens=20)
        steps: list[dict[str, Any]] = []
        play_batch = trainer.rollout_func

        def recording(prompts, trainer_):
            out = play_batch(prompts, trainer_)
            steps.append({
                "completion_ids": [list(map(int, ids)) for ids in out["completion_ids"]],
                "env_mask": [list(map(int, mask)) for mask in out["env_mask"]],
                "rewards": [t.reward for t in out["trajectory"]],
                "success": [t.success for t in out["trajectory"]],
            })
            return out

        trainer.rollout_func = recording
        trainer.train()
        losses = [round(float(line["loss"]), 6) for line in trainer.state.log_history if "loss" in line]
    return {"steps": steps, "losses": losses}


def path_of(name: str) -> Path:
    return HERE / f"{name}.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="Record only this run (an environment name or 'grpo').")
    args = parser.parse_args()
    names = args.only or [*_experts(), "grpo"]
    for name in names:
        if name != "grpo" and not available(name):
            print(f"skip {name}: not available here")
            continue
        record = grpo_run() if name == "grpo" else expert_run(name)
        path_of(name).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path_of(name)}")


if __name__ == "__main__":
    main()
