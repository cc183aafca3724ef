"""The rollout engine against its physical limit and against a peer (verifiers 0.3.1).

A scripted OpenAI-compatible server (`agent_gym.testing.scripted_server`, its own process) answers every model
call after a fixed latency L: first a tool call, then the answer, so an episode is 2 model calls. N
episodes run at concurrency C. With no client cost, they would finish at the ideal rate
C / (turns × L) episodes/s; `achieved/ideal` says how close the engine gets. At L = 1 s the run is
latency-bound (the engine should reach the ideal); at L = 200 ms and high C the client's own CPU per
model call is the wall on a 2-core machine.

The same episodes run through verifiers 0.3.1's classic `ToolEnv` (in its own venv), against the same
server at the same C, alternating with ours inside each repeat: `ours/verifiers` is the ratio of the
episodes/s of the two, repeat by repeat. Every figure is the median of the repeats, with [min, max].
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from agent_gym.testing.scripted_server import serve_scripted

from .common import row, summarize
from .workers import Worker, WorkerError, cpu_pressure_seconds, process_cpu_seconds

TURNS = 2
"""Model calls per episode: a tool call, then the answer."""
BENCHMARK = "rollout"


@dataclass(frozen=True)
class Settings:
    """What to measure."""

    latencies: tuple[float, ...] = (1.0, 0.2)
    """Server latencies L in seconds."""
    concurrencies: tuple[int, ...] = (1, 8, 64, 256)
    """Concurrency levels C."""
    waves: dict[float, int] = field(default_factory=lambda: {1.0: 5, 0.2: 5})
    """N = waves × C episodes per measurement, per latency (default 5). The first wave's calls all start at
    once, so the client's and the server's time to get a whole wave out is paid once per run: more waves
    weigh it less against the steady state the ideal describes."""
    repeats: int = 3
    """Repeats of every measurement; figures are their medians."""
    peer: str = "auto"
    """'yes' (set the verifiers venv up if needed), 'auto' (use it if it is ready), 'no'."""

    def n(self, latency: float, concurrency: int) -> int:
        return max(1, self.waves.get(latency, 5)) * concurrency


QUICK = Settings(latencies=(0.2,), concurrencies=(1, 8), waves={0.2: 2}, repeats=2, peer="auto")
FULL = Settings(peer="yes")


@dataclass
class Measurement:
    """One run of N episodes at C by one framework."""

    framework: str
    latency: float
    concurrency: int
    n: int
    repeat: int
    seconds: float
    cpu_seconds: float
    calls: int
    ok: int
    server_cpu_seconds: float | None = None
    wait_seconds: float = 0.0
    """Time the worker's event loop was runnable but waited for a CPU (Linux schedstat)."""
    pressure: float | None = None
    """Machine-wide CPU pressure during the run: the share of time some task waited for a CPU (PSI)."""

    @property
    def ideal(self) -> float:
        """Episodes/s with no client cost (N is a whole number of waves of C)."""
        return self.concurrency / (TURNS * self.latency)

    @property
    def rate(self) -> float:
        return self.n / self.seconds

    @property
    def cpu_ms_per_call(self) -> float:
        return 1000 * self.cpu_seconds / max(1, self.calls)


def _peer_python(mode: str) -> tuple[str | None, str]:
    """The verifiers venv's python (or None) and why not."""
    if mode == "no":
        return None, "peer disabled"
    from .peer import setup

    if setup.is_ready():
        return str(setup.venv_python()), ""
    if mode == "auto":
        return None, "verifiers venv not set up: run `python -m benchmarks.peer.setup` (or the full benchmark)"
    try:
        return str(setup.ensure()), ""
    except Exception as exc:  # noqa: BLE001 - the table says why the peer is missing
        return None, f"could not set up verifiers: {type(exc).__name__}: {exc}"


def measure(settings: Settings, log: Callable[[str], None] = print) -> tuple[list[Measurement], dict[str, Any]]:
    """Run every (L, C, repeat) for ours and the peer; the measurements and facts about the run."""
    peer_python, peer_missing = _peer_python(settings.peer)
    info: dict[str, Any] = {"settings": asdict(settings), "peer_missing": peer_missing}
    results: list[Measurement] = []
    workers: list[Worker] = []
    try:
        workers.append(Worker.agent_gym())
        if peer_python is not None:
            try:
                workers.append(Worker.verifiers(peer_python))
            except WorkerError as exc:
                info["peer_missing"] = f"verifiers worker did not start: {exc}"[:500]
        info["versions"] = {w.name: w.version for w in workers}
        for latency in settings.latencies:
            with serve_scripted(latency=latency) as server:
                for w in workers:  # warm-up: imports, first connections; not recorded
                    w.run(server.base_url, 2, 2, timeout=60 + 10 * latency)
                for repeat in range(settings.repeats):
                    for concurrency in settings.concurrencies:
                        n = settings.n(latency, concurrency)
                        order = list(workers) if repeat % 2 == 0 else workers[::-1]
                        for w in order:
                            try:
                                results.append(_one(w, server, latency, concurrency, n, repeat, log))
                            except WorkerError as exc:
                                if w.name == "agent_gym":
                                    raise
                                log(f"  the peer failed; going on without it: {exc}")
                                info["peer_missing"] = f"verifiers failed at L={latency:g}s C={concurrency}: {exc}"[:500]
                                workers.remove(w)
                                w.close()
    finally:
        for w in workers:
            w.close()
    return results, info


def _one(w: Worker, server: Any, latency: float, concurrency: int, n: int, repeat: int,
         log: Callable[[str], None]) -> Measurement:
    ideal_seconds = n * TURNS * latency / concurrency
    server_cpu, stall, t0 = process_cpu_seconds(server.process.pid), cpu_pressure_seconds(), time.monotonic()
    answer = w.run(server.base_url, n, concurrency, timeout=120 + 40 * ideal_seconds)
    server_after, stall_after, wall = process_cpu_seconds(server.process.pid), cpu_pressure_seconds(), time.monotonic() - t0
    m = Measurement(w.name, latency, concurrency, n, repeat, answer["seconds"], answer["cpu_seconds"],
                    answer["calls"], answer["ok"],
                    None if server_cpu is None or server_after is None else server_after - server_cpu,
                    answer.get("run_queue_wait_seconds") or 0.0,
                    None if stall is None or stall_after is None else min(1.0, (stall_after - stall) / wall))
    if answer["ok"] != n:
        log(f"  warning: {w.name} solved {answer['ok']}/{n} episodes; errors: {answer.get('errors')}")
    log(f"  {w.name:9s} L={latency:g}s C={concurrency:<3d} N={n:<4d} #{repeat}: {m.rate:7.1f} ep/s "
        f"= {m.rate / m.ideal:.3f} of ideal, {m.cpu_ms_per_call:.2f} ms CPU/call; waited for a CPU "
        f"{m.wait_seconds / m.seconds:.0%} of the time (machine CPU pressure {_pct(m.pressure)})")
    return m


def _pct(share: float | None) -> str:
    return "?" if share is None else f"{share:.0%}"


def rows(results: Sequence[Measurement], info: dict[str, Any]) -> list[dict[str, Any]]:
    """The table rows: per (L, C) achieved/ideal and CPU per call for each framework, ours/theirs."""
    out: list[dict[str, Any]] = []
    settings = info["settings"]
    frameworks = sorted({m.framework for m in results}, key=lambda f: f != "agent_gym")
    versions = info.get("versions", {})
    for latency in settings["latencies"]:
        for concurrency in settings["concurrencies"]:
            cell = [m for m in results if m.latency == latency and m.concurrency == concurrency]
            if not cell:
                continue
            where = f"L={latency:g}s C={concurrency}"
            n, ideal = cell[0].n, cell[0].ideal
            base = {"latency": latency, "concurrency": concurrency, "n": n, "ideal_eps": ideal}
            for fw in frameworks:
                mine = [m for m in cell if m.framework == fw]
                who = "ours" if fw == "agent_gym" else fw
                rates = summarize(m.rate for m in mine)
                waited = summarize(m.wait_seconds / m.seconds for m in mine)["value"]
                params = {**base, "framework": fw, "version": versions.get(fw, "?"), "cpu_wait_share": waited}
                out.append(row(BENCHMARK, f"{where} achieved/ideal ({who})", unit="x ideal",
                               note=f"{_num(rates['value'])} ep/s of ideal {ideal:g}; N={n}; "
                                    f"waited for a CPU {_pct(waited)} of the time",
                               target=">= 0.95" if latency >= 1.0 and fw == "agent_gym" else None,
                               params={**params, "kind": "achieved_over_ideal"},
                               **summarize(m.rate / m.ideal for m in mine)))
                out.append(row(BENCHMARK, f"{where} client CPU per model call ({who})", unit="ms",
                               note="process CPU (all threads) / model calls",
                               target="<= 1" if concurrency >= 256 and fw == "agent_gym" else None,
                               params={**params, "kind": "cpu_ms_per_call"},
                               **summarize(m.cpu_ms_per_call for m in mine)))
            if "agent_gym" in frameworks and "verifiers" in frameworks:
                pairs = [(a, b) for a in cell for b in cell if a.framework == "agent_gym"
                         and b.framework == "verifiers" and a.repeat == b.repeat]
                out.append(row(BENCHMARK, f"{where} ours/verifiers episodes/s", unit="x",
                               note="ratio per repeat, same server, same C",
                               target=">= 3" if latency < 1.0 and concurrency >= 256 else None,
                               params={**base, "kind": "ours_over_peer"},
                               **summarize(a.rate / b.rate for a, b in pairs)))
    for latency in settings["latencies"]:
        per_repeat = []
        for repeat in sorted({m.repeat for m in results}):
            served = [m for m in results if m.latency == latency and m.repeat == repeat]
            if served and all(m.server_cpu_seconds is not None for m in served):
                cpu, calls = sum(m.server_cpu_seconds for m in served), sum(m.calls for m in served)
                per_repeat.append(1000 * cpu / max(1, calls))
        if per_repeat:
            out.append(row(BENCHMARK, f"L={latency:g}s scripted server CPU per request", unit="ms",
                           note="the server's own process (not the client's CPU), over all C of a repeat",
                           params={"latency": latency, "kind": "server_cpu_ms_per_call"},
                           **summarize(per_repeat)))
        pressure = [m.pressure for m in results if m.latency == latency and m.pressure is not None]
        if pressure:
            out.append(row(BENCHMARK, f"L={latency:g}s machine CPU pressure", unit="share",
                           note="PSI 'some': share of the time some task waited for a CPU (0 on an idle machine)",
                           params={"latency": latency, "kind": "cpu_pressure"}, **summarize(pressure)))
    if info.get("peer_missing"):
        out.append(row(BENCHMARK, "verifiers 0.3.1 peer", None, note=info["peer_missing"]))
    return out


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:.3g}"


def settings_for(quick: bool) -> Settings:
    """QUICK or FULL, with `AGENT_GYM_BENCH_REPEATS` (an int) and `AGENT_GYM_BENCH_PEER` (yes/auto/no) applied."""
    settings = asdict(QUICK if quick else FULL)
    if os.environ.get("AGENT_GYM_BENCH_REPEATS"):
        settings["repeats"] = max(1, int(os.environ["AGENT_GYM_BENCH_REPEATS"]))
    if os.environ.get("AGENT_GYM_BENCH_PEER"):
        settings["peer"] = os.environ["AGENT_GYM_BENCH_PEER"]
    if settings["peer"] not in ("yes", "auto", "no"):
        raise ValueError(f"AGENT_GYM_BENCH_PEER={settings['peer']!r}: use yes, auto or no")
    return Settings(**settings)


def run(quick: bool) -> list[dict[str, Any]]:
    """The benchmark contract: rows of the shared table (quick: ~half a minute; full: 6–9 minutes)."""
    results, info = measure(settings_for(quick))
    return rows(results, info)
