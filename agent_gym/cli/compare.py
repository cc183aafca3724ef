"""`agent-gym compare RUN_A RUN_B`: two runs on the same tasks, paired per task (gained, lost, same),
with the exact sign test and an interval for the difference; tasks in only one run are listed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from agent_gym.errors import StoreError
from agent_gym.stats import paired_comparison
from agent_gym.store import TrajectoryStore


def add_parser(sub: Any) -> None:
    cp = sub.add_parser("compare", help="Compare two runs on the same tasks (paired statistics, flipped tasks).",
                        description="Pair two trajectory stores task by task and print which tasks were gained "
                                    "and lost, the exact sign test (McNemar) on success, and a bootstrap interval "
                                    "of the mean reward difference (B - A).")
    cp.add_argument("run_a", help="The baseline run's store (.jsonl).")
    cp.add_argument("run_b", help="The run compared with it.")
    cp.add_argument("--label-a", help="Name shown for run A; default: its file name.")
    cp.add_argument("--label-b", help="Name shown for run B; default: its file name.")
    cp.add_argument("--confidence", type=float, default=0.95, help="Interval level. Default 0.95.")
    cp.add_argument("--seed", type=int, default=0, help="Seed of the bootstrap. Default 0.")
    cp.add_argument("--json", action="store_true", help="Print the comparison as one JSON object.")
    cp.set_defaults(handler=cmd_compare)


def _load(path: str) -> list[Any]:
    if not Path(path).is_file():
        raise StoreError(f"No trajectory store at {path}; give the .jsonl file a run wrote (e.g. `agent-gym eval --out`).")
    return TrajectoryStore(path).latest()


def cmd_compare(args: argparse.Namespace) -> int:
    a, b = _load(args.run_a), _load(args.run_b)
    comparison = paired_comparison(a, b, label_a=args.label_a or Path(args.run_a).stem,
                                   label_b=args.label_b or Path(args.run_b).stem, confidence=args.confidence,
                                   seed=args.seed)
    print(json.dumps(comparison.to_dict()) if args.json else comparison.report())
    return 0
