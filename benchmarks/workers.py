"""Episode workers: long-lived child processes that run episodes on command and measure their own CPU.

Both sides of the rollout benchmark run in a worker of their own (agent_gym in the project's venv,
verifiers in its own), so each one's CPU time is its own process's, neither pays for the other's imports,
and the parent only waits. The protocol (JSON lines) is described in `rollout_worker.py`.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class WorkerError(RuntimeError):
    """A worker did not start, died, or did not answer in time."""


class Worker:
    """One worker process; `run(base_url, n, concurrency)` returns its JSON answer."""

    def __init__(self, argv: list[str], name: str, *, startup_timeout: float = 180.0) -> None:
        self.name = name
        self._log = tempfile.TemporaryFile()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TQDM_DISABLE": "1"}
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                        cwd=ROOT, env=env, text=True, bufsize=1)
        hello = self._read(startup_timeout)
        if not hello.get("ready"):
            raise WorkerError(f"{name} worker sent {hello!r} instead of a ready line")
        self.version: str = hello.get("version", "?")

    @classmethod
    def agent_gym(cls) -> Worker:
        """agent_gym's worker, in this interpreter's environment."""
        return cls([sys.executable, "-m", "benchmarks.rollout_worker"], "agent_gym")

    @classmethod
    def verifiers(cls, python: str | Path) -> Worker:
        """verifiers' worker, in the peer's venv (see `benchmarks.peer.setup`)."""
        return cls([str(python), str(ROOT / "benchmarks" / "peer" / "verifiers_worker.py")], "verifiers")

    def run(self, base_url: str, n: int, concurrency: int, *, timeout: float) -> dict[str, Any]:
        """Run `n` episodes at `concurrency` against `base_url`; the worker's measurements."""
        assert self.process.stdin is not None
        command = {"base_url": base_url, "n": n, "concurrency": concurrency}
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        answer = self._read(timeout)
        if "failed" in answer:
            raise WorkerError(f"{self.name} worker failed: {answer['failed']}")
        return answer

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            ready, _, _ = select.select([self.process.stdout], [], [], max(0.0, min(1.0, deadline - time.monotonic())))
            if ready:
                line = self.process.stdout.readline()
                if line:
                    return json.loads(line)
            if self.process.poll() is not None or (ready and not line):
                raise WorkerError(f"{self.name} worker exited (code {self.process.poll()}); its output:\n{self.log()}")
            if time.monotonic() > deadline:
                self.close()
                raise WorkerError(f"{self.name} worker did not answer within {timeout:.0f}s; its output:\n{self.log()}")

    def log(self, limit: int = 3000) -> str:
        """The tail of the worker's stderr."""
        size = os.fstat(self._log.fileno()).st_size  # pread: the child shares the offset and writes there
        return os.pread(self._log.fileno(), size, 0).decode(errors="replace")[-limit:].strip() or "(no output)"

    def close(self) -> None:
        """Stop the worker (closing its stdin ends its loop) and wait for it."""
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of another process so far (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def cpu_pressure_seconds() -> float | None:
    """Seconds so far in which some task on this machine waited for a CPU (Linux PSI), or None."""
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return int(some.rsplit("total=", 1)[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return None
