"""ScienceWorld (optional): the real simulator in a JVM, commands, seeding by variation, gold-path expert."""

import importlib.util
import shutil
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
from agent_gym.envs.games import scienceworld as sw
from agent_gym.envs.games.scienceworld import ScienceWorldEnv, ScienceWorldExpert, make_tasks
from agent_gym.errors import EnvError

HAVE_SCIENCEWORLD = importlib.util.find_spec("scienceworld") is not None and shutil.which("java") is not None
needs_scienceworld = pytest.mark.skipif(not HAVE_SCIENCEWORLD, reason="optional: pip install scienceworld, Java 17+")
TASK = make_tasks(["find-non-living-thing"], [0])[0]


def test_without_the_package_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "scienceworld", None)  # import scienceworld now raises ImportError
    with pytest.raises(EnvError, match="pip install scienceworld"):
        ScienceWorldEnv()


def act(command: str) -> Message:
    return assistant(tool_calls=(ToolCall(name="act", arguments={"command": command}, id="c1"),))


@needs_scienceworld
@pytest.mark.slow
async def test_reset_step_help_and_invalid_commands():
    env = ScienceWorldEnv()
    opening = await env.reset(TASK)
    first = opening[1].content
    assert first.startswith("ScienceWorld task find-non-living-thing, variation 0 (simplifications: easy).")
    assert "Your task is to find a(n) non-living thing." in first and "This room is called" in first
    helped = await env.step(act("help"))
    assert "focus on OBJ" in helped.observation[0].content and "Objects you can use" in helped.observation[0].content
    assert "reset task" not in helped.observation[0].content
    unknown = await env.step(act("dance"))
    assert unknown.info["invalid"] == 1 and 'Use "help"' in unknown.observation[0].content
    refused = await env.step(act("reset task"))
    assert refused.info["invalid"] == 1 and "not allowed" in refused.observation[0].content
    moved = await env.step(act("teleport to kitchen"))
    assert "You teleport to the kitchen." in moved.observation[0].content and moved.reward > 0
    assert not moved.terminated and moved.success is False and env.game_steps == 1
    await env.close()
    assert env.game is None


@needs_scienceworld
@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_expert_completes_tasks_through_the_store(tmp_path):
    env = ScienceWorldEnv()
    tasks = make_tasks(["find-non-living-thing", "lifespan-longest-lived", "power-component"], [0])
    store = tmp_path / "sciworld.jsonl"
    runs = await run_rollouts_async(env, ScienceWorldExpert(), tasks, store=store, max_turns=env.max_turns,
                              max_concurrency=2, progress=False)
    assert all(t.error is None for t in runs), [t.error for t in runs if t.error]
    assert all(t.success and t.terminated for t in runs)
    assert all(t.messages[-1].content.endswith("Task completed!") for t in runs)
    assert len(TrajectoryStore(store).read()) == 3


@needs_scienceworld
@pytest.mark.slow
async def test_same_variation_gives_identical_observations_and_clone_is_independent():
    env = ScienceWorldEnv()
    first = [m.content for m in await env.reset(TASK)]
    first.append((await env.step(act("teleport to kitchen"))).observation[0].content)
    copy = env.clone()
    assert copy.game is not env.game and copy.history == ["teleport to kitchen"]
    mine = await env.step(act("look around"))
    theirs = await copy.step(act("look around"))
    assert theirs.observation[0].content == mine.observation[0].content
    await copy.close()
    assert env.game is not None and "kitchen" in (await env.step(act("look around"))).observation[0].content
    second = [m.content for m in await env.reset(TASK)]
    second.append((await env.step(act("teleport to kitchen"))).observation[0].content)
    assert first == second
    await env.close()


@needs_scienceworld
async def test_bad_tasks_are_clear_errors_and_release_their_slot():
    free = sw._SLOTS._value
    with pytest.raises(ConfigError, match="needs metadata"):
        await ScienceWorldEnv().reset(Task(id="x", prompt="play"))
    env = ScienceWorldEnv()
    with pytest.raises(ConfigError, match="Unknown taskName"):
        await env.reset(Task(id="x", prompt="", metadata={"task": "fly-to-mars", "variation": 0}))
    await env.close()
    assert sw._SLOTS._value == free
