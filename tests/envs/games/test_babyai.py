"""BabyAI as a text game: minigrid's real levels, the text view, commands, seeding, the BabyAIBot expert."""

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
from agent_gym.envs.games.babyai import text
from agent_gym.envs.games.babyai.env import BabyAIEnv, BabyAIExpert, make_level, make_tasks


def act(command: str, call_id: str = "c1") -> Message:
    return assistant(tool_calls=(ToolCall(name="act", arguments={"command": command}, id=call_id),))


TASK = make_tasks(["GoToLocal"], [3])[0]


async def test_reset_gives_the_mission_and_a_text_view():
    env = BabyAIEnv()
    opening = await env.reset(TASK)
    assert [m.role for m in opening] == ["system", "user"]
    assert "act tool" in opening[0].content
    first = opening[1].content
    assert first.startswith("BabyAI level GoToLocal (seed 3). Your mission: ")
    assert TASK.prompt in first and "You are carrying nothing." in first and "In front of you:" in first
    assert [t.name for t in env.tools] == ["act"]


async def test_a_command_steps_the_game_and_describes_the_new_view():
    env = BabyAIEnv()
    await env.reset(TASK)
    before = env.game.env.agent_dir
    result = await env.step(act("turn left"))
    assert result.observation[0].role == "tool" and result.observation[0].tool_call_id == "c1"
    assert result.observation[0].content.startswith("You turned left.\nYou see")
    assert env.game.env.agent_dir == (before - 1) % 4
    assert result.reward == 0 and not result.terminated and result.success is False
    assert result.info["commands"] == ["turn left"] and result.info["game_steps"] == 1


async def test_invalid_commands_are_explained_and_cost_no_game_step():
    env = BabyAIEnv()
    await env.reset(TASK)
    position = tuple(env.game.env.agent_pos)
    unknown = await env.step(act("jump over the wall"))
    assert "Unknown command 'jump over the wall'" in unknown.observation[0].content
    assert "move forward" in unknown.observation[0].content and unknown.info["invalid"] == 1
    helped = await env.step(act("help"))
    assert "toggle: open or close the door" in helped.observation[0].content and helped.info["help"] == 1
    wrong_tool = await env.step(assistant(tool_calls=(ToolCall(name="move", arguments={}, id="x"),)))
    assert "unknown tool 'move'" in wrong_tool.observation[0].content and wrong_tool.info["tool_errors"] == 1
    no_args = await env.step(assistant(tool_calls=(ToolCall(name="act", arguments={"cmd": "left"}, id="y"),)))
    assert "act takes one argument" in no_args.observation[0].content
    plain = await env.step(assistant("I think I should go left."))
    assert plain.observation[0].role == "user" and "act tool" in plain.observation[0].content
    parse_error = await env.step(Message(role="assistant", content="<tool_call>{", error="not valid JSON"))
    assert parse_error.observation[0].content == "not valid JSON"
    assert env.game.env.step_count == 0 and tuple(env.game.env.agent_pos) == position
    assert not any(r.terminated for r in (unknown, helped, wrong_tool, no_args, plain, parse_error))


async def test_a_futile_action_says_why():
    env = BabyAIEnv()
    await env.reset(TASK)
    result = await env.step(act("drop"))
    assert result.observation[0].content.startswith("You are not carrying anything to drop.")
    assert result.info["invalid"] == 0 and env.game.env.step_count == 1  # minigrid counts it as a step


def test_commands_tolerate_aliases_and_articles():
    assert text.parse_command("Move Forward.") == text.parse_command("go forward") == text.Actions.forward
    assert text.parse_command("pick up the red ball") == text.Actions.pickup
    assert text.parse_command("open the door") == text.Actions.toggle
    assert text.parse_command("fly") is None
    assert text.where(0, 3) == "3 steps forward" and text.where(-1, 2) == "2 steps forward and 1 step left"


async def test_text_commands_read_a_plain_reply_as_the_command():
    env = BabyAIEnv(text_commands=True)
    await env.reset(TASK)
    result = await env.step(assistant("Thought: the ball is to my left.\nAction: turn left"))
    assert result.observation[0].role == "user" and result.observation[0].content.startswith("You turned left.")


async def test_show_actions_appends_the_command_list():
    env = BabyAIEnv(show_actions=True)
    opening = await env.reset(TASK)
    assert "Available commands: turn left: face the cell on your left" in opening[1].content


async def test_same_seed_gives_identical_observations_and_another_seed_differs():
    commands = ["move forward", "turn right", "move forward", "pick up", "turn left", "move forward"]

    async def play(task):
        env = BabyAIEnv()
        seen = [m.content for m in await env.reset(task)]
        for command in commands:
            seen.append((await env.step(act(command))).observation[0].content)
        return seen

    assert await play(TASK) == await play(TASK)
    assert await play(TASK) != await play(make_tasks(["GoToLocal"], [4])[0])
    assert make_tasks(["GoToLocal"], [3]) == make_tasks(["GoToLocal"], [3])


def test_level_generation_output_is_captured(capfd):
    for seed in range(6):  # PickupLoc rejects samples and prints about it
        make_level("PickupLoc", seed)
    assert capfd.readouterr().out == ""


async def test_unknown_level_and_missing_metadata_are_clear_errors():
    with pytest.raises(ConfigError, match="Unknown BabyAI level 'GoToMoon'.*GoToLocal"):
        BabyAIEnv(levels=["GoToMoon"])
    with pytest.raises(ConfigError, match="needs metadata"):
        await BabyAIEnv().reset(Task(id="x", prompt="go"))


async def test_expert_solves_seeded_tasks_through_the_store_and_replays_identically(tmp_path):
    env = BabyAIEnv()
    tasks = make_tasks(env.levels, range(3))
    store = tmp_path / "babyai.jsonl"
    runs = await run_rollouts_async(env, BabyAIExpert(), tasks, store=store, max_turns=env.max_turns, progress=False)
    assert len(runs) == len(tasks) == 24 and all(t.error is None for t in runs)
    assert sum(bool(t.success) for t in runs) / len(runs) >= 0.95
    won = runs[0]
    assert won.terminated and won.reward == pytest.approx(1 - 0.9 * won.num_turns / won.metadata["task"]["max_steps"])
    assert won.messages[-1].content.endswith("Mission complete!")
    assert len(TrajectoryStore(store).read()) == len(tasks)
    again = await run_rollouts_async(env, BabyAIExpert(), tasks, store=store, max_turns=env.max_turns, progress=False)
    assert [t.id for t in again] == [t.id for t in runs]  # resumed from the store: nothing ran
    fresh = await run_rollouts_async(env, BabyAIExpert(), tasks[:6], max_turns=env.max_turns, progress=False)
    assert [t.messages for t in fresh] == [t.messages for t in runs[:6]]


async def test_harder_levels_are_solved_by_the_expert():
    env = BabyAIEnv()
    tasks = make_tasks(["Unlock", "Synth", "BossLevel"], [0])
    runs = await run_rollouts_async(env, BabyAIExpert(), tasks, max_turns=1000, progress=False)
    assert all(t.success for t in runs), [(t.task_id, t.error) for t in runs]


async def test_clone_is_an_independent_copy_of_the_episode():
    env = BabyAIEnv()
    await env.reset(TASK)
    await env.step(act("move forward"))
    copy = env.clone()
    assert copy.game is not env.game and copy.history == env.history == ["move forward"]
    assert tuple(copy.game.env.agent_pos) == tuple(env.game.env.agent_pos)
    mine = await env.step(act("turn left"))
    assert copy.game.env.agent_dir != env.game.env.agent_dir and copy.game_steps == 1
    theirs = await copy.step(act("turn left"))
    assert theirs.observation[0].content == mine.observation[0].content
    assert BabyAIEnv().clone().game is None  # a fresh prototype clones to a fresh env


async def test_close_releases_the_game_and_a_finished_game_says_so():
    env = BabyAIEnv()
    await env.reset(make_tasks(["GoToRedBallGrey"], [0])[0])
    expert = BabyAIExpert()
    messages = await env.reset(make_tasks(["GoToRedBallGrey"], [0])[0])
    while True:
        message = (await expert.act(messages, env.tool_schemas())).message
        result = await env.step(message)
        messages += [message, *result.observation]
        if result.terminated:
            break
    assert result.success and result.reward > 0
    after = await env.step(act("turn left"))
    assert after.terminated and after.observation[0].content == "The game is over."
    await env.close()
    assert env.game is None


async def test_high_level_commands_walk_to_objects_in_view():
    env = BabyAIEnv()
    await env.reset(make_tasks(["GoToLocal"], [3])[0])  # mission: go to the red key, 3 forward and 2 right
    result = await env.step(act("go to the red key"))
    assert result.observation[0].content.startswith("You went to the red key (")
    assert result.terminated and result.success and result.reward > 0
    assert env.game_steps == 1 and env.game.env.step_count == len(result.info["actions"]) > 1

    await env.reset(make_tasks(["PickupLoc"], [1])[0])  # mission: pick up a ball
    missing = await env.step(act("pick up the purple key"))
    assert missing.observation[0].content == "You do not see a purple key. Turn or move to look around."
    assert missing.info["invalid"] == 1 and env.game.env.step_count == 0
    assert "In view: go to the blue box;" in (await env.step(act("help"))).observation[0].content
    picked = await env.step(act("pick up the yellow ball"))
    assert picked.observation[0].content.startswith("You picked up a yellow ball.") and picked.success

    await env.reset(make_tasks(["OpenDoor"], [0])[0])  # the mission's door is another one
    assert (await env.step(act("go through the red ball"))).observation[0].content == "You can only go through doors."
    opened = await env.step(act("open the red door"))
    assert opened.observation[0].content.startswith("You opened the red door.") and opened.info["actions"] == ["left", "toggle"]
    assert not opened.terminated and opened.success is False
    through = await env.step(act("go through the red door"))
    assert through.observation[0].content.startswith("You went through the open red door.")


async def test_the_expert_takes_over_a_conversation_with_high_level_commands():
    env, expert = BabyAIEnv(), BabyAIExpert()
    messages = await env.reset(make_tasks(["PutNextLocal"], [0])[0])  # put the green ball next to the green key
    for command in ["pick up the yellow key", "turn left", "help", "go to the grey ball"]:
        message = act(command)
        messages += [message, *(await env.step(message)).observation]
    for _ in range(100):
        message = (await expert.act(messages, env.tool_schemas())).message
        result = await env.step(message)
        messages += [message, *result.observation]
        if result.terminated:
            break
    assert result.success
