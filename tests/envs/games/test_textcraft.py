"""TextCraft: the project's recipe book, seeded depth-levelled tasks, the game rules and the planner."""

from pathlib import Path

import pytest

from agent_gym import (
    ConfigError,
    Message,
    Task,
    ToolCall,
    TrajectoryStore,
    assistant,
    load_tasks,
    run_rollouts_async,
)
from agent_gym.envs.games.textcraft.env import (
    TextCraftEnv,
    TextCraftExpert,
    make_task,
    make_tasks,
    needed_recipes,
    parse_opening,
    plan,
    recipe_list,
)
from agent_gym.envs.games.textcraft.recipes import (
    BASE_ITEMS,
    MAX_DEPTH,
    RECIPES,
    depth,
    items_at_depth,
)

DATA = Path(__file__).resolve().parents[3] / "data" / "textcraft" / "tasks.jsonl"


def act(command: str) -> Message:
    return assistant(tool_calls=(ToolCall(name="act", arguments={"command": command}, id="c1"),))


async def play(env: TextCraftEnv, *commands: str) -> list[str]:
    return [(await env.step(act(c))).observation[0].content for c in commands]


def test_recipe_book_is_consistent():
    assert len(RECIPES) > 200 and MAX_DEPTH == 4
    for item, (count, ingredients) in RECIPES.items():
        assert count >= 1 and ingredients and item not in ingredients
        assert all(n >= 1 and (name in RECIPES or name in BASE_ITEMS) for name, n in ingredients.items())
    assert all(items_at_depth(d) for d in range(1, MAX_DEPTH + 1))
    assert depth("oak log") == 0 and depth("oak planks") == 1 and depth("stick") == 2 and depth("oak sign") == 3


def test_shipped_task_file_matches_the_generator():
    assert load_tasks(DATA) == make_tasks() == TextCraftEnv().default_tasks()


def test_tasks_are_seeded_by_depth():
    assert make_tasks(seeds=range(3)) == make_tasks(seeds=range(3))
    task = make_task(3, 7)
    assert task.id == "textcraft-d3-7" and depth(task.metadata["goal"]) == 3 and task.answer == task.metadata["goal"]
    goals = {make_task(2, seed).metadata["goal"] for seed in range(20)}
    assert len(goals) > 5
    assert recipe_list("oak sign", 1, 6) == recipe_list("oak sign", 1, 6) != recipe_list("oak sign", 2, 6)
    with pytest.raises(ConfigError, match="between 1 and 4"):
        make_task(5, 0)


async def test_opening_lists_the_needed_recipes_and_distractors():
    env = TextCraftEnv()
    task = Task(id="sign", prompt="craft oak sign", metadata={"goal": "oak sign", "seed": 0, "distractors": 4})
    opening = await env.reset(task)
    lines = opening[1].content.splitlines()
    assert lines[0] == "Crafting commands:" and lines[-1] == "Goal: craft oak sign."
    recipes = [line for line in lines if line.startswith("craft ")]
    assert len(recipes) == len(needed_recipes("oak sign")) + 4 == 7
    assert {"craft 4 oak planks using 1 oak log", "craft 4 stick using 2 oak planks",
            "craft 3 oak sign using 6 oak planks, 1 stick"} <= set(recipes)


async def test_get_craft_inventory_and_the_goal():
    env = TextCraftEnv()
    await env.reset(Task(id="t", prompt="", metadata={"goal": "stick", "seed": 0}))
    replies = await play(env, "get 2 oak logs", "craft 8 oak planks using 2 oak log", "inventory")
    assert replies == ["Got 2 oak log.", "Crafted 8 oak planks.", "Inventory: [oak planks] (8)"]
    result = await env.step(act("craft 4 stick using 2 oak planks"))
    assert result.terminated and result.success and result.reward == 1.0
    assert "You have crafted the goal, stick!" in result.observation[0].content


async def test_invalid_commands_are_explained_and_change_nothing():
    env = TextCraftEnv()
    await env.reset(Task(id="t", prompt="", metadata={"goal": "oak sign", "seed": 0}))
    replies = await play(
        env, "get stick", "get 1 unobtainium", "get 100 sand", "craft 3 oak planks", "craft 4 oak planks using 2 oak log",
        "craft 4 stick using 2 oak planks", "dance", "craft oak log",
    )
    assert replies == [
        "Could not get stick: it is not a base item; craft it with: craft 4 stick using 2 oak planks.",
        "Could not find 'unobtainium': there is no such item.",
        "You can get between 1 and 64 sand at a time.",
        "oak planks is crafted in batches of 4: craft 4 oak planks using 1 oak log.",
        "Wrong ingredients for 4 oak planks. The recipe is: craft 4 oak planks using 1 oak log.",
        "Could not craft 4 stick: you need 2 more oak planks.",
        "Unknown command 'dance'. Use: get N ITEM, craft N ITEM using INGREDIENTS, inventory, or help.",
        "Could not craft: oak log is a base item (use get).",
    ]
    assert env.game.inventory == {} and env.game_steps == 0 and not env.over
    helped = (await env.step(act("help"))).observation[0].content
    assert "craft 3 oak sign using 6 oak planks, 1 stick" in helped and helped.endswith("Goal: craft oak sign.")


def test_planner_reuses_leftovers_and_splits_large_gets():
    goal, recipes = "oak sign", {k: RECIPES[k] for k in needed_recipes("oak sign")}
    assert plan(goal, recipes) == [
        "get 2 oak log", "craft 8 oak planks using 2 oak log", "craft 4 stick using 2 oak planks",
        "craft 3 oak sign using 6 oak planks, 1 stick",
    ]
    anvil = plan("anvil", {k: RECIPES[k] for k in needed_recipes("anvil")})
    assert anvil[0] == "get 27 iron ingot" and anvil[-1] == "craft 1 anvil using 3 iron block, 4 iron ingot"
    big = plan("iron block", {"iron block": (1, {"iron ingot": 100})})
    assert big[:2] == ["get 64 iron ingot", "get 36 iron ingot"]


async def test_expert_solves_every_depth_through_the_store(tmp_path):
    env = TextCraftEnv()
    tasks = make_tasks(seeds=range(10))
    store = tmp_path / "textcraft.jsonl"
    runs = await run_rollouts_async(env, TextCraftExpert(), tasks, store=store, max_turns=env.max_turns, progress=False)
    assert len(runs) == 40 and all(t.error is None for t in runs)
    assert sum(bool(t.success) for t in runs) / len(runs) >= 0.95
    assert all(t.reward == 1.0 and t.terminated for t in runs if t.success)
    assert len(TrajectoryStore(store).read()) == 40
    again = await run_rollouts_async(env, TextCraftExpert(), tasks, store=store, max_turns=env.max_turns, progress=False)
    assert [t.messages for t in again] == [t.messages for t in runs]


async def test_same_seed_gives_identical_observations():
    async def episode(task):
        env = TextCraftEnv()
        seen = [m.content for m in await env.reset(task)]
        goal, recipes = parse_opening(seen[1])
        return seen + await play(env, *plan(goal, recipes))

    assert await episode(make_task(3, 4)) == await episode(make_task(3, 4))
    assert await episode(make_task(3, 4)) != await episode(make_task(3, 5))


async def test_clone_is_an_independent_copy_of_the_episode():
    env = TextCraftEnv()
    await env.reset(Task(id="t", prompt="", metadata={"goal": "oak sign", "seed": 0}))
    await play(env, "get 3 oak log")
    copy = env.clone()
    assert copy.game is not env.game and copy.game.inventory == {"oak log": 3}
    await play(env, "craft 4 oak planks using 1 oak log")
    assert copy.game.inventory == {"oak log": 3} and env.game.inventory == {"oak log": 2, "oak planks": 4}
    await copy.close()
    assert copy.game is None and env.game is not None
