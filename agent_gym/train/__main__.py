"""Command line for training, also the entry point `accelerate launch` runs on many GPUs.

    python -m agent_gym.train sft  --env calculator --out runs/sft
    python -m agent_gym.train grpo --env agent_gym.envs.games.textcraft.env:TextCraftEnv --model runs/sft/model \\
        --out runs/grpo --horizon 3,5 --every 50 --set max_steps=100 --set num_generations=8
    accelerate launch --config_file configs/zero2.yaml -m agent_gym.train grpo ... --device gpu --use-vllm
    accelerate launch --multi_gpu --num_processes 2 -m agent_gym.train grpo ...   # CPU: 2 processes, gloo

`sft` synthesizes expert data with the environment's expert (`env.expert()`, or `--expert module:Class`)
and fine-tunes on it; `grpo` trains on the environment's tasks (or `--tasks file.jsonl`). `--set k=v`
overrides any `GRPOConfig`/`SFTConfig` field (values parsed as Python literals when they parse).
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from typing import Any

from agent_gym.envs import make_env, resolve
from agent_gym.tasks import load_tasks


def _value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _overrides(pairs: list[str]) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set takes key=value, got {pair!r}")
        out[key.strip()] = _value(value.strip())
    return out


def _main_process_first(device: str) -> Any:
    """`accelerate`'s main-process-first context when launched with several processes, else a no-op."""
    import contextlib
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return contextlib.nullcontext()
    from accelerate import PartialState

    return PartialState(cpu=device == "cpu").main_process_first()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m agent_gym.train", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("sft", "grpo"):
        s = sub.add_parser(name)
        s.add_argument("--env", required=True, help="built-in name or module:Class")
        s.add_argument("--model", default=None, help="model folder (default: the embedded model)")
        s.add_argument("--tasks", default=None, help="task file (default: the environment's tasks)")
        s.add_argument("--limit", type=int, default=None, help="use the first N tasks")
        s.add_argument("--out", required=True, help="output_dir")
        s.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
        s.add_argument("--no-lora", action="store_true", help="train all weights")
        s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config field override")
    s = sub.choices["sft"]
    s.add_argument("--expert", default=None, help="module:Class of the teacher policy (default: env.expert())")
    g = sub.choices["grpo"]
    g.add_argument("--horizon", default="10", help="turn limit, or comma-separated rounds (ScalingInter-RL)")
    g.add_argument("--every", type=int, default=1, help="steps per horizon round")
    g.add_argument("--use-vllm", action="store_true")
    g.add_argument("--vllm-mode", choices=("colocate", "server"), default="colocate")
    g.add_argument("--max-turn-tokens", type=int, default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    from agent_gym.train import grpo, grpo_config, lora_config, sft, sft_config
    from agent_gym.train.horizon import as_schedule

    args = parser().parse_args(argv)
    env = make_env(args.env)
    tasks = load_tasks(args.tasks) if args.tasks else env.default_tasks()
    tasks = tasks[: args.limit] if args.limit else tasks
    peft = None if args.no_lora else lora_config()
    overrides = _overrides(args.set)
    if args.command == "sft":
        from agent_gym.synth import synthesize

        if not args.expert and not hasattr(env, "expert"):
            raise SystemExit(f"{env.name} has no expert(); pass --expert module:Class (a Policy).")
        teacher = resolve(args.expert)() if args.expert else env.expert()  # type: ignore[attr-defined]
        with _main_process_first(args.device):  # under accelerate: one writer; the others then reuse its episodes
            data = synthesize(env, teacher, tasks, out=f"{args.out}/data", progress=False)
        run = sft(data, args.model, sft_config(args.out, device=args.device, **overrides), peft_config=peft)
        print(json.dumps({"model_dir": str(run.model_dir), **run.metrics}, default=str))
        return 0
    rounds = [int(x) for x in args.horizon.split(",")]
    horizon = as_schedule(rounds[0] if len(rounds) == 1 else rounds, every=args.every)
    config = grpo_config(args.out, device=args.device, use_vllm=args.use_vllm, vllm_mode=args.vllm_mode, **overrides)
    result = grpo(env, args.model, tasks, config, horizon=horizon, peft_config=peft, max_turn_tokens=args.max_turn_tokens)
    print(json.dumps({"output_dir": str(result.output_dir), "metrics": str(result.metrics_path)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
