"""Sampled held-out evaluation of a model from a recorded training run (what GRPO optimizes: its
sampling distribution, not the greedy one).

    .venv/bin/python scripts/heldout_sampled_eval.py runs/train_recorded/v3_success sft
    .venv/bin/python scripts/heldout_sampled_eval.py runs/train_recorded/v3_success grpo --threads 1

Plays `--samples` episodes per held-out task (the run's own held-out seeds, turns and tokens per turn,
from its `args.json`) at `--temperature` and writes `sampled_T<temperature>_<model>.json` in the run folder.
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

from train_recorded_run import MODEL_DIRS, game, heldout_tasks  # noqa: E402

MODELS = {"base": None, **MODEL_DIRS}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="a run folder of scripts/train_recorded_run.py")
    p.add_argument("model", choices=tuple(MODELS))
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--samples", type=int, default=1, help="episodes per held-out task")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    import torch

    from agent_gym.train import evaluate

    if args.threads:
        torch.set_num_threads(args.threads)
    run_args = argparse.Namespace(**json.loads((args.run / "args.json").read_text()))
    model = None if MODELS[args.model] is None else str(args.run / MODELS[args.model])
    t0 = time.perf_counter()
    evaluation = evaluate(game(run_args), model, heldout_tasks(run_args), n=args.samples, temperature=args.temperature,
                          seed=args.seed, max_turns=run_args.eval_turns, max_turn_tokens=run_args.max_turn_tokens,
                          label=f"eval_{args.model}-sampled-T{args.temperature:g}")
    result = {"model": model or "embedded", "temperature": args.temperature, "episodes_per_task": args.samples,
              "seed": args.seed, "summary": evaluation.summary, "seconds": time.perf_counter() - t0}
    out = args.run / f"sampled_T{args.temperature:g}_{args.model}.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
