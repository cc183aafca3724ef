"""Text games: steps/s through the env API next to the raw library's own step, and expert success rates.

    .venv/bin/python benchmarks/bench_text_games.py            # prints a table, writes runs/bench/text_games-<time>.json
    .venv/bin/python benchmarks/bench_text_games.py --quick
    .venv/bin/python -m benchmarks --only text_games           # as part of the shared table

For each game the same command sequences (the expert's own, from a first run) are replayed twice per
repeat, interleaved: once through the raw library (minigrid's `env.step(action)`, TextWorld's
`env.step(text)`, ScienceWorld's raw `server.step(text)`; TextCraft is implemented in the project, so
its "raw" step is the game hook `TextCraftEnv.command`) and once through the env API
(`await env.step(assistant message with an act tool call)`, which parses the call, renders the text
and builds the `StepResult`). The overhead is the difference of the two per-step times, repeat by
repeat; figures are medians with [min, max]. Expert success is measured with `run_rollouts_async` over
seeded tasks. ScienceWorld is measured when the optional package and Java are there (full runs only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:
    from .common import row, summarize
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import row, summarize

from agent_gym import Message, ToolCall, assistant, run_rollouts_async
from agent_gym.envs.games.text_game import TextGameEnv, commands_in

BENCHMARK = "text_games"


def act(command: str) -> Message:
    return assistant(tool_calls=(ToolCall(name="act", arguments={"command": command}, id="c"),))


# ---- one game's measurements -------------------------------------------------------------------


async def expert_run(env: TextGameEnv, expert: Any, tasks: list, max_turns: int, concurrency: int) -> dict[str, Any]:
    """Success rate, episodes/s and the command sequences of an expert run."""
    t0 = time.perf_counter()
    runs = await run_rollouts_async(env, expert, tasks, max_turns=max_turns, max_concurrency=concurrency, progress=False)
    seconds = time.perf_counter() - t0
    return {
        "success": sum(bool(t.success) for t in runs) / len(runs),
        "episodes": len(runs),
        "errors": sum(t.error is not None for t in runs),
        "episodes_per_s": len(runs) / seconds,
        "turns": sum(t.num_turns for t in runs) / len(runs),
        "episodes_commands": [(task, commands_in(t.messages)) for task, t in zip(tasks, runs, strict=True)],
    }


async def env_api_seconds(env: TextGameEnv, episodes: list[tuple[Any, list[str]]]) -> tuple[float, int]:
    """Seconds spent in `env.step` (resets excluded) replaying the episodes, and the step count."""
    spent, steps = 0.0, 0
    for task, commands in episodes:
        await env.reset(task)
        messages = [act(c) for c in commands]
        t0 = time.perf_counter()
        for message in messages:
            await env.step(message)
        spent += time.perf_counter() - t0
        steps += len(commands)
        await env.close()
    return spent, steps


def paired(raw: Callable[[], tuple[float, int]], api: Callable[[], tuple[float, int]], repeats: int) -> dict[str, list[float]]:
    """Per-step seconds of the raw library and of the env API, interleaved repeat by repeat."""
    out: dict[str, list[float]] = {"raw": [], "api": [], "overhead": []}
    for _ in range(repeats):
        raw_s, raw_n = raw()
        api_s, api_n = api()
        out["raw"].append(raw_s / raw_n)
        out["api"].append(api_s / api_n)
        out["overhead"].append(api_s / api_n - raw_s / raw_n)
    return out


def game_rows(game: str, note_raw: str, timing: dict[str, list[float]], expert: dict[str, Any],
              overhead_target: str | None = None) -> list[dict[str, Any]]:
    """The table rows of one game."""
    api_rate = [1 / s for s in timing["api"]]
    raw_rate = [1 / s for s in timing["raw"]]
    return [
        row(BENCHMARK, f"{game}: env API steps/s", unit="steps/s", note="await env.step(act(command)), expert commands",
            **summarize(api_rate)),
        row(BENCHMARK, f"{game}: raw library steps/s", unit="steps/s", note=note_raw, **summarize(raw_rate)),
        row(BENCHMARK, f"{game}: env overhead per step", unit="ms", target=overhead_target,
            note="env API step - raw step, same commands, paired per repeat",
            **summarize([1000 * s for s in timing["overhead"]])),
        row(BENCHMARK, f"{game}: expert success", expert["success"], unit="", target=">= 0.95",
            note=f"{expert['episodes']} seeded tasks, run_rollouts_async, {expert['errors']} errors, "
                 f"{expert['turns']:.1f} turns/episode, {expert['episodes_per_s']:.1f} episodes/s",
            params={"episodes": expert["episodes"]}),
    ]


# ---- the games ----------------------------------------------------------------------------------


def bench_babyai(quick: bool, repeats: int) -> list[dict[str, Any]]:
    from agent_gym.envs import babyai_text
    from agent_gym.envs.games.babyai.env import (
        DEFAULT_LEVELS,
        BabyAIEnv,
        BabyAIExpert,
        make_level,
        make_tasks,
    )

    env = BabyAIEnv()
    tasks = make_tasks(DEFAULT_LEVELS, range(2 if quick else 10))
    expert = asyncio.run(expert_run(env, BabyAIExpert(), tasks, env.max_turns, 8))
    episodes = expert["episodes_commands"]

    def raw() -> tuple[float, int]:
        spent, steps = 0.0, 0
        for task, commands in episodes:
            game, _ = make_level(task.metadata["level"], task.metadata["seed"])
            actions = [babyai_text.parse_command(c) for c in commands]
            t0 = time.perf_counter()
            for action in actions:
                game.step(action)
            spent += time.perf_counter() - t0
            steps += len(actions)
        return spent, steps

    timing = paired(raw, lambda: asyncio.run(env_api_seconds(env, episodes)), repeats)
    return game_rows("babyai", "minigrid env.step(action) (obs encoding included)", timing, expert, "< 1")


def bench_textcraft(quick: bool, repeats: int) -> list[dict[str, Any]]:
    from agent_gym.envs.games.textcraft.env import TextCraftEnv, TextCraftExpert, make_tasks

    env = TextCraftEnv()
    tasks = make_tasks(seeds=range(5 if quick else 50))
    expert = asyncio.run(expert_run(env, TextCraftExpert(), tasks, env.max_turns, 8))
    episodes = expert["episodes_commands"]

    def raw() -> tuple[float, int]:
        spent, steps = 0.0, 0
        game = TextCraftEnv()
        for task, commands in episodes:
            game.start(task)
            t0 = time.perf_counter()
            for command in commands:
                game.command(command)
            spent += time.perf_counter() - t0
            steps += len(commands)
        return spent, steps

    timing = paired(raw, lambda: asyncio.run(env_api_seconds(env, episodes)), repeats)
    return game_rows("textcraft", "the game hook TextCraftEnv.command (the game is the project's own)", timing, expert)


def bench_textworld(quick: bool, repeats: int) -> list[dict[str, Any]]:
    try:
        import textworld
    except ImportError:
        return [row(BENCHMARK, "textworld", None, note="textworld is not installed (pip install textworld)")]
    from agent_gym.envs.games.textworld import (
        TextWorldEnv,
        TextWorldExpert,
        ensure_game,
        make_tasks,
    )

    env = TextWorldEnv()
    tasks = make_tasks((1, 2) if quick else (1, 2, 3, 4), range(2 if quick else 5))
    t0 = time.perf_counter()
    paths = {t.id: ensure_game(t.metadata["level"], t.metadata["seed"], env.game_dir) for t in tasks}
    print(f"textworld: {len(paths)} games ready in {time.perf_counter() - t0:.1f}s (generated once, then cached)")
    expert = asyncio.run(expert_run(env, TextWorldExpert(env.game_dir), tasks, env.max_turns, 2))
    extra = ["look", "inventory", "help"]
    episodes = [(task, [*extra[:2], *commands]) for task, commands in expert["episodes_commands"]]
    infos = textworld.EnvInfos(admissible_commands=True, max_score=True, won=True, lost=True, objective=True)

    def raw() -> tuple[float, int]:
        spent, steps = 0.0, 0
        for task, commands in episodes:
            game = textworld.start(str(paths[task.id]), request_infos=infos)
            game.reset()
            t0 = time.perf_counter()
            for command in commands:
                game.step(command)
            spent += time.perf_counter() - t0
            steps += len(commands)
            game.close()
        return spent, steps

    timing = paired(raw, lambda: asyncio.run(env_api_seconds(env, episodes)), repeats)
    return game_rows("textworld", "textworld env.step(text) with the same infos (admissible commands)", timing, expert)


def bench_scienceworld(quick: bool, repeats: int) -> list[dict[str, Any]]:
    if quick:
        return [row(BENCHMARK, "scienceworld", None, note="skipped in quick runs (a JVM per game)")]
    try:
        import scienceworld  # noqa: F401
    except ImportError:
        return [row(BENCHMARK, "scienceworld", None, note="optional: pip install scienceworld (needs Java 17+)")]
    if shutil.which("java") is None:
        return [row(BENCHMARK, "scienceworld", None, note="optional: needs Java 17+")]
    from agent_gym.envs.games import scienceworld as sw

    env = sw.ScienceWorldEnv()
    tasks = sw.make_tasks(sw.DEFAULT_TASKS, [0, 1])
    expert = asyncio.run(expert_run(env, sw.ScienceWorldExpert(), tasks, env.max_turns, 2))
    episodes = expert["episodes_commands"][:6]

    def raw() -> tuple[float, int]:
        spent, steps = 0.0, 0
        simulator = sw._acquire_simulator()
        try:
            for task, commands in episodes:
                sw.load_task(simulator, (task.metadata["task"], task.metadata["variation"], env.simplification))
                simulator.server.step("look around")
                t0 = time.perf_counter()
                for command in commands:
                    simulator.server.step(command)
                    simulator.server.getScore()
                    simulator.server.getCompleted()
                spent += time.perf_counter() - t0
                steps += len(commands)
        finally:
            sw._release_simulator(simulator)
        return spent, steps

    timing = paired(raw, lambda: asyncio.run(env_api_seconds(env, episodes)), max(1, repeats - 1))
    rows = game_rows("scienceworld", "server.step + getScore + getCompleted", timing, expert)
    rows.append(package_step_row(sw, env.simplification, episodes[:2]))
    sw.shutdown_jvms()
    return rows


def package_step_row(sw: Any, simplification: str, episodes: list[tuple[Any, list[str]]]) -> dict[str, Any]:
    """Per-step ms of the scienceworld package's own `env.step`, which also lists the valid actions."""
    simulator = sw._acquire_simulator()
    samples = []
    try:
        for task, commands in episodes:
            sw.load_task(simulator, (task.metadata["task"], task.metadata["variation"], simplification))
            simulator.reset()
            for command in commands:
                t0 = time.perf_counter()
                simulator.step(command)
                samples.append(1000 * (time.perf_counter() - t0))
    finally:
        sw._release_simulator(simulator)
    return row(BENCHMARK, "scienceworld: the package's env.step", unit="ms",
               note="ScienceWorldEnv.step of the scienceworld package (lists valid actions every step); "
                    "our env calls the raw server step and lists actions only for help",
               **summarize(samples))


GAMES = {"babyai": bench_babyai, "textcraft": bench_textcraft, "textworld": bench_textworld,
         "scienceworld": bench_scienceworld}


def run(quick: bool) -> list[dict[str, Any]]:
    """The rows of every game (benchmarks/README.md's contract)."""
    repeats = 3 if quick else 5
    rows: list[dict[str, Any]] = []
    for name, bench in GAMES.items():
        t0 = time.perf_counter()
        rows.extend(bench(quick, repeats))
        print(f"{name}: measured in {time.perf_counter() - t0:.1f}s", flush=True)
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small settings (seconds), no ScienceWorld")
    parser.add_argument("--out", default="runs/bench", help="folder for the JSON result")
    args = parser.parse_args(argv)
    rows = run(args.quick)
    from benchmarks.runner import table

    print()
    print(table(rows))
    result = {
        "benchmark": BENCHMARK,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": __import__("os").cpu_count()},
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
