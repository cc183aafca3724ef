"""The recorded CPU run: SFT warm start, then multi-turn GRPO, on TextCraft with the embedded model.

    .venv/bin/python scripts/train_recorded_run.py                 # -> runs/train_recorded/<UTC time>/
    .venv/bin/python scripts/train_recorded_run.py --out runs/train_recorded/mine --grpo-steps 60
    # on 2 cores, a held-out evaluation beside the stage on the critical path (one torch thread for it):
    .venv/bin/python scripts/train_recorded_run.py --out F --only grpo &
    .venv/bin/python scripts/train_recorded_run.py --out F --only eval_sft --threads 1

The defaults are the settings of `runs/train_recorded/v4_longer`: the synth/SFT stages of `v3_success`
(~1.5 h on 2 cores) and v4's 40 GRPO steps (~1.5-2 h); a run
keeps its first invocation's settings in `args.json` and every invocation in `invocations.jsonl`.
`--warm-start OTHER_RUN` starts at GRPO from another run's expert data, SFT model and base/SFT
evaluations (e.g. a longer or differently tuned GRPO stage on the same warm start).

Stages (each writes its results into the run folder and is skipped when re-run on the same folder, so
an interrupted run resumes where it stopped; GRPO resumes from its last checkpoint with `--save-every`):

1. synth — the TextCraft expert plays the training tasks (depth 1: gather base items, craft the goal,
   2-4 turns; `--distractors` unrelated recipes in every prompt); the trajectories become SFT data.
2. eval_base — the embedded model (SmolLM2-135M-Instruct) on held-out tasks (other seeds).
3. sft — LoRA SFT on the expert data (assistant turns only), merged into a full model.
4. eval_sft — the SFT model on the held-out tasks.
5. grpo — multi-turn GRPO (LoRA) from the SFT model, StepwiseHorizon turn limits, sampling at
   `--train-temperature`. Reward: the game's (1 when the goal is crafted) plus `--progress-reward` times
   a shaped term (`--shaping`): the fraction of turns the game accepted as a command, or the fraction of
   the goal's plan achieved — so that groups in which every episode fails still rank play (default 0:
   the success reward alone).
6. eval_grpo — the GRPO model on the held-out tasks.

Held-out figures: valid tool calls (the first turn is a well-formed call of `act` with valid arguments),
success greedy, and success sampled at `--temperature` (`--eval-samples` episodes per task; 0, the
default, evaluates greedy only). Figures (PNG and interactive HTML) and `summary.json`/`summary.md` land in the run
folder; the table is printed. The game's instructions are shortened (`--compact-prompt`, default on)
to save CPU time: the rules and the recipes are the same.
"""

from __future__ import annotations

import os

# A shared CPU: idle OpenMP threads sleep instead of spinning. With spinning threads, generation (many
# small ops) ran 4-15x slower whenever another process was busy on the same cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent_gym.envs.games.textcraft.env import TextCraftEnv, make_tasks  # noqa: E402
from agent_gym.stats import PairedComparison, paired_comparison, sign_test  # noqa: E402

COMPACT_PROMPT = """You play TextCraft. Craft the goal item. Call the act tool with one command per turn:
- get N ITEM: gather a base item, e.g. "get 2 oak log"
- craft N ITEM using M INGREDIENT, ...: use one of the crafting commands, e.g. "craft 4 oak planks using 1 oak log"
The game ends when you hold the goal item."""


class CompactTextCraft(TextCraftEnv):
    """TextCraft with shorter instructions (same game, same recipes, same reward)."""

    system_prompt = COMPACT_PROMPT


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=None, help="run folder (default runs/train_recorded/<UTC time>)")
    p.add_argument("--train-tasks", type=int, default=256)
    p.add_argument("--heldout-tasks", type=int, default=100)
    p.add_argument("--distractors", type=int, default=4)
    p.add_argument("--compact-prompt", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--sft-epochs", type=float, default=2.0)
    p.add_argument("--sft-lr", type=float, default=2e-4)
    p.add_argument("--grpo-steps", type=int, default=40)
    p.add_argument("--grpo-prompts", type=int, default=2, help="tasks per GRPO step")
    p.add_argument("--generations", type=int, default=8, help="episodes per task (GRPO group size)")
    p.add_argument("--grpo-lr", type=float, default=4e-4)
    p.add_argument("--grpo-schedule", choices=("linear", "constant", "cosine"), default="constant",
                   help="GRPO learning-rate schedule (TRL's lr_scheduler_type)")
    p.add_argument("--save-every", type=int, default=10, help="keep a GRPO checkpoint every N steps (0: only the end)")
    p.add_argument("--warm-start", default=None,
                   help="another run folder whose expert data, SFT model and base/SFT evaluations this run reuses "
                        "(it then runs GRPO and its evaluation only)")
    p.add_argument("--beta", type=float, default=0.0)
    p.add_argument("--temperature", type=float, default=1.0, help="sampled held-out evaluation")
    p.add_argument("--train-temperature", type=float, default=1.0, help="GRPO sampling")
    p.add_argument("--progress-reward", type=float, default=0.0, help="weight of the shaped term")
    p.add_argument("--shaping", choices=("accepted", "plan"), default="accepted",
                   help="shaped term: the fraction of turns the game accepted, or of the goal's plan achieved")
    p.add_argument("--horizon", default="3,5", help="StepwiseHorizon rounds")
    p.add_argument("--every", type=int, default=None, help="steps per round (default: steps / rounds)")
    p.add_argument("--max-turn-tokens", type=int, default=64)
    p.add_argument("--max-completion", type=int, default=320)
    p.add_argument("--eval-turns", type=int, default=5)
    p.add_argument("--eval-samples", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--micro-batch", type=int, default=2, help="sequences per forward/backward (memory)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stop-after", default=None, help="stop after this stage (for calibration)")
    p.add_argument("--only", choices=STAGES, default=None,
                   help="run this one stage (its inputs must exist), e.g. eval_base beside sft in another process")
    return p.parse_args(argv)


STAGES = ("synth", "eval_base", "sft", "eval_sft", "grpo", "eval_grpo")
MODEL_DIRS = {"sft": "sft/model", "grpo": "grpo"}
"""Where a run folder keeps the trained models (the GRPO one as a LoRA adapter over the SFT model)."""


def game(args: argparse.Namespace) -> TextCraftEnv:
    """The environment of a run (its `compact_prompt` setting)."""
    return CompactTextCraft() if args.compact_prompt else TextCraftEnv()


def heldout_tasks(args: argparse.Namespace) -> list:
    """A run's held-out tasks: seeds 10000 on, never used for training (its `heldout_tasks`, `distractors`)."""
    return make_tasks(depths=(1,), seeds=range(10_000, 10_000 + args.heldout_tasks), distractors=args.distractors)


class Run:
    """The run folder: stage results as JSON, skipped when present."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def done(self, stage: str) -> dict[str, Any] | None:
        path = self.folder / f"{stage}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def save(self, stage: str, data: dict[str, Any]) -> dict[str, Any]:
        (self.folder / f"{stage}.json").write_text(json.dumps(data, indent=2, default=str))
        return data


def record_invocation(folder: Path, args: argparse.Namespace) -> None:
    """The first invocation's settings are the run's (`args.json`); every invocation, resumed or
    `--only`, is appended to `invocations.jsonl` with its time."""
    if not (folder / "args.json").exists():
        (folder / "args.json").write_text(json.dumps(vars(args), indent=2))
    with (folder / "invocations.jsonl").open("a") as log:
        log.write(json.dumps({"time": datetime.now(UTC).isoformat(timespec="seconds"), **vars(args)}) + "\n")


def run_settings(folder: Path) -> argparse.Namespace:
    """A run's settings: those of its first invocation (`args.json`)."""
    return argparse.Namespace(**json.loads((folder / "args.json").read_text()))


WARM_START_STAGES = ("synth", "eval_base", "sft", "eval_sft")


def grpo_run_config(output_dir: Path, args: argparse.Namespace) -> Any:
    """The run's `trl.GRPOConfig`: `grpo_prompts` tasks x `generations` episodes per optimizer step."""
    from agent_gym.train import grpo_config

    checkpoints = {"save_strategy": "steps", "save_steps": args.save_every} if args.save_every else {}
    return grpo_config(output_dir, max_steps=args.grpo_steps, num_generations=args.generations,
                       per_device_train_batch_size=args.micro_batch,
                       gradient_accumulation_steps=args.grpo_prompts * args.generations // args.micro_batch,
                       max_completion_length=args.max_completion, learning_rate=args.grpo_lr, beta=args.beta,
                       temperature=args.train_temperature, seed=args.seed, lr_scheduler_type=args.grpo_schedule,
                       **checkpoints)


def reuse_warm_start(run: Run, source: Path) -> None:
    """Start `run` from `source`'s finished SFT stage: link its expert data and SFT model, copy the
    results (and evaluation episodes) of its stages up to the SFT evaluation."""
    missing = [stage for stage in WARM_START_STAGES if not (source / f"{stage}.json").exists()]
    if missing or not (source / MODEL_DIRS["sft"]).is_dir():
        raise SystemExit(f"--warm-start {source}: that run has not finished {missing or ['its SFT model']}; "
                         f"run `scripts/train_recorded_run.py --out {source} --stop-after eval_sft` first.")
    for name in ("sft", "sft_data"):
        if not (run.folder / name).exists():
            (run.folder / name).symlink_to(source / name, target_is_directory=True)
    for stage in WARM_START_STAGES:
        if run.done(stage) is None:
            run.save(stage, {**json.loads((source / f"{stage}.json").read_text()), "warm_start": str(source)})
    episodes, own = source / "eval_trajectories.jsonl", run.folder / "eval_trajectories.jsonl"
    if episodes.exists() and not own.exists():
        own.write_text("".join(line for line in episodes.open()
                               if json.loads(line)["model"].rsplit("-", 1)[0] in WARM_START_STAGES))


def accepted_commands(weight: float) -> Any:
    """A TRL reward function: `weight` x the fraction of an episode's turns that the game accepted as a
    command (a well-formed `act` call naming a real item and the right ingredients)."""

    def progress(prompts: list[Any], completions: list[Any], trajectory: list[Any], **_: Any) -> list[float]:
        scores = []
        for t in trajectory:
            accepted = sum(1 for s in t.steps if s.info.get("commands") and not s.info.get("invalid"))
            scores.append(weight * accepted / max(len(t.steps), 1))
        return scores

    progress.__name__ = "accepted_commands"
    return progress


def plan_progress(weight: float) -> Any:
    """A TRL reward function: `weight` x the fraction of the items on the expert's plan for the goal
    (the base items to gather, the intermediate and goal items to craft) that the episode obtained.
    Gathering a distractor recipe's items earns nothing."""
    import re

    from agent_gym.envs.games.text_game import opening_text
    from agent_gym.envs.games.textcraft.env import parse_opening, plan

    obtained = re.compile(r"^(?:Got|Crafted) \d+ (.+?)\.")

    def progress(prompts: list[Any], completions: list[Any], trajectory: list[Any], **_: Any) -> list[float]:
        scores = []
        for t in trajectory:
            goal, recipes = parse_opening(opening_text(t.messages))
            wanted = {command.split(" using ")[0].split(" ", 2)[2] for command in plan(goal, recipes)}
            got = {m.group(1) for message in t.messages if message.role == "tool"
                   if (m := obtained.match(message.content or ""))}
            scores.append(weight * len(wanted & got) / len(wanted))
        return scores

    progress.__name__ = "plan_progress"
    return progress


def say(text: str) -> None:
    print(f"[{datetime.now(UTC).strftime('%H:%M:%S')}] {text}", flush=True)


def evaluate_stage(run: Run, stage: str, env: Any, model: Any, tasks: list, args: argparse.Namespace) -> dict[str, Any]:
    from agent_gym.train import evaluate

    if (done := run.done(stage)) is not None:
        return done
    say(f"{stage}: {len(tasks)} held-out tasks, greedy and {args.eval_samples} sampled episodes each")
    t0 = time.perf_counter()
    store = run.folder / "eval_trajectories.jsonl"
    common = {"max_turns": args.eval_turns, "max_turn_tokens": args.max_turn_tokens, "store": store}
    greedy = evaluate(env, model, tasks, label=f"{stage}-greedy", **common)
    result: dict[str, Any] = {"greedy": greedy.summary}
    if args.eval_samples:
        sampled = evaluate(env, model, tasks, n=args.eval_samples, temperature=args.temperature, seed=args.seed,
                           label=f"{stage}-sampled", **common)
        result["sampled"] = sampled.summary
    result["seconds"] = time.perf_counter() - t0
    say(f"{stage}: {json.dumps(result)}")
    return run.save(stage, result)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from agent_gym.local.files import prepare_local_model
    from agent_gym.synth import synthesize
    from agent_gym.train import StepwiseHorizon, grpo, lora_config, sft, sft_config

    folder = Path(args.out or ROOT / "runs" / "train_recorded" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")).resolve()
    run = Run(folder)
    record_invocation(folder, args)
    say(f"run folder {folder}; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    env = game(args)
    train_tasks = make_tasks(depths=(1,), seeds=range(args.train_tasks), distractors=args.distractors)
    heldout = heldout_tasks(args)
    base = prepare_local_model()
    if args.warm_start:
        reuse_warm_start(run, Path(args.warm_start).resolve())

    def wanted(stage: str) -> bool:
        return args.only in (None, stage)

    def stop_after(stage: str) -> bool:
        return stage in (args.stop_after, args.only)

    if run.done("synth") is None:  # a second: always made when missing
        t0 = time.perf_counter()
        data = synthesize(env, env.expert(), train_tasks, out=folder / "sft_data", progress=False, max_turns=10)
        run.save("synth", {"examples": len(data.kept), "seen": len(data.seen), "seconds": time.perf_counter() - t0})
    say(f"synth: {run.done('synth')}")
    if stop_after("synth"):
        return 0

    if wanted("eval_base"):
        evaluate_stage(run, "eval_base", env, base, heldout, args)
    if stop_after("eval_base"):
        return 0

    sft_dir = folder / MODEL_DIRS["sft"]
    if wanted("sft") and run.done("sft") is None:
        shutil.rmtree(folder / "sft", ignore_errors=True)
        from datasets import load_dataset

        from agent_gym.synth import sft_features

        dataset = load_dataset("json", data_files=str(folder / "sft_data" / "sft.jsonl"), features=sft_features(), split="train")
        say(f"sft: {len(dataset)} examples, {args.sft_epochs} epoch(s), LoRA r=16, lr {args.sft_lr}")
        t0 = time.perf_counter()
        config = sft_config(folder / "sft", num_train_epochs=args.sft_epochs, learning_rate=args.sft_lr, seed=args.seed,
                            per_device_train_batch_size=args.micro_batch, gradient_accumulation_steps=8 // args.micro_batch)
        result = sft(dataset, base, config, peft_config=lora_config())
        run.save("sft", {"metrics": result.metrics, "model_dir": str(result.model_dir), "seconds": time.perf_counter() - t0})
    say(f"sft: {run.done('sft')}")
    if stop_after("sft"):
        return 0

    if wanted("eval_sft"):
        evaluate_stage(run, "eval_sft", env, sft_dir, heldout, args)
    if stop_after("eval_sft"):
        return 0

    grpo_dir = folder / MODEL_DIRS["grpo"]
    if wanted("grpo") and run.done("grpo") is None:
        from agent_gym.train.resume import find_checkpoint

        checkpoint = find_checkpoint(grpo_dir, True)
        if checkpoint is None:  # an interrupted attempt without checkpoints (--save-every): start the stage over
            shutil.rmtree(grpo_dir, ignore_errors=True)
        else:
            say(f"grpo: resuming from {checkpoint}")
        rounds = [int(x) for x in args.horizon.split(",")]
        every = args.every or max(1, -(-args.grpo_steps // len(rounds)))
        config = grpo_run_config(grpo_dir, args)
        say(f"grpo: {args.grpo_steps} steps x {args.grpo_prompts} tasks x {args.generations} episodes, "
            f"lr {args.grpo_lr} ({args.grpo_schedule}), "
            f"horizon {rounds} every {every} steps, T={args.train_temperature}, reward: success"
            + (f" + {args.progress_reward} x {args.shaping}" if args.progress_reward else " only"))
        t0 = time.perf_counter()
        shaped = plan_progress if args.shaping == "plan" else accepted_commands
        shaping = [shaped(args.progress_reward)] if args.progress_reward else []
        result = grpo(env, sft_dir, train_tasks, config, horizon=StepwiseHorizon(rounds, every), peft_config=lora_config(),
                      max_turn_tokens=args.max_turn_tokens, reward_funcs=shaping, resume=checkpoint or False)
        run.save("grpo", {"output_dir": str(result.output_dir), "metrics": str(result.metrics_path),
                          "history": result.rollout.history, "seconds": time.perf_counter() - t0,  # this invocation's
                          "resumed_from": str(checkpoint) if checkpoint else None})
        del result  # the trainer (model, optimizer, reference) is not needed to evaluate the saved adapter
        gc.collect()
    say("grpo: done")
    if stop_after("grpo"):
        return 0

    if wanted("eval_grpo"):
        evaluate_stage(run, "eval_grpo", env, grpo_dir, heldout, args)
    if all(run.done(stage) for stage in STAGES):
        report(run, run_settings(folder))
    return 0


def report(run: Run, args: argparse.Namespace) -> None:
    """Print the table, write summary.json/summary.md and the figures."""
    from agent_gym.train import read_metrics

    stages = [("base", "eval_base"), ("SFT", "eval_sft"), ("SFT+GRPO", "eval_grpo")]
    rows = []
    for label, stage in stages:
        data = run.done(stage)
        sampled = data.get("sampled", {})  # absent with --eval-samples 0
        rows.append({"model": label, "valid_tool_calls": data["greedy"]["valid_tool_call_rate"],
                     "success_greedy": data["greedy"]["success_rate"], "success_sampled": sampled.get("success_rate"),
                     "valid_tool_calls_sampled": sampled.get("valid_tool_call_rate"),
                     "episodes_greedy": data["greedy"]["episodes"],
                     "mean_turns_greedy": data["greedy"]["mean_turns"]})
    metrics = read_metrics(run.folder / "grpo" / "metrics.jsonl")
    steps = metrics[metrics["env/horizon"].notna()] if "env/horizon" in metrics else metrics
    zero = steps["frac_reward_zero_std"].tolist() if len(steps) else []
    training = {
        "steps": len(steps),
        "steps_with_reward_variance": sum(z < 1.0 for z in zero),
        "mean_zero_variance_group_fraction": sum(zero) / max(len(zero), 1),
        "train_success_first_5": steps["env/success"].head(5).mean() if len(steps) else None,
        "train_success_last_5": steps["env/success"].tail(5).mean() if len(steps) else None,
        "horizon_per_step": steps["env/horizon"].tolist() if len(steps) else [],
    }
    comparison = greedy_comparison(run.folder / "eval_trajectories.jsonl", "eval_sft", "eval_grpo")
    change = change_counts(comparison)
    curve = checkpoint_curve(run.folder, rows, args.grpo_steps, change)
    summary = {"heldout": rows, "grpo_training": training, "sft_to_grpo_greedy": change,
               "sft_to_grpo_greedy_comparison": comparison.to_dict() if comparison else None, "heldout_by_step": curve,
               "args": vars(args),
               "seconds": {s: (run.done(s) or {}).get("seconds") for s in ("synth", "eval_base", "sft", "eval_sft", "grpo", "eval_grpo")}}
    (run.folder / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    n = rows[0]["episodes_greedy"]
    lines = [f"| model ({n} held-out tasks) | valid tool calls | success (greedy) | success (sampled T={args.temperature:.1f}) |",
             "| --- | --- | --- | --- |"]
    lines += [f"| {r['model']} | {r['valid_tool_calls']:.0%} | {_count(r['success_greedy'], n)} | {_pct(r['success_sampled'])} |"
              for r in rows]
    lines += ["", f"GRPO: {training['steps']} steps, {training['steps_with_reward_variance']} with non-zero within-group "
              f"reward variance; mean zero-variance group fraction {training['mean_zero_variance_group_fraction']:.2f}; "
              f"training-batch success, mean of the first 5 steps {_pct(training['train_success_first_5'])}, "
              f"of the last 5 {_pct(training['train_success_last_5'])}."]
    if len(curve) > 2:
        lines += ["", "Held-out greedy success by GRPO step (step 0 = the SFT model; tasks gained/lost against it): "
                  + "; ".join(f"{c['step']}: {c['success']}/{c['tasks']}"
                              + (f" (+{c['gained']}/-{c['lost']})" if c.get("gained") is not None else "") for c in curve) + "."]
    if comparison:
        lines += ["", f"SFT -> SFT+GRPO, greedy, task by task: {change['gained']} of {change['tasks']} held-out tasks "
                  f"gained, {change['lost']} lost (exact one-sided sign test p = {change['p_one_sided']:.3g}; "
                  f"two-sided McNemar p = {comparison.p_value:.3g}).",
                  "", "```", comparison.report(), "```"]
    (run.folder / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)
    figures(run.folder, rows, steps, curve)


def greedy_comparison(store: Path, before: str, after: str) -> PairedComparison | None:
    """Greedy episodes task by task, stage `before` (A) against stage `after` (B), from the evaluation episodes
    in `store`; None when the store or either stage's episodes are missing. A re-evaluation of a task wins
    over the earlier one (the store is read in file order)."""
    if not store.exists():
        return None
    from agent_gym import TrajectoryStore

    runs: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for row in TrajectoryStore(store).summaries(latest=False):
        runs.setdefault(row["model"], {})[(row["env"], row["task_id"])] = row
    old, new = runs.get(f"{before}-greedy"), runs.get(f"{after}-greedy")
    if not old or not new:
        return None
    return paired_comparison(old.values(), new.values(), label_a=before, label_b=after)


def change_counts(comparison: PairedComparison | None) -> dict[str, Any] | None:
    """The counts a run's summary keeps of a comparison: tasks compared, gained and lost, and the exact
    one-sided sign-test (McNemar) p-value of the gain."""
    if comparison is None:
        return None
    gained, lost = len(comparison.gained), len(comparison.lost)
    return {"tasks": comparison.tasks, "gained": gained, "lost": lost,
            "p_one_sided": sign_test(gained, lost, alternative="greater")}


def paired_change(store: Path, before: str, after: str) -> dict[str, Any] | None:
    """Greedy success task by task, stage `before` against stage `after`: the `change_counts` of their
    `greedy_comparison`."""
    return change_counts(greedy_comparison(store, before, after))


def checkpoint_curve(folder: Path, rows: list[dict[str, Any]], final_step: int,
                     final_change: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Held-out greedy success by GRPO step: the SFT model (step 0), every checkpoint evaluated with
    `scripts/heldout_eval.py RUN checkpoint-N --temperature 0`, and the final model (`final_change`:
    its `paired_change` against the SFT model)."""
    def point(step: int, rate: float, n: int, change: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"step": step, "success": round(rate * n), "tasks": n, **{k: (change or {}).get(k) for k in ("gained", "lost")}}

    n = rows[1]["episodes_greedy"]
    curve = [point(0, rows[1]["success_greedy"], n)]
    for path in folder.glob("greedy_checkpoint-*.json"):
        data = json.loads(path.read_text())
        step = int(path.stem.rsplit("-", 1)[1])
        if step < final_step:
            curve.append(point(step, data["summary"]["success_rate"], data["summary"]["episodes"], data.get("against_sft_greedy")))
    curve.append(point(final_step, rows[2]["success_greedy"], n, final_change))
    return sorted(curve, key=lambda c: c["step"])


def _pct(value: Any) -> str:
    return "not measured" if value is None else f"{value:.0%}"


def _count(rate: float, n: int) -> str:
    return f"{rate:.0%} ({round(rate * n)}/{n})"


def figures(folder: Path, rows: list[dict[str, Any]], steps: Any, curve: list[dict[str, Any]]) -> None:
    """before/SFT/GRPO bars and the GRPO curves, as PNG (matplotlib, when installed) and HTML (plotly)."""
    import plotly.graph_objects as go

    from agent_gym.widgets.plots import metrics_figure

    keys = [("valid_tool_calls", "valid tool calls"), ("success_greedy", "success (greedy)"), ("success_sampled", "success (sampled)")]
    keys = [(key, label) for key, label in keys if all(r[key] is not None for r in rows)]
    bars = go.Figure([go.Bar(name=label, x=[r["model"] for r in rows], y=[r[key] for r in rows]) for key, label in keys])
    bars.update_layout(barmode="group", title="TextCraft held-out tasks", yaxis_range=[0, 1.05])
    bars.write_html(folder / "heldout.html", include_plotlyjs="cdn")
    metrics_figure(folder / "grpo" / "metrics.jsonl").write_html(folder / "grpo_training.html", include_plotlyjs="cdn")
    try:
        import matplotlib
    except ImportError:
        say("matplotlib is not installed: HTML figures only")
        return

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.25
    for i, (key, label) in enumerate(keys):
        values = [r[key] for r in rows]
        bars = ax.bar([x + (i - (len(keys) - 1) / 2) * width for x in range(len(rows))], values, width, label=label)
        ax.bar_label(bars, labels=[f"{v:.0%}" for v in values], fontsize=8)
    ax.set_xticks(range(len(rows)), [r["model"] for r in rows])
    ax.set_ylim(0, 1.1)
    ax.set_title("TextCraft held-out tasks: embedded 135M model")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(folder / "heldout.png", dpi=120)

    fig, axes = plt.subplots(3, 1, figsize=(7, 7), sharex=True)
    x = steps["step"]
    axes[0].plot(x, steps["env/success"], marker="o", label="success")
    axes[0].plot(x, steps["reward"], marker=".", label="reward")
    axes[0].legend(fontsize=8)
    axes[0].set_title("GRPO training batches")
    axes[1].bar(x, steps["frac_reward_zero_std"], color="tab:red")
    axes[1].set_ylim(0, 1.05)
    axes[1].set_ylabel("zero-variance\ngroup fraction")
    axes[2].step(x, steps["env/horizon"], where="post", label="horizon (max turns)")
    axes[2].plot(x, steps["env/turns"], marker=".", label="mean turns")
    axes[2].legend(fontsize=8)
    axes[2].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(folder / "grpo_training.png", dpi=120)

    if len(curve) > 2:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.plot([c["step"] for c in curve], [c["success"] / c["tasks"] for c in curve], marker="o")
        for c in curve:
            ax.annotate(f"{c['success']}/{c['tasks']}", (c["step"], c["success"] / c["tasks"]),
                        textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_xlabel("GRPO step (0 = SFT model)")
        ax.set_ylabel("held-out success (greedy)")
        ax.set_title("Held-out success along GRPO")
        fig.tight_layout()
        fig.savefig(folder / "heldout_by_step.png", dpi=120)


if __name__ == "__main__":
    sys.exit(main())
