"""TextWorld: generated interactive-fiction games (rooms, containers, keys, a quest) as a text game.

Games are generated offline with TextWorld's generator, deterministically from a level and a seed,
and cached as `.z8` files (`~/.cache/agent_gym/textworld/`, or `$AGENT_GYM_TEXTWORLD_DIR`, or
`game_dir=`); the first use of a game takes ~1-5 s, later ones ~0.3 s. Pre-generate a task set at
set-up time with `prepare_games(tasks)` or `python -m agent_gym.envs.games.textworld prepare`.

The agent acts with `act(command)` using the game's own parser ("open fridge", "take apple from
fridge", "go east"); "help" lists the commands that make sense now (TextWorld's admissible
commands). Reward per step is the score gained divided by the game's maximum score, so an episode's
total reward is its normalised score; success means the quest is won. `TextWorldExpert` plays the
game's walkthrough.

Needs the `textworld` package (`pip install textworld`; Linux/macOS).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_gym.envs.games.text_game import Outcome, TextGameEnv, commands_in, opening_text
from agent_gym.errors import ConfigError, EnvError, PolicyError
from agent_gym.policies.base import PolicyOutput
from agent_gym.types import Message, Task, ToolCall, assistant

LEVELS: dict[int, dict[str, int]] = {
    1: {"rooms": 1, "objects": 4, "quest_length": 2},
    2: {"rooms": 3, "objects": 6, "quest_length": 3},
    3: {"rooms": 5, "objects": 10, "quest_length": 5},
    4: {"rooms": 8, "objects": 15, "quest_length": 8},
}
"""Generation settings per difficulty level: rooms, minimum objects, quest length (walkthrough steps)."""

SYSTEM_PROMPT = """You are playing a text adventure (TextWorld). Read the objective and complete it.
Act by calling the act tool with exactly one command in plain English, for example
"look", "inventory", "go east", "open fridge", "take apple from fridge", "put apple on table",
"unlock box with key", "examine chest". Use "help" to list the commands that make sense right now."""

_GAME_NAME = re.compile(r"TextWorld game (tw-l\d+-s-?\d+-[0-9a-f]{8})")
_LOCK = threading.RLock()
"""TextWorld's logic parser (tatsu) is not thread-safe: every call into textworld holds this lock."""
_MAX_DRAWS = 20


def _require_textworld() -> Any:
    try:
        import textworld
    except ImportError as exc:
        raise EnvError(
            "TextWorldEnv needs the textworld package: pip install textworld (Linux/macOS; it builds jericho)."
        ) from exc
    return textworld


_GENERATOR_VERSION = 2
"""Bumped when generation changes, so cached games of an older generator are not reused."""


def default_game_dir() -> Path:
    """Where generated games are cached: `$AGENT_GYM_TEXTWORLD_DIR` or `~/.cache/agent_gym/textworld`."""
    env = os.environ.get("AGENT_GYM_TEXTWORLD_DIR")
    return Path(env) if env else Path.home() / ".cache" / "agent_gym" / "textworld"


def game_name(level: int, seed: int) -> str:
    """The file stem of a game: level, seed and a hash of the generation settings and version."""
    if level not in LEVELS:
        raise ConfigError(f"TextWorld level must be one of {sorted(LEVELS)}, got {level!r}.")
    textworld = _require_textworld()
    settings = json.dumps([LEVELS[level], textworld.__version__, _GENERATOR_VERSION], sort_keys=True)
    return f"tw-l{level}-s{seed}-{hashlib.sha256(settings.encode()).hexdigest()[:8]}"


def ensure_game(level: int, seed: int, game_dir: str | os.PathLike[str] | None = None) -> Path:
    """The `.z8` file of a game, generated first if it is not cached (safe across threads and processes)."""
    directory = Path(game_dir) if game_dir is not None else default_game_dir()
    name = game_name(level, seed)
    path = directory / f"{name}.z8"
    if path.exists() and path.with_suffix(".json").exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f"{name}.lock", "w") as lock, _LOCK:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (path.exists() and path.with_suffix(".json").exists()):
            _generate_in_fresh_process(level, seed, directory, name)
    return path


def _generate_in_fresh_process(level: int, seed: int, directory: Path, name: str) -> None:
    """Generate in a fresh interpreter that loads TextWorld's data files in a fixed order (see `main`),
    so a (level, seed) gives the same game on every machine and install."""
    argv = [sys.executable, "-m", "agent_gym.envs.games.textworld", "generate", str(level), str(seed), str(directory), name]
    result = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    if result.returncode != 0:
        raise EnvError(f"TextWorld game generation failed (level {level}, seed {seed}):\n{result.stderr[-2000:]}")


def _generate(level: int, seed: int, directory: Path, name: str) -> None:
    """Generate the game; a draw whose walkthrough does not win (TextWorld's parser sometimes asks
    "which do you mean?") is rejected and redrawn from a derived seed, deterministically."""
    textworld = _require_textworld()
    settings = LEVELS[level]
    for attempt in range(_MAX_DRAWS):
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            options = textworld.GameOptions()
            options.seeds = seed + 100_000 * attempt
            options.nb_rooms = settings["rooms"]
            options.nb_objects = settings["objects"]
            length = settings["quest_length"]
            options.chaining.min_length = options.chaining.max_length = options.chaining.max_depth = length
            options.path = str(Path(tmp) / f"{name}.z8")
            options.file_ext = ".z8"
            options.force_recompile = True
            with contextlib.redirect_stdout(io.StringIO()):
                _, game = textworld.make(options)
            if not _walkthrough_wins(textworld, options.path, game.metadata["walkthrough"]):
                continue
            for suffix in (".ni", ".json", ".z8"):  # the .z8 last: its presence means the game is complete
                os.replace(Path(tmp) / f"{name}{suffix}", directory / f"{name}{suffix}")
            return
    raise EnvError(f"TextWorld could not generate a winnable game for level {level}, seed {seed} in {_MAX_DRAWS} draws.")


def _walkthrough_wins(textworld: Any, path: str, walkthrough: Sequence[str]) -> bool:
    env = textworld.start(path, request_infos=textworld.EnvInfos(won=True))
    try:
        state = env.reset()
        for command in walkthrough:
            state, _, _ = env.step(command)
        return bool(state["won"])
    finally:
        env.close()


def prepare_games(tasks: Iterable[Task], game_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Generate (or find cached) the games of `tasks`; call it at set-up time."""
    return [ensure_game(int(t.metadata["level"]), int(t.metadata["seed"]), game_dir) for t in tasks]


def make_tasks(levels: Iterable[int] = (1, 2, 3), seeds: Iterable[int] = range(5)) -> list[Task]:
    """One task per level and seed (the games themselves are generated on first use)."""
    seeds = list(seeds)
    return [
        Task(
            id=f"textworld-l{level}-{seed}",
            prompt=f"Complete the quest of TextWorld game level {level}, seed {seed}.",
            metadata={"level": level, "seed": seed, **LEVELS[level]},
        )
        for level in levels
        for seed in seeds
    ]


def clean(text: str) -> str:
    """Game text without TextWorld's banner, prompt and status lines, and the restart question."""
    lines = []
    for line in text.splitlines():
        if line.lstrip().startswith(">") or (line.strip() and not any(c.isalnum() for c in line)):
            continue  # the prompt and status line, or the ASCII-art banner
        if "Would you like to RESTART" in line or "Please give one of the answers" in line:
            continue
        lines.append(line.strip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


@dataclass
class _Game:
    env: Any
    state: Any
    name: str
    score: float
    max_score: float


class TextWorldEnv(TextGameEnv):
    """TextWorld games as a text game; see the module docstring.

    Args:
        levels: Levels of `default_tasks` (1-4).
        seeds: Seeds of `default_tasks`.
        game_dir: Game cache directory (default `default_game_dir()`).
        show_actions: Append the admissible commands to every observation.
        text_commands: Read a reply without a tool call as a command.
    """

    name = "textworld"
    system_prompt = SYSTEM_PROMPT
    blocking = True
    max_turns = 50

    def __init__(
        self,
        levels: Sequence[int] = (1, 2, 3),
        seeds: Sequence[int] = tuple(range(5)),
        game_dir: str | os.PathLike[str] | None = None,
        *,
        show_actions: bool = False,
        text_commands: bool = False,
    ) -> None:
        _require_textworld()
        super().__init__(show_actions=show_actions, text_commands=text_commands)
        self.levels, self.seeds = tuple(levels), tuple(seeds)
        self.game_dir = Path(game_dir) if game_dir is not None else default_game_dir()

    def default_tasks(self) -> list[Task]:
        return make_tasks(self.levels, self.seeds)

    def start(self, task: Task) -> str:
        level, seed = task.metadata.get("level"), task.metadata.get("seed")
        if not isinstance(level, int) or not isinstance(seed, int):
            raise ConfigError(
                f"TextWorld task {task.id!r} needs metadata {{'level': int, 'seed': int}}, got {task.metadata}; "
                "build tasks with agent_gym.envs.games.textworld.make_tasks."
            )
        textworld = _require_textworld()
        path = ensure_game(level, seed, self.game_dir)
        infos = textworld.EnvInfos(admissible_commands=True, max_score=True, won=True, lost=True, objective=True)
        with _LOCK:
            env = textworld.start(str(path), request_infos=infos)
            state = env.reset()
        self.game = _Game(env=env, state=state, name=path.stem, score=0.0, max_score=float(state["max_score"] or 1))
        return f"TextWorld game {path.stem}.\n\n{clean(state['feedback'])}"

    def command(self, command: str) -> Outcome:
        game = self.game
        admissible = command.lower() in {c.lower() for c in game.state["admissible_commands"] or ()}
        with _LOCK:
            state, score, done = game.env.step(command)
        game.state = state
        gained = (float(score) - game.score) / game.max_score
        game.score = float(score)
        reply = clean(state["feedback"]) or "Nothing happens."
        if not admissible and not done:
            reply += '\n(That command does not fit here; use "help" to list the commands that do.)'
        won, lost = bool(state["won"]), bool(state["lost"])
        if won:
            reply += "\nYou won!"
        elif lost:
            reply += "\nYou lost."
        info = {"score": game.score, "max_score": game.max_score, "inadmissible": int(not admissible)}
        return Outcome(reply, reward=gained, done=bool(done or won or lost), won=won, info=info)

    def available_actions(self) -> list[str]:
        return sorted(self.game.state["admissible_commands"] or ())

    def expert(self) -> TextWorldExpert:
        return TextWorldExpert(self.game_dir)

    def stop(self) -> None:
        if self.game is not None:
            with _LOCK:
                self.game.env.close()
        self.game = None

    def config(self) -> dict[str, Any]:
        return {**super().config(), "levels": {str(k): v for k, v in LEVELS.items()}}


class TextWorldExpert:
    """Plays the walkthrough stored with the game (found in the game cache by the opening message)."""

    name = "textworld-walkthrough"
    model: str | None = None
    sampling: dict[str, Any] = {}

    def __init__(self, game_dir: str | os.PathLike[str] | None = None) -> None:
        self.game_dir = Path(game_dir) if game_dir is not None else default_game_dir()
        self._walkthroughs: dict[str, list[str]] = {}

    def walkthrough(self, name: str) -> list[str]:
        """The walkthrough of the cached game `name`."""
        if name not in self._walkthroughs:
            path = self.game_dir / f"{name}.json"
            if not path.exists():
                raise PolicyError(f"TextWorldExpert: no game {name!r} in {self.game_dir}; pass the env's game_dir.")
            self._walkthroughs[name] = list(json.loads(path.read_text())["metadata"]["walkthrough"])
        return self._walkthroughs[name]

    async def act(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *, seed: int | None = None) -> PolicyOutput:
        match = _GAME_NAME.search(opening_text(messages))
        if match is None:
            raise PolicyError("TextWorldExpert needs the TextWorld opening message ('TextWorld game NAME.').")
        steps = self.walkthrough(match.group(1))
        done = len(commands_in(messages))
        command = steps[done] if done < len(steps) else "look"
        call = ToolCall(name="act", arguments={"command": command}, id=f"call_{done}")
        return PolicyOutput(assistant(tool_calls=(call,)))


def main(argv: list[str] | None = None) -> int:
    """`python -m agent_gym.envs.games.textworld prepare [--levels 1 2 3] [--seeds 0 1 2 3 4] [--dir D]`."""
    parser = argparse.ArgumentParser(prog="python -m agent_gym.envs.games.textworld")
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["generate"]:  # internal: one game, in the fresh process `ensure_game` starts
        # TextWorld loads its grammar and logic files in glob order, which is the file system's
        # directory order and differs between installs; sorted, the same seed gives the same game
        # everywhere. (This process does nothing else, so the patch stays contained.)
        unordered = glob.glob
        glob.glob = lambda *args, **kwargs: sorted(unordered(*args, **kwargs))
        level, seed, directory, name = argv[1:5]
        _generate(int(level), int(seed), Path(directory), name)
        return 0
    parser.add_argument("command", choices=["prepare"])
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(5)))
    parser.add_argument("--dir", default=None, help="Game cache directory (default: %(default)s -> default_game_dir()).")
    args = parser.parse_args(argv)
    for path in prepare_games(make_tasks(args.levels, args.seeds), args.dir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
