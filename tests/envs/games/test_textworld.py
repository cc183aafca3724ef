"""TextWorld: real generated games (cached under default_game_dir()), commands, seeding, walkthrough expert."""

import importlib.util
import json
import sys

import pytest

from agent_gym import (
    ConfigError,
    Message,
    Task,
    ToolCall,
    TrajectoryStore,
    assistant,
    run_rollouts_async,
)
from agent_gym.envs.games.textworld import (
    TextWorldEnv,
    TextWorldExpert,
    clean,
    ensure_game,
    game_name,
    make_tasks,
)
from agent_gym.errors import EnvError

if importlib.util.find_spec("textworld") is not None:
    # textworld silences jericho's "unsupported game" warning at import; pytest's per-test filters bring it back.
    pytestmark = pytest.mark.filterwarnings("ignore::jericho.UnsupportedGameWarning")
needs_textworld = pytest.mark.skipif(importlib.util.find_spec("textworld") is None, reason="pip install textworld")

TASKS = make_tasks(levels=(1, 2, 3), seeds=(0, 1))
TASK = TASKS[2]  # level 2, seed 0


def act(command: str) -> Message:
    return assistant(tool_calls=(ToolCall(name="act", arguments={"command": command}, id="c1"),))


@needs_textworld
async def test_reset_gives_the_objective_and_the_room():
    env = TextWorldEnv()
    opening = await env.reset(TASK)
    first = opening[1].content
    assert first.startswith(f"TextWorld game {game_name(2, 0)}.") and "-= " in first
    assert "$$" not in first and ">" not in first  # banner and prompt lines are cleaned away
    assert env.game.state["objective"].split()[0] in first
    await env.close()
    assert env.game is None


@needs_textworld
async def test_commands_help_and_invalid_commands():
    env = TextWorldEnv()
    await env.reset(TASK)
    helped = await env.step(act("help"))
    listed = helped.observation[0].content.splitlines()
    assert listed[0] == "Available commands:" and "look" in listed and "inventory" in listed
    assert helped.info["game_steps"] == 0
    nonsense = await env.step(act("dance wildly"))
    assert "That's not a verb I recognise." in nonsense.observation[0].content
    assert 'use "help" to list the commands' in nonsense.observation[0].content
    assert nonsense.info["inadmissible"] == 1 and not nonsense.terminated and nonsense.success is False
    looked = await env.step(act("look"))
    assert looked.info["inadmissible"] == 0 and "-= " in looked.observation[0].content
    await env.close()


@needs_textworld
async def test_expert_wins_every_game_through_the_store(tmp_path):
    env = TextWorldEnv()
    store = tmp_path / "textworld.jsonl"
    runs = await run_rollouts_async(env, TextWorldExpert(), TASKS, store=store, max_turns=env.max_turns,
                              max_concurrency=2, progress=False)
    assert all(t.error is None for t in runs), [t.error for t in runs if t.error]
    assert sum(bool(t.success) for t in runs) / len(runs) >= 0.95
    assert all(t.reward == pytest.approx(1.0) and "You won!" in t.messages[-1].content for t in runs if t.success)
    assert len(TrajectoryStore(store).read()) == len(TASKS)
    again = await run_rollouts_async(env, TextWorldExpert(), TASKS, store=store, progress=False)
    assert [t.id for t in again] == [t.id for t in runs]


@needs_textworld
async def test_same_seed_gives_identical_observations():
    async def episode(task):
        env = TextWorldEnv()
        seen = [m.content for m in await env.reset(task)]
        for command in ["look", "inventory", "go north", "take key", "help"]:
            seen.append((await env.step(act(command))).observation[0].content)
        await env.close()
        return seen

    assert await episode(TASK) == await episode(TASK)
    assert await episode(TASK) != await episode(TASKS[3])


@needs_textworld
def test_generation_is_deterministic(tmp_path):
    cached = ensure_game(1, 0)
    fresh = ensure_game(1, 0, tmp_path)
    assert fresh.name == cached.name

    def content(path):  # the game minus the install path TextWorld records in it
        game = json.loads(path.with_suffix(".json").read_text())
        game["KB"].pop("text_grammars_path")
        return game

    assert content(fresh) == content(cached)


@needs_textworld
async def test_clone_is_an_independent_copy_of_the_episode():
    env = TextWorldEnv()
    await env.reset(TASK)
    await env.step(act("inventory"))
    copy = env.clone()
    assert copy.game is not env.game and copy.history == ["inventory"]
    mine = await env.step(act("look"))
    theirs = await copy.step(act("look"))
    assert theirs.observation[0].content == mine.observation[0].content
    await copy.close()
    assert copy.game is None and env.game is not None
    assert (await env.step(act("inventory"))).observation[0].content.startswith("You are carrying")
    await env.close()


@needs_textworld
async def test_bad_tasks_are_clear_errors():
    with pytest.raises(ConfigError, match="needs metadata"):
        await TextWorldEnv().reset(Task(id="x", prompt="play"))
    with pytest.raises(ConfigError, match="level must be one of"):
        game_name(9, 0)


def test_clean_drops_banner_prompt_and_restart_question():
    raw = "  $$$$  | $$\n ________\nWelcome!\n\n\n\n>  -= Room =-0/1\nYou won.\nWould you like to RESTART, RESTORE a saved game"
    assert clean(raw) == "Welcome!\n\nYou won."


def test_without_the_package_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "textworld", None)  # import textworld now raises ImportError
    with pytest.raises(EnvError, match="pip install textworld"):
        TextWorldEnv()
