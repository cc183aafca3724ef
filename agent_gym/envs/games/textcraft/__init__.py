"""TextCraft (crafting from recipes) as a text game: `env` (the environment, tasks, the planning
expert) and `recipes` (the recipe book)."""

from agent_gym.envs.games.textcraft.env import (
    TextCraftEnv,
    TextCraftExpert,
    make_task,
    make_tasks,
    parse_opening,
    plan,
)

__all__ = ["TextCraftEnv", "TextCraftExpert", "make_task", "make_tasks", "parse_opening", "plan"]
