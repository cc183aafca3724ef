"""verifiers 0.3.1's side of the rollout benchmark (runs in the verifiers venv, see setup.py).

    VENV/bin/python benchmarks/peer/verifiers_worker.py      # then one JSON command per stdin line

The same protocol and the same episodes as `benchmarks/rollout_worker.py`, through verifiers' classic API:
`vf.ToolEnv` with the `add` tool and a `vf.Rubric` of one exact-answer reward, `env.evaluate(...)` with
`max_concurrent=C`, and a bare `openai.AsyncOpenAI` wrapped in `vf.OpenAIChatCompletionsClient` (as its docs
say to). The progress bar is replaced by a no-op callback (ours runs with `progress=False`). Standalone: it
imports nothing from agent_gym, which is not installed in that venv.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from typing import Any

MAX_EPISODES = 4096


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first integer.
        b: The second integer.
    """
    return a + b


def correct(completion: Any, answer: str, **kwargs: Any) -> float:
    """1.0 when the final message is the expected number."""
    last = completion[-1]
    text = last.get("content") if isinstance(last, dict) else getattr(last, "content", "")
    try:
        return float(float(str(text).strip()) == float(answer))
    except ValueError:
        return 0.0


def run_queue_wait() -> float:
    """Seconds the main thread (the event loop) has waited for a CPU while runnable (Linux; else 0)."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def build_env() -> Any:
    import verifiers as vf
    from datasets import Dataset

    rows = [{"question": f"What is {i} + {i + 1}?", "answer": str(2 * i + 1)} for i in range(MAX_EPISODES)]
    dataset = Dataset.from_list(rows)
    env = vf.ToolEnv(tools=[add], dataset=dataset, eval_dataset=dataset, rubric=vf.Rubric(funcs=[correct]),
                     system_prompt="Use add, then reply with the number only.", max_turns=30)
    env.build_eval_dataset()  # the dataset's one-off formatting is set-up, not episode time
    return env


def main() -> None:
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    logging.basicConfig(level=logging.WARNING)
    import openai
    import verifiers as vf

    env = build_env()

    async def episodes(base_url: str, n: int, concurrency: int, model: str) -> dict[str, Any]:
        if n > MAX_EPISODES:
            raise ValueError(f"at most {MAX_EPISODES} episodes per command")
        client = vf.OpenAIChatCompletionsClient(openai.AsyncOpenAI(base_url=base_url, api_key="EMPTY"))
        t0, c0, w0 = time.perf_counter(), time.process_time(), run_queue_wait()
        result = await env.evaluate(client, model, num_examples=n, max_concurrent=concurrency,
                                    on_progress=lambda *args, **kwargs: None)
        seconds, cpu, wait = time.perf_counter() - t0, time.process_time() - c0, run_queue_wait() - w0
        await client.close()
        outputs = result["outputs"]
        return {
            "episodes": len(outputs),
            "ok": sum(o.get("error") is None and o.get("reward") == 1.0 for o in outputs),
            "calls": int(sum(o.get("metrics", {}).get("num_turns", 0) for o in outputs)),
            "seconds": seconds,
            "cpu_seconds": cpu,
            "run_queue_wait_seconds": wait,
            "errors": sorted({str(o.get("error"))[:200] for o in outputs if o.get("error")})[:3],
        }

    out.write(json.dumps({"ready": True, "version": f"verifiers {vf.__version__}", "pid": os.getpid()}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        try:
            answer = asyncio.run(episodes(command["base_url"], int(command["n"]), int(command["concurrency"]),
                                          command.get("model", "scripted")))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which records it
            answer = {"failed": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
