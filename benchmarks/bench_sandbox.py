"""Sandbox latency: trivial sandboxed shell and Python calls against unsandboxed subprocesses.

    .venv/bin/python -m benchmarks --only sandbox          # in the shared table (see benchmarks/README.md)
    .venv/bin/python benchmarks/bench_sandbox.py [--quick] # alone: prints its rows, writes runs/bench/sandbox-<time>.json

Measured in one run, interleaved call by call so machine load hits both sides alike: a one-shot
`bash -c true` and `python -I - <<< pass` in the sandbox, a call of the persistent Python session,
the same two commands as plain subprocesses (the overhead is the difference of the medians), the
time to create and close a sandbox, and episodes per second with 4 sandboxes at once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks.common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent_gym.sandbox.box import Sandbox, SandboxLimits  # noqa: E402
from benchmarks.common import row, summarize  # noqa: E402

TARGET = "<= 60"
"""The issue's target for a trivial sandboxed call, p50 in ms."""


def _ms(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def _plain(argv: list[str], stdin: bytes | None = None) -> None:
    subprocess.run(argv, input=stdin, capture_output=True, check=True, timeout=30)


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def _episodes_per_second(workers: int, episodes: int) -> float:
    """Each episode makes a sandbox, runs 3 shell calls and 1 session call, and closes it."""
    def episode(_: int) -> None:
        with Sandbox(SandboxLimits()) as box:
            for command in ("echo a > a.txt", "cat a.txt", "ls"):
                box.run(command)
            box.python_session().run("1 + 1")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(episode, range(episodes)))
    return episodes / (time.perf_counter() - t0)


def run(quick: bool) -> list[dict[str, Any]]:
    """The rows of the shared benchmark table."""
    n = 10 if quick else 60
    calls: dict[str, Callable[[], Any]] = {}
    samples: dict[str, list[float]] = {}
    with Sandbox() as box:
        session = box.python_session()
        calls = {
            "sandbox shell": lambda: box.run("true"),
            "plain shell": lambda: _plain(["/bin/bash", "-c", "true"]),
            "sandbox python": lambda: box.run_python("pass"),
            "plain python": lambda: _plain([sys.executable, "-I", "-"], b"pass"),
            "session call": lambda: session.run("1 + 1"),
        }
        for fn in calls.values():  # warm-up
            fn()
        samples = {name: [] for name in calls}
        for _ in range(n):  # interleaved: every side sees the same load
            for name, fn in calls.items():
                samples[name].append(_ms(fn))
    creates = [_ms(lambda: Sandbox().close()) for _ in range(3 if quick else 10)]
    throughput = _episodes_per_second(workers=4, episodes=4 if quick else 16)

    med = {name: statistics.median(values) for name, values in samples.items()}
    note = f"{n} calls, interleaved with the other sides"
    rows = [
        row("sandbox", "shell call (bash -c true) p50", unit="ms", note=note, target=TARGET,
            **summarize(samples["sandbox shell"])),
        row("sandbox", "shell call p95", round(_p95(samples["sandbox shell"]), 2), "ms", note),
        row("sandbox", "python session call (1 + 1) p50", unit="ms", note=note, target=TARGET,
            **summarize(samples["session call"])),
        row("sandbox", "python session call p95", round(_p95(samples["session call"]), 3), "ms", note),
        row("sandbox", "python one-shot (pass) p50", unit="ms", note=note + "; a fresh interpreter each call",
            **summarize(samples["sandbox python"])),
        row("sandbox", "python one-shot p95", round(_p95(samples["sandbox python"]), 2), "ms", note),
        row("sandbox", "plain subprocess shell p50", unit="ms", note="unsandboxed, same run",
            **summarize(samples["plain shell"])),
        row("sandbox", "plain subprocess python p50", unit="ms", note="unsandboxed, same run",
            **summarize(samples["plain python"])),
        row("sandbox", "shell overhead p50", round(med["sandbox shell"] - med["plain shell"], 2), "ms",
            "sandboxed minus plain median"),
        row("sandbox", "python one-shot overhead p50", round(med["sandbox python"] - med["plain python"], 2), "ms",
            "sandboxed minus plain median"),
        row("sandbox", "create + close a sandbox", unit="ms", note="job dir, uid lease, cleanup",
            **summarize(creates)),
        row("sandbox", "episodes/s at concurrency 4", round(throughput, 2), "ep/s",
            "sandbox + 3 shell calls + 1 session call + close, per episode", params={"concurrency": 4}),
    ]
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small settings (seconds)")
    parser.add_argument("--out", default="runs/bench", help="folder for the JSON result")
    args = parser.parse_args(argv)
    rows = run(args.quick)
    for r in rows:
        spread = f"  [{r['spread'][0]:.1f}–{r['spread'][1]:.1f}]" if r.get("spread") else ""
        target = f"  (target {r['target']})" if r.get("target") else ""
        print(f"{r['metric']:36s} {r['value']:>9.2f} {r['unit']:5s}{spread}{target}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"sandbox-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps({
        "benchmark": "sandbox", "time": datetime.now(UTC).isoformat(timespec="seconds"), "quick": args.quick,
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average": os.getloadavg()},
        "rows": rows,
    }, indent=2) + "\n")
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    main()
