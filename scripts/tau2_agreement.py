"""τ²-bench's own code against the project on every task: does τ²'s grader (`evaluate_simulation`)
give the reward `CustomerServiceEnv` gave, and does τ²'s orchestrator, replaying the episode on its
own environment, end it the same way, with the same tool texts and the same reward?

    .venv/bin/python scripts/tau2_agreement.py [--limit N] [--out runs/tau2_agreement.json]

Per task, ten agents (`tests/envs/dialogue/tau2_support.policies`): the oracle, the oracle asking for
confirmation, a wrong sequence, a dropped write, a changed write argument, a dropped read, omitted
information, the information only inside <think> or beside a tool call, and ten failing look-ups
before the expected actions. All retail and airline tasks of the default data (τ²-bench 0.2.1-dev);
τ²'s orchestrator replays the oracle, confirming-oracle and failing-look-up runs (the rest are graded
only: they end the same way). Airline's 1.0.1 tasks are graded too (DB × COMMUNICATE; retail 1.0.1
needs τ²'s LLM judge for its NL assertions and τ² 1.0.1's `get_item_details`, which the installed
τ² lacks). The CI test `tests/envs/dialogue/test_tau2_fidelity.py` runs a sample.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "envs" / "dialogue")]

from tau2_support import compare, disagreements, install_litellm_stand_in  # noqa: E402

from agent_gym.envs.dialogue.customer_service import domain_tasks  # noqa: E402

REPLAYED = {"oracle", "oracle_confirm", "errors_first"}


async def main(limit: int | None, out: Path) -> int:
    install_litellm_stand_in()
    report: dict[str, dict] = {}
    for domain, version in (("retail", None), ("airline", None), ("airline", "1.0.1")):
        tasks = domain_tasks(domain, **({"version": version} if version else {}))[:limit]
        t0 = time.perf_counter()
        rows = await compare(domain, tasks, orchestrate=REPLAYED, version=version)
        bad = disagreements(rows)
        label = f"{domain}@{version or 'default'}"
        replayed = [r for r in rows if "orchestrator" in r]
        report[label] = {
            "tasks": len(tasks), "trajectories": len(rows), "agreed": len(rows) - len(bad),
            "orchestrator_replays": len(replayed),
            "oracle_in_orchestrator_scored_1": sum(r["orchestrator"] == 1.0 for r in replayed if r["variant"] == "oracle"),
            "reward_1_by_variant": dict(Counter(r["variant"] for r in rows if r["ours"] == 1.0)),
            "endings": dict(Counter(r["ours_end"] for r in rows)), "disagreements": bad,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(f"{label}: agreed on {len(rows) - len(bad)}/{len(rows)} trajectories of {len(tasks)} tasks; "
              f"oracle replayed in τ²'s orchestrator scored 1.0 on "
              f"{report[label]['oracle_in_orchestrator_scored_1']}/{len(tasks)} ({report[label]['seconds']} s)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"wrote {out}")
    return 0 if all(not r["disagreements"] for r in report.values()) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="Only the first N tasks per domain.")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "tau2_agreement.json")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.limit, args.out)))
