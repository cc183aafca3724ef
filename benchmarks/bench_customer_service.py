"""The customer-service environment (issue 5): τ² domains, oracle, wrong sequences, cassettes, local model.

    .venv/bin/python benchmarks/bench_customer_service.py [--quick]
    .venv/bin/python -m benchmarks --only customer_service

Full run: domain load, fresh database per episode, the oracle over every replayable task of retail
and airline (share scoring 1.0, seconds per episode), a deliberately wrong sequence on every task
whose expected actions change the database (mean reward, should be 0), τ²'s own grader on those
runs (share agreeing with the project's reward; `scripts/tau2_agreement.py` does more), a cassette recorded and
replayed on 20 retail tasks (time per episode both ways, hit rate, byte-identical responses), and
one episode with the embedded model as agent and as simulated user. Quick run: 8 tasks per domain,
5 cassette tasks, no model. The machine is shared: the load average goes into the notes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

try:
    from .common import row, summarize
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import row, summarize

from agent_gym import run_rollouts_async
from agent_gym.envs.dialogue.customer_service import (
    CustomerServiceEnv,
    OraclePolicy,
    SimulatedUser,
    domain_tasks,
    is_replayable,
    wrong_actions,
)
from agent_gym.envs.dialogue.domains import changes_db, load_domain
from agent_gym.tools.cassette import Cassette

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "envs" / "dialogue"))
from tau2_support import tau2_score  # noqa: E402  (τ²'s grader, with a stand-in for its litellm import)

BENCHMARK = "customer_service"


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def domains() -> list[dict[str, Any]]:
    rows = []
    for name in ("retail", "airline"):
        load_domain.cache_clear()
        t0 = time.perf_counter()
        domain = load_domain(name)
        rows.append(row(BENCHMARK, f"{name}: load domain (tools, DB, {len(domain.raw_tasks)} tasks)",
                        time.perf_counter() - t0, "s", f"in-process, τ² imported; {_load()}"))
        times = []
        for _ in range(5):
            t1 = time.perf_counter()
            domain.fresh_db()
            times.append((time.perf_counter() - t1) * 1000)
        rows.append(row(BENCHMARK, f"{name}: fresh database per episode", unit="ms",
                        note="model_validate of the pristine data, GC paused", **summarize(times)))
    return rows


async def oracle(limit: int | None) -> list[dict[str, Any]]:
    rows = []
    for name in ("retail", "airline"):
        tasks = [t for t in domain_tasks(name) if is_replayable(t)][:limit]
        out = await run_rollouts_async(CustomerServiceEnv(name), OraclePolicy(), tasks, progress=False)
        rate = sum(t.reward == 1.0 for t in out) / len(out)
        rows.append(row(BENCHMARK, f"{name}: oracle scores 1.0", rate, "share", f"{len(out)} replayable tasks",
                        target=">= 0.95", params={"tasks": len(out)}))
        rows.append(row(BENCHMARK, f"{name}: oracle episode", unit="s", note=f"reset + tools + τ² scoring; {_load()}",
                        **summarize([t.seconds for t in out])))
        writes = [t for t in tasks if changes_db(t)]
        wrong = await run_rollouts_async(CustomerServiceEnv(name), OraclePolicy(actions=wrong_actions), writes, progress=False)
        rows.append(row(BENCHMARK, f"{name}: wrong action sequence, mean reward", sum(t.reward for t in wrong) / len(wrong),
                        "", f"{len(wrong)} tasks whose actions change the DB; writes corrupted", target="== 0"))
        graded = [*out, *wrong]
        agreed = sum(tau2_score(t)[0] == t.reward for t in graded)
        rows.append(row(BENCHMARK, f"{name}: τ²'s grader agrees with the reward", agreed / len(graded), "share",
                        f"{agreed}/{len(graded)} oracle and wrong-sequence runs, tau2.evaluator.evaluate_simulation",
                        target="1.0"))
    return rows


async def cassette(count: int) -> list[dict[str, Any]]:
    tasks = domain_tasks("retail", limit=count)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "retail.cassette.jsonl"
        recorder = Cassette(path, mode="record")
        recorded = await run_rollouts_async(recorder.attach(CustomerServiceEnv("retail")), OraclePolicy(), tasks, progress=False)
        player = Cassette(path, mode="replay")
        replayed = await run_rollouts_async(player.attach(CustomerServiceEnv("retail")), OraclePolicy(), tasks, progress=False)
        size = path.stat().st_size

    def tool_texts(trajectories):
        return [m.content for t in trajectories for m in t.messages if m.role == "tool"]

    identical = tool_texts(recorded) == tool_texts(replayed)
    total = player.report()["TOTAL"]
    return [
        row(BENCHMARK, "cassette: record episode", unit="s", note=f"{count} retail oracle episodes, real tools",
            **summarize([t.seconds for t in recorded])),
        row(BENCHMARK, "cassette: replay episode", unit="s", note="same episodes answered from the cassette",
            **summarize([t.seconds for t in replayed])),
        row(BENCHMARK, "cassette: replay hit rate", total["hit_rate"], "share",
            f"{total['hits']:.0f} calls; byte-identical responses: {identical}; file {size / 1024:.0f} KiB",
            target="1.0"),
    ]


async def local_episode() -> list[dict[str, Any]]:
    from agent_gym.local import LocalPolicy, serve_local_model

    task = domain_tasks("retail", limit=1)[0]
    with serve_local_model() as server:
        agent = LocalPolicy(server, temperature=0.7, max_tokens=48)
        customer = SimulatedUser(LocalPolicy(server, temperature=0.7, max_tokens=32), max_turns=2)
        env = CustomerServiceEnv("retail", customer, compact=True)
        [t] = await run_rollouts_async(env, agent, [task], max_turns=8, seed=0, progress=False)
    ended = t.steps[-1].info.get("termination_reason") if t.steps else None
    status = f"ended by {ended}" if t.error is None else f"error {t.error.kind}"
    return [row(BENCHMARK, "embedded model as agent and user: one episode", t.seconds, "s",
                f"compact prompt, 2 user turns, {t.num_turns} agent turns, {t.usage.total_tokens} agent tokens; "
                f"{status}; {_load()}")]


def run(quick: bool) -> list[dict[str, Any]]:
    rows = domains()
    rows += asyncio.run(oracle(8 if quick else None))
    rows += asyncio.run(cassette(5 if quick else 20))
    if not quick:
        rows += asyncio.run(local_episode())
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 tasks per domain, 5 cassette tasks, no model")
    args = parser.parse_args(argv)
    rows = run(args.quick)
    for r in rows:
        value = r["value"] if not isinstance(r["value"], float) else f"{r['value']:.3g}"
        print(f"{r['metric']:55} {value!s:>8} {r['unit']:6} {r['note']}")
    out = Path("runs/bench")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{BENCHMARK}{'-quick' if args.quick else ''}.json").write_text(json.dumps(rows, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    main()
