"""`agent-gym eval`: run an environment's tasks against a model, store the trajectories, print what
happened with intervals, and exit non-zero when the run should fail CI. `--ray auto` (or a cluster address)
plays the episodes on a Ray cluster's workers; the store stays with this process."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from agent_gym.distributed.specs import EnvSpec, PolicySpec
from agent_gym.envs import make_env
from agent_gym.errors import ConfigError, PolicyError
from agent_gym.policies.base import Policy
from agent_gym.runner.batch import RunResult, run_rollouts
from agent_gym.stats import RunStats, run_stats
from agent_gym.store import summarize
from agent_gym.tasks import load_tasks


def add_parser(sub: Any) -> None:
    ev = sub.add_parser("eval", help="Run an environment's tasks against a model and store the trajectories.",
                        description="Run an environment's tasks against a model, store the trajectories, and print "
                                    "the results with intervals. Exit codes: 0 passed, 1 the run failed its "
                                    "thresholds or the model server is unreachable, 2 bad arguments.")
    ev.add_argument("env", help="Built-in name (e.g. calculator) or 'package.module:Class'.")
    ev.add_argument("--tasks", help="Task file (.json, .jsonl, .parquet); default: the environment's own tasks.")
    ev.add_argument("--task-id", action="append", default=[], help="Run only this task id (repeatable).")
    ev.add_argument("--limit", type=int, help="Run only the first N tasks.")
    ev.add_argument("--model", help="Model name for an OpenAI-compatible server.")
    ev.add_argument("--base-url", help="Server URL ending in /v1 (vLLM, DeepSeek, …); default: OpenAI.")
    ev.add_argument("--api-key", help="API key; default $OPENAI_API_KEY (local servers need none).")
    ev.add_argument("--tool-format", choices=["native", "text"], default="native",
                    help="native: OpenAI tool calls; text: tools in the system prompt, <tool_call> blocks in the "
                         "reply (for servers without tool-call parsing). Default: native.")
    ev.add_argument("--policy", help="Instead of --model: a policy as 'package.module:Class' (e.g. an expert).")
    ev.add_argument("--temperature", type=float, help="Sampling temperature sent with every request.")
    ev.add_argument("--max-tokens", type=int, help="Most tokens the model may write per turn.")
    ev.add_argument("-n", "--samples", type=int, default=1, help="Samples per task (pass@k needs n >= k). Default 1.")
    ev.add_argument("-c", "--concurrency", type=int, default=8,
                    help="Episodes run at once (with --ray: across the whole cluster). Default 8.")
    ev.add_argument("--ray", metavar="ADDRESS", help="Play the episodes on a Ray cluster: 'auto' (the one `ray start` "
                                                    "started here), 'HOST:6379', 'ray://HOST:10001', or 'local'. "
                                                    "Needs pip install 'agent-gym[distributed]'.")
    ev.add_argument("--ray-workers", type=int, help="With --ray: how many workers (default: one per node).")
    ev.add_argument("--max-turns", type=int, help="Turn limit per episode; default: the environment's own.")
    ev.add_argument("--seed", type=int, help="Base seed: each episode's seed derives from it, the task and the "
                                             "sample index (sent to the server where it takes one).")
    ev.add_argument("--out", default=None, help="Trajectory store (.jsonl); default runs/eval/<env>-<time>.jsonl. "
                                                "Re-running into the same store reuses finished episodes.")
    ev.add_argument("--json", action="store_true", help="Print the summary as one JSON object.")
    ev.add_argument("--keep-failed", action="store_true",
                    help="Re-running into the same --out: keep failed episodes instead of retrying them.")
    ev.add_argument("--rescore", action="store_true",
                    help="Re-running into the same --out after a reward change: score the recorded episodes "
                         "again instead of replaying them (where the environment allows it).")
    ev.add_argument("--max-error-rate", type=float, default=0.0,
                    help="Exit 1 when more than this fraction of episodes failed with an error. Default 0.")
    ev.add_argument("--min-success", type=float, default=None,
                    help="Exit 1 when the success rate is below this fraction. Default: no minimum.")
    ev.set_defaults(handler=cmd_eval)


def make_policy(args: argparse.Namespace) -> Policy:
    """The policy an `eval` invocation asks for."""
    return policy_spec(args).build()


def policy_spec(args: argparse.Namespace) -> PolicySpec:
    """The policy an `eval` invocation asks for, as a spec a Ray worker can build too."""
    if args.policy and args.model:
        raise ConfigError("Give either --model (an OpenAI-compatible server) or --policy (module:Class), not both.")
    if args.policy:
        return PolicySpec(args.policy)
    if not args.model:
        raise ConfigError("Say which model to run: --model NAME [--base-url URL], or --policy module:Class.")
    if not (args.api_key or os.environ.get("OPENAI_API_KEY") or args.base_url):
        raise ConfigError("No API key for OpenAI: pass --api-key KEY or set $OPENAI_API_KEY; for another server "
                          "pass --base-url URL (local servers need no key).")
    sampling = {k: v for k, v in (("temperature", args.temperature), ("max_tokens", args.max_tokens)) if v is not None}
    return PolicySpec("agent_gym.policies.openai:OpenAIPolicy", {
        "model": args.model, "base_url": args.base_url, "api_key": args.api_key, "tool_format": args.tool_format,
        **sampling})


def cmd_eval(args: argparse.Namespace) -> int:
    for flag, value in (("--max-error-rate", args.max_error_rate), ("--min-success", args.min_success)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise ConfigError(f"{flag} is a fraction between 0 and 1, got {value}.")
    env = make_env(args.env)
    tasks = load_tasks(args.tasks) if args.tasks else env.default_tasks()
    if not tasks:
        raise ConfigError(f"{args.env} has no default tasks; pass --tasks FILE.")
    if args.task_id:
        wanted = set(args.task_id)
        missing = wanted - {t.id for t in tasks}
        if missing:
            raise ConfigError(f"No task with id {sorted(missing)} (--task-id); ids look like {tasks[0].id!r}.")
        tasks = [t for t in tasks if t.id in wanted]
    tasks = tasks[: args.limit] if args.limit else tasks
    out = args.out or f"runs/eval/{env.name}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    spec = policy_spec(args)
    policy = spec.build()
    executor = None
    if args.ray:  # the workers build their own environment and policy from these specs
        from agent_gym.distributed.ray_executor import RayExecutor

        executor = RayExecutor(args.ray, workers=args.ray_workers)
    elif args.ray_workers is not None:
        raise ConfigError("--ray-workers goes with --ray ADDRESS.")
    started = time.perf_counter()
    try:
        result = run_rollouts(
            EnvSpec(args.env) if executor else env, spec if executor else policy, tasks, n=args.samples,
            max_concurrency=args.concurrency, store=out, max_turns=args.max_turns, seed=args.seed,
            retry_failed=not args.keep_failed, rescore=args.rescore, executor=executor,
        )
    except PolicyError as exc:  # the preflight: nothing answers, the key is refused, the model is unknown
        print(f"agent-gym eval: {exc}", file=sys.stderr)
        return 1
    stats = run_stats(result)
    summary: dict[str, Any] = summarize(result) | {f"run_{k}": v for k, v in result.counts.items()} | {
        "env": env.name, "policy": policy.name, "model": policy.model, "store": str(out),
        "wall_seconds": round(time.perf_counter() - started, 3), "stats": stats.to_dict()}
    failures = _threshold_failures(stats, args.max_error_rate, args.min_success)
    summary["passed"] = not failures
    if args.json:
        print(json.dumps(summary))
    else:
        print(_summary_text(summary, result, stats))
    for failure in failures:
        print(f"agent-gym eval: FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _threshold_failures(stats: RunStats, max_error_rate: float, min_success: float | None) -> list[str]:
    failures = []
    if stats.episodes and stats.errors / stats.episodes > max_error_rate:
        failures.append(f"{stats.errors} of {stats.episodes} episodes failed with an error (error rate "
                        f"{stats.errors / stats.episodes:.3f} > --max-error-rate {max_error_rate:g}); the store "
                        "holds each error message.")
    if min_success is not None and stats.success.value < min_success:
        failures.append(f"success rate {stats.success.value:.3f} is below --min-success {min_success:g}.")
    return failures


def _summary_text(summary: dict[str, Any], result: RunResult, stats: RunStats) -> str:
    store = summary["store"]
    lines = [f"{summary['env']} · policy {summary['policy']} · model {summary['model'] or '(none)'}",
             f"store    {store}",
             f"run      {result.report()} in {summary['wall_seconds']:.1f} s",
             str(stats),
             f"turns    {summary['mean_turns']:.2f} per episode · tokens {summary['total_tokens']:,}",
             f"next     agent-gym report {store} -o {store.removesuffix('.jsonl')}.html"]
    return "\n".join(lines)
