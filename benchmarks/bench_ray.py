"""The Ray executor against in-process, and a CPU-bound environment on 1 vs 2 worker nodes.

Latency-bound: the scripted OpenAI-compatible server (`agent_gym.testing.scripted_server`, its own process)
answers every model call after L seconds; the calculator environment makes an episode 2 model calls. N =
waves × C episodes run at concurrency C, in this process (`InProcessExecutor`) and through a `RayExecutor` on
a 2-node cluster on loopback (`ray.cluster_utils.Cluster`, one worker per node, C/2 episodes each), both
writing a fresh store, interleaved in each repeat. `Ray/in-process` is the ratio of their episodes/s. The
overhead per episode is measured on each episode: the time the driver waited for it (`EpisodePlayer.play`)
less the time the worker spent in it (`Trajectory.seconds`): sending the job, queueing, returning the
record; its median over the episodes, Ray's less in-process's. Workers are started once
(`keep_workers=True`) and warmed up before timing.

CPU-bound: the sandboxed shell tasks (`ShellEnv` + `ShellExpert`, one bubblewrap sandbox per command) through
Ray with 1 worker and with 2 workers (one per node), same concurrency; `2 nodes / 1 node` is their ratio.
Both nodes live on this machine and share its CPUs, so on the 2-core machine the ratio measures what splitting
the work across nodes costs, not a speed-up; on separate machines each node's sandboxes use its own CPUs.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent_gym.distributed import EnvSpec, PolicySpec, RayExecutor
from agent_gym.distributed.executor import EpisodePlayer, Executor, InProcessExecutor
from agent_gym.envs.calculator import make_tasks
from agent_gym.runner import run_rollouts
from agent_gym.testing.scripted_server import serve_scripted

from .common import row, summarize

BENCHMARK = "ray"
CALCULATOR = EnvSpec("calculator")
SHELL, SHELL_EXPERT = EnvSpec("shell"), PolicySpec("agent_gym.envs.code.shell:ShellExpert")


@dataclass(frozen=True)
class Settings:
    """What to measure."""

    latency: float = 1.0
    """Server latency L in seconds."""
    concurrency: int = 256
    """Episodes at once, C (cluster-wide with Ray)."""
    waves: int = 4
    """N = waves × C episodes per latency-bound measurement."""
    shell_samples: int = 3
    """Samples of each of the 43 shell tasks per CPU-bound measurement."""
    shell_concurrency: int = 8
    """Episodes at once in the CPU-bound measurement."""
    repeats: int = 3
    """Repeats of every measurement; figures are their medians."""


QUICK = Settings(latency=0.2, concurrency=16, waves=2, shell_samples=1, shell_concurrency=4, repeats=1)
FULL = Settings()


class TimedExecutor:
    """Wraps an executor; `overheads` collects, per episode, the driver's wait less the episode's own time."""

    def __init__(self, inner: Executor) -> None:
        self.inner, self.overheads = inner, []

    @asynccontextmanager
    async def open(self, *args: Any) -> AsyncIterator[EpisodePlayer]:
        async with self.inner.open(*args) as player:
            yield _TimedPlayer(player, self.overheads)


class _TimedPlayer:
    def __init__(self, player: EpisodePlayer, overheads: list[float]) -> None:
        self.player, self.overheads, self.where = player, overheads, player.where

    async def play(self, job: Any) -> Any:
        t0 = time.perf_counter()
        trajectory = await self.player.play(job)
        self.overheads.append(time.perf_counter() - t0 - trajectory.seconds)
        return trajectory


@contextmanager
def loopback_cluster(nodes: int = 2) -> Iterator[str]:
    """A Ray cluster on this machine: a head without CPUs and `nodes` worker nodes of 1 CPU; its address."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "object_store_memory": 100 * 2**20, "include_dashboard": False})
    try:
        for _ in range(nodes):
            cluster.add_node(num_cpus=1, object_store_memory=100 * 2**20)
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes()
        yield cluster.address
    finally:
        ray.shutdown()
        cluster.shutdown()


def timed_run(env: EnvSpec, policy: PolicySpec, tasks: list, *, n: int, concurrency: int, executor: Executor,
              store: Path) -> tuple[float, int]:
    """Wall seconds of one run into a fresh store, and how many of its episodes failed."""
    t0 = time.perf_counter()
    run = run_rollouts(env, policy, tasks, n=n, max_concurrency=concurrency, store=store, progress=False,
                       executor=executor)
    return time.perf_counter() - t0, sum(t.error is not None for t in run)


def median_ms(overheads: list[float]) -> float:
    """The median of a run's per-episode overheads in ms (and empties the list for the next run)."""
    value = 1000 * statistics.median(overheads)
    overheads.clear()
    return value


def measure(settings: Settings, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every measurement of both parts, repeat by repeat."""
    out: dict[str, Any] = {"settings": asdict(settings), "latency": [], "shell": []}
    c, n = settings.concurrency, settings.waves * settings.concurrency
    tasks, shell_tasks = make_tasks(n), SHELL.build().default_tasks()
    with tempfile.TemporaryDirectory() as tmp, loopback_cluster(2) as address, \
            serve_scripted(latency=settings.latency) as server:
        policy = PolicySpec("agent_gym.policies.openai:OpenAIPolicy", {"model": "scripted", "base_url": server.base_url})
        stores = (Path(tmp) / f"{i}.jsonl" for i in range(10**6))
        local, two = TimedExecutor(InProcessExecutor()), TimedExecutor(RayExecutor(address, keep_workers=True))
        t0 = time.perf_counter()
        timed_run(CALCULATOR, policy, tasks[:c], n=1, concurrency=c, executor=two, store=next(stores))  # start, warm
        out["startup"] = time.perf_counter() - t0 - 2 * settings.latency
        timed_run(CALCULATOR, policy, tasks[:c], n=1, concurrency=c, executor=local, store=next(stores))
        for repeat in range(settings.repeats):
            pair = {}
            for name, executor in ([("local", local), ("ray", two)] if repeat % 2 == 0 else [("ray", two), ("local", local)]):
                executor.overheads.clear()  # the warm-up's
                pair[name], failed = timed_run(CALCULATOR, policy, tasks, n=1, concurrency=c, executor=executor,
                                               store=next(stores))
                pair[f"{name}_overhead_ms"] = median_ms(executor.overheads)
                log(f"  L={settings.latency:g}s C={c} N={n} {name:5s} #{repeat}: {n / pair[name]:6.1f} ep/s, "
                    f"{pair[f'{name}_overhead_ms']:.1f} ms per episode beyond its own time"
                    f"{f' ({failed} failed)' if failed else ''}")
            out["latency"].append(pair)
        two.inner.close()
        local = local.inner
        sc, sn = settings.shell_concurrency, settings.shell_samples
        # half a CPU each, so the 1-worker and 2-worker pools both fit on the two 1-CPU nodes at once
        one = RayExecutor(address, workers=1, num_cpus=0.5, keep_workers=True)
        two = RayExecutor(address, num_cpus=0.5, keep_workers=True)
        for executor in (one, two, local):  # start the workers, warm the sandboxes
            timed_run(SHELL, SHELL_EXPERT, shell_tasks[:sc], n=1, concurrency=sc, executor=executor, store=next(stores))
        for repeat in range(settings.repeats):
            measured = {}
            for name, executor in (("1 node", one), ("2 nodes", two), ("in-process", local)):
                measured[name], failed = timed_run(SHELL, SHELL_EXPERT, shell_tasks, n=sn, concurrency=sc,
                                                   executor=executor, store=next(stores))
                log(f"  shell C={sc} N={sn * len(shell_tasks)} {name:10s} #{repeat}: "
                    f"{sn * len(shell_tasks) / measured[name]:6.1f} ep/s{f' ({failed} failed)' if failed else ''}")
            out["shell"].append(measured)
        one.close()
        two.close()
    out["shell_n"] = settings.shell_samples * len(shell_tasks)
    return out


def rows(m: dict[str, Any]) -> list[dict[str, Any]]:
    """The table rows of `measure`'s figures."""
    s = m["settings"]
    c, n, where = s["concurrency"], s["waves"] * s["concurrency"], f"L={s['latency']:g}s C={s['concurrency']}"
    params = {"latency": s["latency"], "concurrency": c, "n": n}
    cpus = os.cpu_count()
    out = [
        row(BENCHMARK, f"{where} episodes/s in-process", unit="ep/s", note=f"N={n}, ideal {c / (2 * s['latency']):g}",
            params=params, **summarize(n / p["local"] for p in m["latency"])),
        row(BENCHMARK, f"{where} episodes/s Ray (2 nodes)", unit="ep/s", note="one worker per node, C/2 each",
            params=params, **summarize(n / p["ray"] for p in m["latency"])),
        row(BENCHMARK, f"{where} Ray/in-process episodes/s", unit="x", target=">= 0.9",
            note="ratio per repeat, same server, interleaved", params=params,
            **summarize(p["local"] / p["ray"] for p in m["latency"])),
        row(BENCHMARK, f"{where} Ray overhead per episode", unit="ms",
            note="median over episodes of (driver's wait - episode's own time), Ray less in-process", params=params,
            **summarize(p["ray_overhead_ms"] - p["local_overhead_ms"] for p in m["latency"])),
        row(BENCHMARK, "Ray worker start-up (2 workers)", m["startup"], "s",
            note="first run of a RayExecutor, less its episodes' model latency; kept workers skip it"),
    ]
    sn, sc = m["shell_n"], s["shell_concurrency"]
    for name in ("1 node", "2 nodes", "in-process"):
        out.append(row(BENCHMARK, f"shell tasks C={sc} episodes/s ({name})", unit="ep/s",
                       note=f"N={sn}, ShellExpert, a bubblewrap sandbox per command",
                       params={"concurrency": sc, "n": sn}, **summarize(sn / r[name] for r in m["shell"])))
    out.append(row(BENCHMARK, f"shell tasks C={sc} 2 nodes / 1 node", unit="x",
                   note=f"both nodes on this {cpus}-core machine share its CPUs: the cost of splitting, not a speed-up",
                   params={"concurrency": sc, "n": sn, "cpus": cpus},
                   **summarize(r["1 node"] / r["2 nodes"] for r in m["shell"])))
    return out


def settings_for(quick: bool) -> Settings:
    """QUICK or FULL, with `AGENT_GYM_BENCH_REPEATS` (an int) applied."""
    settings = asdict(QUICK if quick else FULL)
    if os.environ.get("AGENT_GYM_BENCH_REPEATS"):
        settings["repeats"] = max(1, int(os.environ["AGENT_GYM_BENCH_REPEATS"]))
    return Settings(**settings)


def run(quick: bool) -> list[dict[str, Any]]:
    """The benchmark contract: rows of the shared table (quick: ~40 s with the cluster's start; full: ~3 min)."""
    return rows(measure(settings_for(quick)))
