"""agent_gym's side of the rollout benchmark: a long-lived worker process that runs episodes on command.

    python -m benchmarks.rollout_worker        # then one JSON command per stdin line

Each command `{"base_url": ..., "n": N, "concurrency": C}` runs N episodes of a one-tool task ("What is
i + (i+1)?": call `add`, then answer) through `run_rollouts_async` against an OpenAI-compatible server, and
answers one JSON line: wall seconds, this process's CPU seconds (all threads, `time.process_time`), the
number of model calls and of correctly solved episodes. The peer's worker
(`benchmarks/peer/verifiers_worker.py`) speaks the same protocol, so both run the same episodes the same way.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from agent_gym import OpenAIPolicy, Task, ToolEnv, numeric_match, run_rollouts_async, tool


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first integer.
        b: The second integer.
    """
    return a + b


ENV = ToolEnv(tools=[add], reward=numeric_match, system_prompt="Use add, then reply with the number only.",
              name="bench_adder")


def tasks(n: int) -> list[Task]:
    return [Task(id=f"t{i}", prompt=f"What is {i} + {i + 1}?", answer=str(2 * i + 1)) for i in range(n)]


async def episodes(base_url: str, n: int, concurrency: int, model: str = "scripted") -> dict[str, Any]:
    policy = OpenAIPolicy(model, base_url=base_url)
    todo = tasks(n)
    t0, c0, w0 = time.perf_counter(), time.process_time(), run_queue_wait()
    out = await run_rollouts_async(ENV, policy, todo, max_concurrency=concurrency, progress=False)
    seconds, cpu, wait = time.perf_counter() - t0, time.process_time() - c0, run_queue_wait() - w0
    await policy.aclose()
    return {
        "episodes": len(out),
        "ok": sum(t.error is None and t.reward == 1.0 for t in out),
        "calls": sum(t.usage.calls for t in out),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "run_queue_wait_seconds": wait,
        "errors": sorted({f"{t.error.kind}: {t.error.message}"[:200] for t in out if t.error})[:3],
    }


def run_queue_wait() -> float:
    """Seconds the main thread (the event loop) has waited for a CPU while runnable (Linux; else 0)."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def serve(handler: Any, version: str) -> None:
    """The JSON-lines loop: a ready line, then one answer per command, until stdin closes."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # anything else printed goes to stderr, never into the protocol
    out.write(json.dumps({"ready": True, "version": version, "pid": os.getpid()}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        try:
            answer = asyncio.run(handler(command["base_url"], int(command["n"]), int(command["concurrency"]),
                                         command.get("model", "scripted")))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which records it
            answer = {"failed": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    from importlib.metadata import version

    serve(episodes, f"agent_gym {version('agent-gym')}")
