"""The embedded local model: set-up from nothing, server start, and time per short reply.

    .venv/bin/python benchmarks/bench_local.py [--quick]   # table; JSON in runs/bench/local-<time>.json
    .venv/bin/python -m benchmarks --only local             # the same rows in the shared table

Full run: materializes the model into a fresh temporary cache in a fresh interpreter (imports
included: "from nothing to a ready folder"), then starts the server on that folder several times (the
first start is the cold one) and times short greedy replies through the plain `openai` client and
through the in-process `TransformersPolicy`. Quick run (CI): the already prepared model, one server
start, two replies. The machine is shared: the load average goes into every note.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:
    from .common import row, summarize
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import row, summarize

import openai

from agent_gym.local import prepare_local_model, serve_local_model
from agent_gym.policies.in_process import TransformersPolicy
from agent_gym.types import user

BENCHMARK = "local"
PROMPT = "Say hello in one short sentence."


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def materialize(cache: Path) -> list[dict[str, Any]]:
    """Empty cache -> ready folder in a fresh interpreter, then the idempotent second call."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "agent_gym.local.policy", "prepare", "--cache-dir", str(cache)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    prepare_local_model(cache, quiet=True)
    again = (time.perf_counter() - t0) * 1000
    return [
        row(BENCHMARK, "materialize: empty cache -> ready model folder", first, "s",
            f"python -m agent_gym.local prepare in a fresh interpreter (GGUF -> bf16 HF folder); {_load()}"),
        row(BENCHMARK, "materialize again (folder ready)", again, "ms", "prepare_local_model() on the finished folder"),
    ]


def serve(model_dir: Path, starts: int, replies: int, max_tokens: int) -> list[dict[str, Any]]:
    """Server starts until healthy (first = cold) and greedy short replies via the plain openai client."""
    start_times: list[float] = []
    latencies: list[float] = []
    tokens = 0
    first_reply = float("nan")
    for index in range(starts):
        t0 = time.perf_counter()
        with serve_local_model(model_dir) as server:
            start_times.append(time.perf_counter() - t0)
            if index:
                continue
            client = openai.OpenAI(base_url=server.base_url, api_key="unused")
            for attempt in range(replies + 1):
                t0 = time.perf_counter()
                reply = client.chat.completions.create(
                    model=server.model, messages=[{"role": "user", "content": PROMPT}], max_tokens=max_tokens,
                    temperature=0)
                elapsed = time.perf_counter() - t0
                if attempt == 0:
                    first_reply = elapsed
                else:
                    latencies.append(elapsed)
                    tokens += reply.usage.completion_tokens if reply.usage else 0
    per_reply = tokens / max(1, len(latencies))
    rows = [
        row(BENCHMARK, "server cold start -> healthy", start_times[0], "s",
            f"serve_local_model() until /health answers; first start on this folder; {_load()}"),
        row(BENCHMARK, "server first reply", first_reply, "s", "the first request (includes one-off warm-up)"),
        row(BENCHMARK, f"server short reply (~{per_reply:.0f} tokens)", unit="s",
            note=f"plain openai client, greedy, max_tokens={max_tokens}, 1 torch thread; {_load()}",
            **summarize(latencies)),
        row(BENCHMARK, "server decode speed", tokens / sum(latencies), "tok/s", "completion tokens / reply time"),
    ]
    if starts > 1:
        rows.insert(1, row(BENCHMARK, "server warm start -> healthy", unit="s",
                           note="later starts on the same folder (OS file cache warm)", **summarize(start_times[1:])))
    return rows


def in_process(model_dir: Path, replies: int, max_tokens: int) -> list[dict[str, Any]]:
    """TransformersPolicy: load time and greedy short replies (no server)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # like the server: two OpenMP threads collapse on a shared CPU
    try:
        t0 = time.perf_counter()
        policy = TransformersPolicy(model_dir, temperature=0, max_new_tokens=max_tokens)
        load = time.perf_counter() - t0
        latencies = []
        for _ in range(replies + 1):
            t0 = time.perf_counter()
            asyncio.run(policy.act([user(PROMPT)], []))
            latencies.append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
    return [
        row(BENCHMARK, "in-process policy load", load, "s", "TransformersPolicy(model_dir) from the saved folder"),
        row(BENCHMARK, "in-process short reply", unit="s", note="TransformersPolicy.act, greedy, after one warm-up",
            **summarize(latencies[1:])),
    ]


def run(quick: bool) -> list[dict[str, Any]]:
    """The rows (benchmarks/README.md's contract). Quick: prepared model, 1 start, 2 replies."""
    max_tokens = 16 if quick else 32
    if quick:
        model_dir = prepare_local_model()
        return serve(model_dir, 1, 2, max_tokens) + in_process(model_dir, 2, max_tokens)
    cache = Path(tempfile.mkdtemp(prefix="agent_gym_bench_"))
    try:
        rows = materialize(cache)
        model_dir = prepare_local_model(cache, quiet=True)
        return rows + serve(model_dir, 3, 5, max_tokens) + in_process(model_dir, 5, max_tokens)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="prepared model, one start, two replies")
    parser.add_argument("--out", default="runs/bench", help="folder for the JSON result")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    rows = run(args.quick)
    from benchmarks.runner import table

    print()
    print(table(rows))
    result = {
        "benchmark": BENCHMARK,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_before": list(load_before), "load_after": list(os.getloadavg())},
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{BENCHMARK}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    main()
