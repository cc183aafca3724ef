"""The `agent-gym` command line: `eval` (run an environment against a model), `run` (a notebook
headlessly with papermill) and `serve` (the embedded local model)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from agent_gym.envs import make_env, resolve
from agent_gym.errors import AgentGymError, ConfigError
from agent_gym.policies.base import Policy
from agent_gym.policies.openai import OpenAIPolicy
from agent_gym.runner.batch import run_rollouts
from agent_gym.store import summarize
from agent_gym.tasks import load_tasks


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agent-gym", description="Environments, rollouts, data and training for LLM agents.")
    sub = parser.add_subparsers(dest="command", required=True)

    ev = sub.add_parser("eval", help="Run an environment's tasks against a model and store the trajectories.")
    ev.add_argument("env", help="Built-in name (e.g. calculator) or 'package.module:Class'.")
    ev.add_argument("--tasks", help="Task file (.json, .jsonl, .parquet); default: the environment's own tasks.")
    ev.add_argument("--task-id", action="append", default=[], help="Run only this task id (repeatable).")
    ev.add_argument("--limit", type=int, help="Run only the first N tasks.")
    ev.add_argument("--model", help="Model name for an OpenAI-compatible server.")
    ev.add_argument("--base-url", help="Server URL ending in /v1 (vLLM, DeepSeek, …); default: OpenAI.")
    ev.add_argument("--api-key", help="API key; default $OPENAI_API_KEY.")
    ev.add_argument("--tool-format", choices=["native", "text"], default="native")
    ev.add_argument("--policy", help="Instead of --model: a policy as 'package.module:Class' (e.g. an expert).")
    ev.add_argument("--temperature", type=float)
    ev.add_argument("--max-tokens", type=int)
    ev.add_argument("-n", "--samples", type=int, default=1, help="Samples per task.")
    ev.add_argument("-c", "--concurrency", type=int, default=8)
    ev.add_argument("--max-turns", type=int, help="Turn limit per episode; default: the environment's own.")
    ev.add_argument("--seed", type=int)
    ev.add_argument("--out", default=None, help="Trajectory store (.jsonl); default runs/eval/<env>-<time>.jsonl.")
    ev.add_argument("--json", action="store_true", help="Print the summary as JSON.")
    ev.add_argument("--keep-failed", action="store_true",
                    help="Re-running into the same --out: keep failed episodes instead of retrying them.")
    ev.add_argument("--rescore", action="store_true",
                    help="Re-running into the same --out after a reward change: score the recorded episodes "
                         "again instead of replaying them (where the environment allows it).")

    run = sub.add_parser("run", help="Execute a notebook headlessly with papermill into runs/<notebook>/<time>/.")
    run.add_argument("notebook")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    run.add_argument("--out", default="runs")

    sub.add_parser("serve", help="Serve the embedded local model on loopback until Ctrl-C.")
    sub.add_parser("report", help="Write a static, offline HTML report of trajectory stores (see `agent-gym report -h`).",
                   add_help=False)
    return parser


def make_policy(args: argparse.Namespace) -> Policy:
    """The policy an `eval` invocation asks for."""
    if args.policy and args.model:
        raise ConfigError("Give either --model (an OpenAI-compatible server) or --policy (module:Class), not both.")
    if args.policy:
        policy = resolve(args.policy)()
        if not isinstance(policy, Policy):
            raise ConfigError(f"{args.policy} is not a Policy (needs name, model, sampling and async act()).")
        return policy
    if not args.model:
        raise ConfigError("Say which model to run: --model NAME [--base-url URL], or --policy module:Class.")
    sampling = {k: v for k, v in (("temperature", args.temperature), ("max_tokens", args.max_tokens)) if v is not None}
    return OpenAIPolicy(args.model, args.base_url, args.api_key, tool_format=args.tool_format, **sampling)


def cmd_eval(args: argparse.Namespace) -> int:
    env = make_env(args.env)
    tasks = load_tasks(args.tasks) if args.tasks else env.default_tasks()
    if not tasks:
        raise ConfigError(f"{args.env} has no default tasks; pass --tasks FILE.")
    if args.task_id:
        wanted = set(args.task_id)
        missing = wanted - {t.id for t in tasks}
        if missing:
            raise ConfigError(f"No task with id {sorted(missing)}; ids look like {tasks[0].id!r}.")
        tasks = [t for t in tasks if t.id in wanted]
    tasks = tasks[: args.limit] if args.limit else tasks
    out = args.out or f"runs/eval/{env.name}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    policy = make_policy(args)
    started = time.perf_counter()
    trajectories = run_rollouts(
        env, policy, tasks, n=args.samples, max_concurrency=args.concurrency, store=out,
        max_turns=args.max_turns, seed=args.seed, retry_failed=not args.keep_failed, rescore=args.rescore,
    )
    summary = summarize(trajectories) | {f"run_{k}": v for k, v in trajectories.counts.items()} | {
        "wall_seconds": round(time.perf_counter() - started, 3), "store": out}
    if not args.json:
        print(f"{env.name}: {trajectories.report()}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:>14}: {value:.3f}" if isinstance(value, float) else f"{key:>14}: {value}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from agent_gym.cli.notebook_run import parse_value, run_notebook

    parameters = {name: parse_value(value) for name, value in args.parameter}
    run_dir = run_notebook(args.notebook, parameters, out_root=args.out)
    print(run_dir)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from agent_gym.local.__main__ import main as local_main

    return local_main(["serve"]) or 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:  # its own parser: python -m agent_gym.widgets.export.report
        from agent_gym.widgets.export.report import main as report_main

        return report_main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    command = {"eval": cmd_eval, "run": cmd_run, "serve": cmd_serve}[args.command]
    try:
        return command(args)
    except AgentGymError as exc:
        print(f"agent-gym {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
