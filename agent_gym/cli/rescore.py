"""`agent-gym rescore STORE --reward module:function`: score recorded trajectories again (a reward function
or an LLM judge) into a new store, without re-running them; the original store is never modified."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from agent_gym.envs import resolve
from agent_gym.errors import ConfigError
from agent_gym.rewards.judge import LLMJudge
from agent_gym.rewards.rubric import Rubric
from agent_gym.runner.rescore import rescore_store


def add_parser(sub: Any) -> None:
    rs = sub.add_parser("rescore", help="Score a store's trajectories again with another reward, into a new store.",
                        description="Recompute rewards on recorded trajectories without re-running them. Each new "
                                    "record says where its reward came from (metadata.rescored); the source store "
                                    "is never modified.")
    rs.add_argument("store", help="The trajectory store (.jsonl) to score again.")
    rs.add_argument("--reward", action="append", default=[], metavar="MODULE:FUNCTION",
                    help="A reward function (task, messages) -> float, as 'package.module:function' (repeatable: "
                         "the components are summed).")
    rs.add_argument("--judge-model", help="Score with an LLM judge served at --judge-base-url by this model.")
    rs.add_argument("--judge-base-url", help="The judge's OpenAI-compatible server (ending in /v1).")
    rs.add_argument("--judge-api-key", help="The judge server's key; default $OPENAI_API_KEY.")
    rs.add_argument("--success-threshold", type=float, default=1.0,
                    help="An episode succeeds when its new reward reaches this. Default 1.0.")
    rs.add_argument("--out", help="The new store; default <store>-rescored.jsonl next to the source.")
    rs.add_argument("--overwrite", action="store_true", help="Replace --out if it already holds records.")
    rs.set_defaults(handler=cmd_rescore)


def _reward(args: argparse.Namespace) -> tuple[Rubric, str]:
    funcs: dict[str, Any] = {}
    for spec in args.reward:
        if ":" not in spec:
            raise ConfigError(f"--reward takes 'package.module:function', got {spec!r}.")
        fn = resolve(spec, "--reward")
        if not callable(fn):
            raise ConfigError(f"--reward {spec} is not callable.")
        funcs[spec.rpartition(":")[2]] = fn
    if args.judge_model:
        from agent_gym.policies.openai import OpenAIPolicy

        judge_policy = OpenAIPolicy(args.judge_model, args.judge_base_url, args.judge_api_key, temperature=0.0)
        funcs["judge"] = LLMJudge(judge_policy)
    if not funcs:
        raise ConfigError("Say how to score: --reward package.module:function (repeatable) and/or --judge-model M "
                          "--judge-base-url URL.")
    return Rubric(funcs), " + ".join([*args.reward, *([f"judge:{args.judge_model}"] if args.judge_model else [])])


def cmd_rescore(args: argparse.Namespace) -> int:
    rubric, name = _reward(args)
    source = Path(args.store)
    out = Path(args.out) if args.out else source.with_name(f"{source.stem}-rescored.jsonl")
    result = rescore_store(source, out, rubric, reward_name=name, success_threshold=args.success_threshold,
                           overwrite=args.overwrite)
    print(f"{source} -> {out}: {result.report()} (reward: {name})", file=sys.stderr)
    print(out)
    return 0
