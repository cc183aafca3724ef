"""TextCraft: craft a Minecraft-style goal item from a list of recipes, in text.

The opening message lists crafting commands (the recipes the goal needs plus a few distractors)
and the goal. The agent acts with `act(command)`:

    get 2 oak log                            gather a base item (one that no recipe makes)
    craft 4 oak planks using 1 oak log       craft with a recipe (counts may be multiples)
    inventory                                list what you hold
    help                                     the commands and the recipes again

The episode ends with reward 1 when the goal item is in the inventory. Tasks are generated from a
seed at a depth level (1-4: how many crafting steps lie between base items and the goal), from the
project's own recipe book (`textcraft_recipes`). `TextCraftExpert` plans from the opening text alone.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent_gym.envs.games.text_game import Outcome, TextGameEnv, commands_in, opening_text
from agent_gym.envs.games.textcraft.recipes import (
    BASE_ITEMS,
    MAX_DEPTH,
    RECIPES,
    Recipe,
    items_at_depth,
)
from agent_gym.errors import ConfigError, PolicyError
from agent_gym.policies.base import PolicyOutput
from agent_gym.types import Message, Task, ToolCall, assistant

SYSTEM_PROMPT = """You are playing TextCraft, a crafting game. Craft the goal item using the crafting commands you are given.
Act by calling the act tool with exactly one command:
- get N ITEM: gather N of a base item (items that no recipe makes), e.g. "get 2 oak log"
- craft N ITEM using M INGREDIENT, K INGREDIENT: craft with one of the recipes, e.g. "craft 4 oak planks using 1 oak log"
  (you may craft a multiple of a recipe: "craft 8 oak planks using 2 oak log")
- inventory: list what you hold
- help: show the commands and recipes again
The game ends when the goal item is in your inventory."""

MAX_GET = 64
"""The most of one item a single `get` gathers."""

_GET = re.compile(r"^(?:get|fetch|gather|collect|obtain)\s+(?:(\d+)\s+)?(.+)$", re.IGNORECASE)
_CRAFT = re.compile(r"^craft\s+(?:(\d+)\s+)?(.+?)(?:\s+(?:using|from|with)\s+(.+))?$", re.IGNORECASE)
_INGREDIENT = re.compile(r"^(?:(\d+)\s+)?(.+)$")
_RECIPE_LINE = re.compile(r"^craft (\d+) (.+?) using (.+)$")
_GOAL_LINE = re.compile(r"^Goal: craft (.+?)\.$", re.MULTILINE)


def recipe_text(item: str, batches: int = 1, recipes: dict[str, Recipe] = RECIPES) -> str:
    """'craft 4 oak planks using 1 oak log' for `batches` runs of the recipe of `item`."""
    count, ingredients = recipes[item]
    used = ", ".join(f"{n * batches} {name}" for name, n in ingredients.items())
    return f"craft {count * batches} {item} using {used}"


def needed_recipes(goal: str) -> list[str]:
    """Every craftable item on the way from base items to `goal` (the goal included)."""
    seen: list[str] = []

    def visit(item: str) -> None:
        if item in RECIPES and item not in seen:
            for ingredient in RECIPES[item][1]:
                visit(ingredient)
            seen.append(item)

    visit(goal)
    return seen


def recipe_list(goal: str, seed: int, distractors: int) -> list[str]:
    """The crafting commands shown for a task: what the goal needs plus related distractors, shuffled."""
    rng = random.Random(f"textcraft:{goal}:{seed}")
    needed = needed_recipes(goal)
    pool_items = {i for item in needed for i in RECIPES[item][1]} | set(needed)
    related = sorted(
        item for item, (_, ings) in RECIPES.items() if item not in needed and pool_items & (set(ings) | {item})
    )
    others = sorted(item for item in RECIPES if item not in needed and item not in related)
    rng.shuffle(related)
    rng.shuffle(others)
    shown = needed + (related + others)[:distractors]
    rng.shuffle(shown)
    return [recipe_text(item) for item in shown]


def make_task(depth_level: int, seed: int, distractors: int = 6) -> Task:
    """A seeded task whose goal is an item of depth `depth_level` (1 to 4)."""
    if not 1 <= depth_level <= MAX_DEPTH:
        raise ConfigError(f"TextCraft depth must be between 1 and {MAX_DEPTH}, got {depth_level}.")
    goal = random.Random(f"textcraft-goal:{depth_level}:{seed}").choice(items_at_depth(depth_level))
    return Task(
        id=f"textcraft-d{depth_level}-{seed}",
        prompt=f"craft {goal}",
        answer=goal,
        metadata={"goal": goal, "depth": depth_level, "seed": seed, "distractors": distractors},
    )


def make_tasks(depths: Iterable[int] = (1, 2, 3, 4), seeds: Iterable[int] = range(10), distractors: int = 6) -> list[Task]:
    """One task per depth and seed."""
    seeds = list(seeds)
    return [make_task(d, s, distractors) for d in depths for s in seeds]


def _item_name(text: str) -> str | None:
    """The catalogue name of `text` ('Oak Logs', 'minecraft:oak_log' -> 'oak log'), or None."""
    name = " ".join(text.lower().removeprefix("minecraft:").replace("_", " ").strip(" .[]\"'").split())
    name = name.removeprefix("the ")
    for candidate in (name, name[:-1] if name.endswith("s") else None, name[:-2] if name.endswith("es") else None):
        if candidate and (candidate in RECIPES or candidate in BASE_ITEMS):
            return candidate
    return None


@dataclass
class _Game:
    goal: str
    recipes: list[str]
    inventory: dict[str, int] = field(default_factory=dict)


class TextCraftEnv(TextGameEnv):
    """The crafting game; see the module docstring.

    Args:
        depths: Depth levels of `default_tasks`.
        seeds: Seeds of `default_tasks`.
        distractors: Distractor recipes shown next to the needed ones in `default_tasks`.
        show_actions: Append the command list to every observation.
        text_commands: Read a reply without a tool call as a command.
    """

    name = "textcraft"
    system_prompt = SYSTEM_PROMPT
    max_turns = 40

    def __init__(
        self,
        depths: Sequence[int] = (1, 2, 3, 4),
        seeds: Sequence[int] = tuple(range(10)),
        distractors: int = 6,
        *,
        show_actions: bool = False,
        text_commands: bool = False,
    ) -> None:
        super().__init__(show_actions=show_actions, text_commands=text_commands)
        self.depths, self.seeds, self.distractors = tuple(depths), tuple(seeds), distractors

    def default_tasks(self) -> list[Task]:
        return make_tasks(self.depths, self.seeds, self.distractors)

    def start(self, task: Task) -> str:
        goal = task.metadata.get("goal") or task.answer
        if not isinstance(goal, str) or goal not in RECIPES:
            raise ConfigError(
                f"TextCraft task {task.id!r} needs metadata['goal'] naming a craftable item, got {goal!r}; "
                "build tasks with agent_gym.envs.games.textcraft.env.make_tasks."
            )
        seed = int(task.metadata.get("seed", 0))
        recipes = recipe_list(goal, seed, int(task.metadata.get("distractors", 6)))
        self.game = _Game(goal=goal, recipes=recipes)
        return "Crafting commands:\n" + "\n".join(recipes) + f"\n\nGoal: craft {goal}."

    def command(self, command: str) -> Outcome:
        lowered = command.lower().strip(" .")
        if lowered in ("inventory", "inv", "i", "check inventory", "show inventory"):
            return Outcome(self._inventory_text())
        if match := _GET.match(command):
            return self._get(match.group(1), match.group(2))
        if match := _CRAFT.match(command):
            return self._craft(match.group(1), match.group(2), match.group(3))
        return Outcome(
            f"Unknown command {command!r}. Use: get N ITEM, craft N ITEM using INGREDIENTS, inventory, or help.",
            valid=False,
        )

    def available_actions(self) -> list[str]:
        return [
            "get N ITEM (base items only)",
            "craft N ITEM using M INGREDIENT, ... (one of the crafting commands, or a multiple of it)",
            "inventory",
            "Crafting commands:",
            *self.game.recipes,
            f"Goal: craft {self.game.goal}.",
        ]

    def expert(self) -> TextCraftExpert:
        return TextCraftExpert()

    # ---- commands ------------------------------------------------------------------------------

    def _get(self, count_text: str | None, item_text: str) -> Outcome:
        item = _item_name(item_text)
        if item is None:
            return Outcome(f"Could not find {item_text!r}: there is no such item.", valid=False)
        if item in RECIPES:
            return Outcome(f"Could not get {item}: it is not a base item; craft it with: {recipe_text(item)}.", valid=False)
        count = int(count_text or 1)
        if not 1 <= count <= MAX_GET:
            return Outcome(f"You can get between 1 and {MAX_GET} {item} at a time.", valid=False)
        self.game.inventory[item] = self.game.inventory.get(item, 0) + count
        return self._after(f"Got {count} {item}.")

    def _craft(self, count_text: str | None, item_text: str, using: str | None) -> Outcome:
        item = _item_name(item_text)
        if item is None or item not in RECIPES:
            what = f"{item_text!r} is not an item" if item is None else f"{item} is a base item (use get)"
            return Outcome(f"Could not craft: {what}.", valid=False)
        out, ingredients = RECIPES[item]
        count = int(count_text or out)
        if count < 1 or count % out:
            return Outcome(f"{item} is crafted in batches of {out}: {recipe_text(item)}.", valid=False)
        batches = count // out
        needed = {name: n * batches for name, n in ingredients.items()}
        if using is not None and self._parse_ingredients(using) != needed:
            return Outcome(f"Wrong ingredients for {count} {item}. The recipe is: {recipe_text(item, batches)}.", valid=False)
        inventory = self.game.inventory
        missing = [f"{n - inventory.get(name, 0)} more {name}" for name, n in needed.items() if inventory.get(name, 0) < n]
        if missing:
            return Outcome(f"Could not craft {count} {item}: you need {', '.join(missing)}.", valid=False)
        for name, n in needed.items():
            inventory[name] -= n
            if not inventory[name]:
                del inventory[name]
        inventory[item] = inventory.get(item, 0) + count
        return self._after(f"Crafted {count} {item}.")

    def _parse_ingredients(self, text: str) -> dict[str, int] | None:
        parsed: dict[str, int] = {}
        for part in re.split(r",\s*(?:and\s+)?|\s+and\s+(?=\d)", text):
            if not part.strip():
                continue
            match = _INGREDIENT.match(part.strip())
            name = _item_name(match.group(2)) if match else None
            if name is None:
                return None
            parsed[name] = parsed.get(name, 0) + int(match.group(1) or 1)
        return parsed

    def _after(self, said: str) -> Outcome:
        if self.game.inventory.get(self.game.goal, 0) > 0:
            return Outcome(f"{said} You have crafted the goal, {self.game.goal}!", reward=1.0, done=True, won=True)
        return Outcome(said)

    def _inventory_text(self) -> str:
        held = self.game.inventory
        if not held:
            return "Inventory: empty."
        return "Inventory: " + ", ".join(f"[{name}] ({n})" for name, n in sorted(held.items()))


# ---- the expert ------------------------------------------------------------------------------------


def parse_opening(text: str) -> tuple[str, dict[str, Recipe]]:
    """The goal and the recipes of a TextCraft opening message."""
    goal = _GOAL_LINE.search(text)
    if goal is None:
        raise PolicyError("TextCraftExpert needs the TextCraft opening message ('Goal: craft ITEM.').")
    recipes: dict[str, Recipe] = {}
    for line in text.splitlines():
        match = _RECIPE_LINE.match(line.strip())
        if match:
            ingredients = {}
            for part in match.group(3).split(", "):
                n, name = part.split(" ", 1)
                ingredients[name] = int(n)
            recipes[match.group(2)] = (int(match.group(1)), ingredients)
    return goal.group(1), recipes


def plan(goal: str, recipes: dict[str, Recipe]) -> list[str]:
    """Commands that craft `goal` from nothing with `recipes` (items without a recipe are gathered)."""
    inventory: dict[str, int] = {}
    commands: list[str] = []

    def need(item: str, n: int) -> None:
        have = inventory.get(item, 0)
        if have >= n:
            return
        if item not in recipes:
            for start in range(have, n, MAX_GET):
                commands.append(f"get {min(MAX_GET, n - start)} {item}")
            inventory[item] = n
            return
        out, ingredients = recipes[item]
        batches = math.ceil((n - have) / out)
        wanted = {name: k * batches for name, k in ingredients.items()}
        while any(inventory.get(name, 0) < k for name, k in wanted.items()):  # one may use up another
            for name, k in wanted.items():
                need(name, k)
        for name, k in wanted.items():
            inventory[name] -= k
        inventory[item] = have + out * batches
        commands.append(recipe_text(item, batches, recipes))

    need(goal, 1)
    return commands


class TextCraftExpert:
    """A planner: reads the recipes and goal from the opening message and plays the plan in order."""

    name = "textcraft-planner"
    model: str | None = None
    sampling: dict[str, Any] = {}

    async def act(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *, seed: int | None = None) -> PolicyOutput:
        goal, recipes = parse_opening(opening_text(messages))
        steps = plan(goal, recipes)
        done = len(commands_in(messages))
        command = steps[done] if done < len(steps) else "inventory"
        call = ToolCall(name="act", arguments={"command": command}, id=f"call_{done}")
        return PolicyOutput(assistant(tool_calls=(call,)))

