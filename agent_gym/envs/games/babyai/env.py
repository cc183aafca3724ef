"""BabyAI (minigrid's 96 language-instruction grid levels) as a text game.

The agent reads its 7×7 view as text ("a red ball 3 steps forward and 2 steps right") and acts
with `act(command)`: turn left, turn right, move forward, pick up, drop, toggle, or a high-level
command on an object in view (go to / pick up / open / go through, as AgentGym's BabyAI offers),
which takes the primitive steps for it; "help" lists them.
A task names a level and a seed in `Task.metadata` (`{"level": "GoToLocal", "seed": 3}`); the same
seed gives the same room, mission and observations. Reward is minigrid's: `1 - 0.9 * steps /
max_steps` when the mission is completed, else 0. `BabyAIExpert` wraps minigrid's `BabyAIBot`.

    env = BabyAIEnv()
    trajectories = run_rollouts(env, BabyAIExpert(), env.default_tasks(), max_turns=env.max_turns)
"""

from __future__ import annotations

import contextlib
import io
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import gymnasium as gym
import minigrid  # noqa: F401 - registers the BabyAI levels with gymnasium
import numpy as np
from minigrid.core.actions import Actions
from minigrid.utils.baby_ai_bot import BabyAIBot

from agent_gym.envs.games.babyai import text
from agent_gym.envs.games.text_game import (
    HELP_COMMANDS,
    Outcome,
    TextGameEnv,
    commands_in,
    opening_text,
)
from agent_gym.errors import ConfigError, PolicyError
from agent_gym.policies.base import PolicyOutput
from agent_gym.types import Message, Task, ToolCall, assistant

LEVELS: tuple[str, ...] = (
    "GoToRedBallGrey", "GoToRedBall", "GoToObj", "GoToLocal", "PickupLoc", "PutNextLocal",
    "OpenDoor", "GoToObjMaze", "GoTo", "Pickup", "UnblockPickup", "Open", "Unlock",
    "PutNextS6N3", "Synth", "SynthLoc", "GoToSeq", "SynthSeq", "MiniBossLevel", "BossLevel",
)
"""A ladder of levels from one room and one object to the BossLevel (all solved by BabyAIBot)."""

DEFAULT_LEVELS: tuple[str, ...] = (
    "GoToRedBallGrey", "GoToRedBall", "GoToObj", "GoToLocal", "PickupLoc", "PutNextLocal", "OpenDoor", "GoTo",
)
"""Levels of `default_tasks`: the rooms an LLM agent can finish within ~100 turns."""

SYSTEM_PROMPT = """You are an agent in BabyAI, a grid world of rooms, doors, keys, balls and boxes.
You see a 7x7 area in front of you (walls and closed doors block the view). Positions are given
relative to you: "3 steps forward and 2 steps right". Complete the mission in as few steps as you can.

Act by calling the act tool with exactly one command:
- turn left / turn right: face another direction (you stay in place)
- move forward: step into the cell in front of you
- pick up: take the object in front of you (you can carry one object)
- drop: put down what you carry, on the empty cell in front of you
- toggle: open or close the door in front of you (a locked door opens if you carry a key of its color)
- go to OBJECT, pick up OBJECT, open DOOR, go through DOOR: walk to an object you see (e.g. "go to the
  red ball", "go through the blue door") and act on it; every move on the way counts as a step
- help: list the commands, with the objects in view"""

_OPENING = re.compile(r"BabyAI level (\S+) \(seed (-?\d+)\)")


@cache
def level_id(level: str) -> str:
    """The gymnasium id of a level: 'GoToLocal' or 'BabyAI-GoToLocal-v0' -> 'BabyAI-GoToLocal-v0'."""
    if level in gym.registry and level.startswith("BabyAI-"):
        return level
    versions = sorted(k for k in gym.registry if re.fullmatch(rf"BabyAI-{re.escape(level)}-v\d+", k))
    if not versions:
        known = sorted({short_name(k) for k in gym.registry if k.startswith("BabyAI-")})
        raise ConfigError(f"Unknown BabyAI level {level!r}. Known levels: {', '.join(known)}.")
    return versions[-1]


def short_name(level: str) -> str:
    """'BabyAI-GoToLocal-v0' -> 'GoToLocal'."""
    return level.removeprefix("BabyAI-").rsplit("-v", 1)[0]


def make_level(level: str, seed: int) -> tuple[Any, dict[str, Any]]:
    """A fresh minigrid env of `level`, reset with `seed`; level generation's prints are captured."""
    env = gym.make(level_id(level)).unwrapped
    with contextlib.redirect_stdout(io.StringIO()):
        obs, _ = env.reset(seed=seed)
    return env, obs


def make_tasks(levels: Iterable[str] = DEFAULT_LEVELS, seeds: Iterable[int] = range(5)) -> list[Task]:
    """One task per level and seed; the prompt is the mission (generated, so it matches the game)."""
    tasks = []
    seeds = list(seeds)
    for level in levels:
        for seed in seeds:
            env, obs = make_level(level, seed)
            name = short_name(level_id(level))
            tasks.append(
                Task(
                    id=f"babyai-{name}-{seed}",
                    prompt=obs["mission"],
                    metadata={"level": name, "seed": seed, "max_steps": int(env.max_steps)},
                )
            )
            env.close()
    return tasks


@dataclass
class _Game:
    env: Any
    image: np.ndarray
    level: str
    seed: int


class BabyAIEnv(TextGameEnv):
    """BabyAI levels as a text game; see the module docstring.

    Args:
        levels: Levels of `default_tasks` (short names such as "GoToLocal").
        seeds: Seeds of `default_tasks`.
        show_actions: Append the command list to every observation.
        text_commands: Read a reply without a tool call as a command.
    """

    name = "babyai"
    system_prompt = SYSTEM_PROMPT
    max_turns = 300

    def __init__(
        self,
        levels: Sequence[str] = DEFAULT_LEVELS,
        seeds: Sequence[int] = tuple(range(5)),
        *,
        show_actions: bool = False,
        text_commands: bool = False,
    ) -> None:
        super().__init__(show_actions=show_actions, text_commands=text_commands)
        self.levels = tuple(short_name(level_id(level)) for level in levels)
        self.seeds = tuple(seeds)
        self.on_action: Callable[[Actions], None] | None = None
        """Called after every primitive action the game takes (the expert follows along with it)."""

    def default_tasks(self) -> list[Task]:
        return make_tasks(self.levels, self.seeds)

    def start(self, task: Task) -> str:
        level, seed = task.metadata.get("level"), task.metadata.get("seed")
        if not isinstance(level, str) or not isinstance(seed, int):
            raise ConfigError(
                f"BabyAI task {task.id!r} needs metadata {{'level': str, 'seed': int}}, got {task.metadata}; "
                "build tasks with agent_gym.envs.games.babyai.env.make_tasks."
            )
        env, obs = make_level(level, seed)
        self.game = _Game(env=env, image=obs["image"], level=short_name(level_id(level)), seed=seed)
        return f"BabyAI level {self.game.level} (seed {seed}). Your mission: {obs['mission']}.\n\n{text.describe(obs['image'])}"

    def command(self, command: str) -> Outcome:
        macro = text.parse_macro(command)
        if macro is not None:
            return self._macro(*macro)
        action = text.parse_command(command)
        if action is None:
            known = ", ".join([*text.COMMANDS, "go to OBJECT", "pick up OBJECT", "open DOOR", "go through DOOR"])
            return Outcome(f"Unknown command {command!r}. The commands are: {known} (or help).", valid=False)
        return self._run_actions([action])

    def _macro(self, macro: str, colour: str | None, kind: str | None) -> Outcome:
        if macro == "pick up" and kind == "door":
            return Outcome("You cannot pick up a door; open it or go through it.", valid=False)
        if macro == "go through" and kind != "door":
            return Outcome("You can only go through doors.", valid=False)
        found = text.find_target(self.game.image, colour, kind)
        if isinstance(found, str):
            return Outcome(found, valid=False)
        name, path = found
        label = "the " + name.split(" ", 1)[1]  # "a red ball" -> "the red ball"
        if macro == "pick up":
            return self._run_actions([*path, Actions.pickup])
        if macro == "open":
            if name.startswith("an open"):
                return self._run_actions(path, f"{label[0].upper()}{label[1:]} is already open.")
            return self._run_actions([*path, Actions.toggle])
        if macro == "go through":
            opening = [] if name.startswith("an open") else [Actions.toggle]
            return self._run_actions([*path, *opening, Actions.forward, Actions.forward], f"You went through {label}.")
        if not path:
            return Outcome(f"{label[0].upper()}{label[1:]} is already in front of you.", valid=False)
        steps = f"{len(path)} step{'s' if len(path) != 1 else ''}"
        return self._run_actions(path, f"You went to {label} ({steps}).")

    def _run_actions(self, actions: list[Actions], summary: str | None = None) -> Outcome:
        """Step the game through `actions` (stopping when the episode ends) and describe the result."""
        game = self.game
        total, terminated, truncated, said, done = 0.0, False, False, summary or "", []
        for action in actions:
            before = text.state_of(game.env, game.image)
            obs, reward, terminated, truncated, _ = game.env.step(action)
            game.image = obs["image"]
            total += float(reward)
            done.append(action.name)
            if self.on_action is not None:
                self.on_action(action)
            after = text.state_of(game.env, game.image)
            blocked = action is Actions.forward and after["pos"] == before["pos"]
            stopped = (terminated or truncated or blocked) and len(done) < len(actions)
            if summary is None or stopped:  # an early stop explains itself
                said = text.feedback(action, before, after)
            if stopped:
                said += f" (stopped after {len(done)} of {len(actions)} steps)"
                break
        reply = f"{said}\n{text.describe(game.image)}" if said else text.describe(game.image)
        won = terminated and total > 0
        if won:
            reply += "\nMission complete!"
        elif terminated:
            reply += "\nThe mission failed."
        elif truncated:
            reply += f"\nYou ran out of steps ({game.env.max_steps}). The mission is not complete."
        info = {"actions": done}
        return Outcome(reply, reward=total, done=terminated or truncated, won=won, valid=bool(done), info=info)

    def available_actions(self) -> list[str]:
        in_view = text.macro_commands(self.game.image)
        return [*text.COMMAND_HELP.values(), *text.MACROS.values(), *(["In view: " + "; ".join(in_view)] if in_view else [])]

    def expert(self) -> BabyAIExpert:
        return BabyAIExpert()

    def stop(self) -> None:
        if self.game is not None:
            self.game.env.close()
        self.game = None

    def config(self) -> dict[str, Any]:
        return {**super().config(), "view": "text-7x7"}


@dataclass
class _Shadow:
    env: BabyAIEnv
    bot: BabyAIBot
    commands: list[str]
    suggestion: Actions


class BabyAIExpert:
    """minigrid's `BabyAIBot` as a policy: it replays the conversation on its own copy of the level.

    The level and seed come from the opening message ("BabyAI level GoToLocal (seed 3)"). The copy
    is a `BabyAIEnv` playing the same commands (high-level ones included), and the bot follows every
    primitive action; it is kept between turns (keyed by the conversation), so a turn costs one bot step.
    The expert itself answers with primitive commands.
    """

    name = "babyai-bot"
    model: str | None = None
    sampling: dict[str, Any] = {}

    def __init__(self, max_cached: int = 256) -> None:
        self.max_cached = max_cached
        self._shadows: OrderedDict[tuple[str, int | None], _Shadow] = OrderedDict()

    async def act(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *, seed: int | None = None) -> PolicyOutput:
        opening = opening_text(messages)
        commands = commands_in(messages)
        shadow = self._shadow(opening, seed, commands)
        command = next((name for name, action in text.COMMANDS.items() if action == shadow.suggestion), None)
        if command is None:
            raise PolicyError(f"BabyAIBot suggests {shadow.suggestion!r}, which has no command; the mission may be unsolvable for it.")
        call = ToolCall(name="act", arguments={"command": command}, id=f"call_{len(commands)}")
        return PolicyOutput(assistant(tool_calls=(call,)))

    def _shadow(self, opening: str, seed: int | None, commands: list[str]) -> _Shadow:
        key = (opening, seed)
        shadow = self._shadows.pop(key, None)
        if shadow is None or shadow.commands != commands[: len(shadow.commands)]:
            match = _OPENING.search(opening)
            if match is None:
                raise PolicyError("BabyAIExpert needs the BabyAI opening message ('BabyAI level NAME (seed N)').")
            env = BabyAIEnv()
            env.start(Task(id="shadow", prompt="", metadata={"level": match.group(1), "seed": int(match.group(2))}))
            bot = BabyAIBot(env.game.env)
            shadow = _Shadow(env=env, bot=bot, commands=[], suggestion=bot.replan())

            def follow(action: Actions, shadow: _Shadow = shadow) -> None:
                shadow.suggestion = shadow.bot.replan(action)

            env.on_action = follow
        for command in commands[len(shadow.commands):]:
            shadow.commands.append(command)
            if command.strip().lower() not in HELP_COMMANDS and not shadow.env.over:
                shadow.env._apply(shadow.env.command(" ".join(command.split())))
        self._shadows[key] = shadow
        while len(self._shadows) > self.max_cached:
            self._shadows.popitem(last=False)[1].env.stop()
        return shadow
