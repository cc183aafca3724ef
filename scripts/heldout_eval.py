"""Held-out evaluation of one model of a recorded training run: greedy or sampled, the final models or
a GRPO checkpoint.

    .venv/bin/python scripts/heldout_eval.py runs/train_recorded/v3_success sft            # sampled, T=1
    .venv/bin/python scripts/heldout_eval.py runs/train_recorded/v4_longer checkpoint-20 --temperature 0

`model` is `base`, `sft`, `grpo` or a GRPO checkpoint (`checkpoint-N`, kept with `--save-every`). Plays
`--samples` episodes per held-out task (the run's own held-out seeds, turns and tokens per turn, from
its `args.json`) at `--temperature` (0: greedy, one episode per task) and writes
`greedy_<model>.json` or `sampled_T<temperature>_<model>.json` in the run folder. The episodes are
added to the run's `eval_trajectories.jsonl`; a greedy result also counts the held-out tasks gained
and lost against the SFT model's greedy episodes.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_recorded_run import (  # noqa: E402
    MODEL_DIRS,
    change_counts,
    game,
    greedy_comparison,
    heldout_tasks,
    run_settings,
)

MODELS = {"base": None, **MODEL_DIRS}


def model_folder(run: Path, model: str) -> Path | None:
    """The folder of `model` in `run` (None: the embedded base model); a clear error when it is missing."""
    if model in MODELS:
        return None if MODELS[model] is None else run / MODELS[model]
    folder = run / MODEL_DIRS["grpo"] / model
    if not model.startswith("checkpoint-") or not folder.is_dir():
        kept = sorted(p.name for p in (run / MODEL_DIRS["grpo"]).glob("checkpoint-*"))
        raise SystemExit(f"No model {model!r} in {run}: use one of {[*MODELS, *kept]}.")
    return folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="a run folder of scripts/train_recorded_run.py")
    p.add_argument("model", help="base, sft, grpo or checkpoint-N")
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy")
    p.add_argument("--samples", type=int, default=1, help="episodes per held-out task (sampled only)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    folder = model_folder(args.run, args.model)
    import torch

    from agent_gym.train import evaluate

    if args.threads:
        torch.set_num_threads(args.threads)
    run_args = run_settings(args.run)
    greedy = args.temperature == 0
    kind = "greedy" if greedy else f"sampled-T{args.temperature:g}"
    store = args.run / "eval_trajectories.jsonl"
    t0 = time.perf_counter()
    evaluation = evaluate(game(run_args), None if folder is None else str(folder), heldout_tasks(run_args),
                          n=1 if greedy else args.samples, temperature=args.temperature, seed=args.seed,
                          max_turns=run_args.eval_turns, max_turn_tokens=run_args.max_turn_tokens,
                          store=store, label=f"eval_{args.model}-{kind}")
    result = {"model": str(folder or "embedded"), "temperature": args.temperature,
              "episodes_per_task": 1 if greedy else args.samples, "seed": args.seed, "summary": evaluation.summary,
              "seconds": time.perf_counter() - t0,
              "command": " ".join([".venv/bin/python", "scripts/heldout_eval.py", *(argv or sys.argv[1:])])}
    if greedy:
        comparison = greedy_comparison(store, "eval_sft", f"eval_{args.model}")
        result["against_sft_greedy"] = change_counts(comparison)
        result["against_sft_greedy_comparison"] = comparison.to_dict() if comparison else None
    name = "greedy" if greedy else f"sampled_T{args.temperature:g}"
    (args.run / f"{name}_{args.model}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
