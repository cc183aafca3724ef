"""ScienceWorld (30 elementary-science tasks in a simulated house) as a text game. Optional.

Needs `pip install scienceworld` (a 7 MB wheel holding the simulator's jar) and Java 17+; each
running game is a JVM of ~0.5-0.7 GB. A task names a ScienceWorld task and a variation in
`Task.metadata` (`{"task": "boil", "variation": 3}`); the same variation gives the same world.

The agent acts with `act(command)` using ScienceWorld's commands ("look around", "open door to
kitchen", "pick up thermometer", "focus on orange juice", "teleport to kitchen" with the default
"easy" simplifications). "help" lists the action templates and the objects in view. Each step's
reward is the gain in ScienceWorld's score (0-1); success means the task is completed.
`ScienceWorldExpert` plays the simulator's gold path.

Steps use the simulator's raw `step` (6-200 ms); the valid-action list, which costs as much again,
is fetched only for "help". At most `MAX_JVMS` games run at once in a process (more concurrent
episodes wait for a free one: set `$AGENT_GYM_SCIENCEWORLD_JVMS` to change it). Finished games hand
their JVM back to a small pool, so the next episode skips the JVM start (~2 s); `shutdown_jvms()`
(also run at exit) stops the idle ones.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from agent_gym.envs.games.text_game import Outcome, TextGameEnv, commands_in, opening_text
from agent_gym.errors import ConfigError, EnvError, PolicyError
from agent_gym.policies.base import PolicyOutput
from agent_gym.types import Message, Task, ToolCall, assistant

DEFAULT_TASKS: tuple[str, ...] = (
    "find-non-living-thing", "find-animal", "find-plant", "lifespan-longest-lived", "lifespan-shortest-lived",
    "power-component", "chemistry-mix-paint-secondary-color", "identify-life-stages-2", "use-thermometer",
    "test-conductivity", "freeze", "melt",
)
"""Task types of `default_tasks`: those whose gold paths take 5-40 steps."""

SYSTEM_PROMPT = """You are an agent in ScienceWorld, a simulated house where you do elementary science experiments.
Read the task and complete it. Act by calling the act tool with exactly one command, for example
"look around", "teleport to kitchen", "open cupboard", "pick up thermometer", "focus on orange juice",
"move orange juice to freezer", "use thermometer on orange juice", "wait1", "inventory".
Many tasks ask you to "focus on" the right object: focusing on a wrong one fails the task.
Use "help" to list the action templates and the objects you can use now."""

MAX_JVMS = int(os.environ.get("AGENT_GYM_SCIENCEWORLD_JVMS", "2"))
"""How many games (JVMs of ~0.6 GB) may run at once in this process; more episodes wait."""
MAX_IDLE_JVMS = 2
"""How many idle simulator JVMs the process keeps for reuse."""

_OPENING = re.compile(r"ScienceWorld task (\S+), variation (\d+) \(simplifications: ([^)]*)\)")
_FORBIDDEN = frozenset({"reset task", "reset", "quit", "exit"})
_POOL: list[Any] = []
_POOL_LOCK = threading.Lock()
_GOLD: dict[tuple[str, int, str], list[str]] = {}
_SLOTS = threading.BoundedSemaphore(MAX_JVMS)


def _require_scienceworld() -> Any:
    try:
        import scienceworld
    except ImportError as exc:
        raise EnvError(
            "ScienceWorldEnv needs the optional scienceworld package and Java 17+: pip install scienceworld."
        ) from exc
    return scienceworld


def _acquire_simulator() -> Any:
    with _POOL_LOCK:
        if _POOL:
            return _POOL.pop()
    return _require_scienceworld().ScienceWorldEnv("", envStepLimit=1_000_000)


def _release_simulator(simulator: Any) -> None:
    with _POOL_LOCK:
        if len(_POOL) < MAX_IDLE_JVMS:
            _POOL.append(simulator)
            return
    simulator.close()


def shutdown_jvms() -> int:
    """Stop the idle simulator JVMs; returns how many were stopped."""
    with _POOL_LOCK:
        idle = list(_POOL)
        _POOL.clear()
    for simulator in idle:
        simulator.close()
    return len(idle)


atexit.register(shutdown_jvms)


def make_tasks(task_names: Iterable[str] = DEFAULT_TASKS, variations: Iterable[int] = range(2)) -> list[Task]:
    """One task per ScienceWorld task name and variation index."""
    variations = list(variations)
    return [
        Task(
            id=f"sciworld-{name}-{variation}",
            prompt=f"Complete the ScienceWorld task {name} (variation {variation}).",
            metadata={"task": name, "variation": variation},
        )
        for name in task_names
        for variation in variations
    ]


@dataclass
class _Game:
    simulator: Any
    key: tuple[str, int, str]
    slot: bool
    score: float = 0.0


class ScienceWorldEnv(TextGameEnv):
    """ScienceWorld as a text game; see the module docstring.

    Args:
        task_names: Task types of `default_tasks`.
        variations: Variation indices of `default_tasks`.
        simplification: ScienceWorld simplifications ("easy": teleport, open doors, no electrical
            actions where possible; "" for none).
        show_actions: Append the action templates to every observation.
        text_commands: Read a reply without a tool call as a command.
    """

    name = "scienceworld"
    system_prompt = SYSTEM_PROMPT
    blocking = True
    max_turns = 60

    def __init__(
        self,
        task_names: Sequence[str] = DEFAULT_TASKS,
        variations: Sequence[int] = (0, 1),
        simplification: str = "easy",
        *,
        show_actions: bool = False,
        text_commands: bool = False,
    ) -> None:
        _require_scienceworld()
        super().__init__(show_actions=show_actions, text_commands=text_commands)
        self.task_names, self.variations, self.simplification = tuple(task_names), tuple(variations), simplification
        self._slot_for_start = False

    def default_tasks(self) -> list[Task]:
        return make_tasks(self.task_names, self.variations)

    async def reset(self, task: Task) -> list[Message]:
        await self._run(self.stop)
        while not _SLOTS.acquire(blocking=False):  # polled: a thread blocked here could starve the others
            await asyncio.sleep(0.05)
        self._slot_for_start = True
        try:
            return await super().reset(task)
        except BaseException:
            if self.game is None:
                _SLOTS.release()
            self._slot_for_start = False
            raise

    def start(self, task: Task) -> str:
        name, variation = task.metadata.get("task"), task.metadata.get("variation")
        if not isinstance(name, str) or not isinstance(variation, int):
            raise ConfigError(
                f"ScienceWorld task {task.id!r} needs metadata {{'task': str, 'variation': int}}, got {task.metadata}; "
                "build tasks with agent_gym.envs.games.scienceworld.make_tasks."
            )
        key = (name, variation, self.simplification)
        # reset() took a slot for this game; a mid-episode clone takes one if free (else runs over the limit)
        from_reset, self._slot_for_start = self._slot_for_start, False
        slot = from_reset or _SLOTS.acquire(blocking=False)
        try:
            simulator = _acquire_simulator()
        except BaseException:
            if slot and not from_reset:  # reset() gives its own slot back
                _SLOTS.release()
            raise
        self.game = _Game(simulator=simulator, key=key, slot=slot)
        load_task(simulator, key)
        look = simulator.server.step("look around")
        self.game.score = float(simulator.server.getScore())
        description = simulator.server.freeActionTaskDesc().replace("Task Description:", "").strip()
        return (
            f"ScienceWorld task {name}, variation {variation} (simplifications: {self.simplification}).\n\n"
            f"{description}\n\n{look.strip()}"
        )

    def command(self, command: str) -> Outcome:
        if command.lower() in _FORBIDDEN:
            return Outcome(f"{command!r} is not allowed here.", valid=False)
        game = self.game
        server = game.simulator.server
        reply = server.step(command).strip()
        if reply.startswith("No known action matches that input."):
            return Outcome(f'{reply} Use "help" to list the action templates and objects.', valid=False)
        score = float(server.getScore())
        gained, game.score = score - game.score, score
        completed = bool(server.getCompleted())
        won, lost = completed and score >= 1.0, score < 0
        if won:
            reply += "\nTask completed!"
        elif lost or completed:
            reply += "\nThe task failed."
        info = {"score": score}
        return Outcome(reply, reward=gained, done=completed or lost, won=won, info=info)

    def available_actions(self) -> list[str]:
        simulator = self.game.simulator
        objects = sorted(set(simulator.get_possible_objects()))
        templates = [t for t in simulator.get_possible_actions() if t not in _FORBIDDEN]
        return [*templates, "Objects you can use (put them in place of OBJ): " + ", ".join(objects)]

    def expert(self) -> ScienceWorldExpert:
        return ScienceWorldExpert()

    def stop(self) -> None:
        game, self.game = self.game, None
        if game is not None:
            _release_simulator(game.simulator)
            if game.slot:
                _SLOTS.release()

    def config(self) -> dict[str, Any]:
        return {**super().config(), "simplification": self.simplification}


def load_task(simulator: Any, key: tuple[str, int, str]) -> list[str]:
    """Load a task variation into a simulator and return (and cache) its gold path."""
    name, variation, simplification = key
    try:
        simulator.load(name, variation, simplification, generateGoldPath=True)
    except ValueError as exc:  # unknown task or simplification: the simulator's message lists the valid ones
        raise ConfigError(str(exc)) from exc
    gold = list(simulator.get_gold_action_sequence())
    _GOLD[key] = gold
    return gold


def gold_path(key: tuple[str, int, str]) -> list[str]:
    """The gold path of a task variation (cached; computed on an idle simulator if needed)."""
    if key not in _GOLD:
        simulator = _acquire_simulator()
        try:
            load_task(simulator, key)
        finally:
            _release_simulator(simulator)
    return _GOLD[key]


class ScienceWorldExpert:
    """Plays the simulator's gold path for the task named in the opening message."""

    name = "scienceworld-gold"
    model: str | None = None
    sampling: dict[str, Any] = {}

    async def act(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *, seed: int | None = None) -> PolicyOutput:
        match = _OPENING.search(opening_text(messages))
        if match is None:
            raise PolicyError("ScienceWorldExpert needs the ScienceWorld opening message ('ScienceWorld task NAME, variation N').")
        key = (match.group(1), int(match.group(2)), match.group(3))
        steps = _GOLD[key] if key in _GOLD else await asyncio.to_thread(gold_path, key)
        done = len(commands_in(messages))
        command = steps[done] if done < len(steps) else "look around"
        call = ToolCall(name="act", arguments={"command": command}, id=f"call_{done}")
        return PolicyOutput(assistant(tool_calls=(call,)))

