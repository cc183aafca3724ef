"""Branching replay: a recorded TextCraft episode forked at a turn, the prefix served from the record, the
rest played live by another policy (or after an edit); the branch links back to its parent."""

from __future__ import annotations

import pytest

from agent_gym import ScriptedPolicy, TrajectoryStore, run_rollouts
from agent_gym.envs.games.text_game import commands_in, opening_text
from agent_gym.envs.games.textcraft.env import TextCraftEnv, make_tasks, parse_opening, plan
from agent_gym.errors import ConfigError
from agent_gym.runner.branch import Edit, branch, branch_from_view, branches_of
from agent_gym.types import Message, ToolCall, assistant


def call(command: str, k: int) -> Message:
    return assistant(tool_calls=(ToolCall(name="act", arguments={"command": command}, id=f"call_{k}"),))


def starts_right_then_wanders(messages, tools):
    """Plays the plan's first two commands, then only looks at its inventory: never crafts the goal."""
    done = len(commands_in(messages))
    steps = plan(*parse_opening(opening_text(messages)))
    return call(steps[done] if done < 2 else "inventory", done)


@pytest.fixture(scope="module")
def failed():
    env = TextCraftEnv()
    task = make_tasks(depths=(2,), seeds=range(1), distractors=2)[0]
    [parent] = run_rollouts(env, ScriptedPolicy(starts_right_then_wanders, name="wanderer"), [task], max_turns=6,
                            progress=False)
    assert parent.success is False and parent.truncated and len(parent.steps) == 6
    assert len(plan(*parse_opening(opening_text(parent.messages)))) > 2  # the task needs more than two commands
    return parent


def test_branching_a_failed_textcraft_episode_at_turn_2_with_the_expert_succeeds(failed, tmp_path):
    env = TextCraftEnv()
    store = TrajectoryStore(tmp_path / "branches.jsonl")
    child = branch(failed, at_turn=2, policy=env.expert(), env=env, store=store)

    assert child.success is True and child.reward > failed.reward and child.error is None
    # the prefix is the parent's, message for message and step for step
    prefix_end = failed.steps[2].action_index
    assert child.messages[:prefix_end] == failed.messages[:prefix_end]
    assert [s.reward for s in child.steps[:2]] == [s.reward for s in failed.steps[:2]]
    assert child.steps[:2] == tuple(s.model_copy(update={"policy_seconds": c.policy_seconds, "env_seconds": c.env_seconds,
                                                          "usage": c.usage})
                                    for s, c in zip(failed.steps[:2], child.steps[:2], strict=True))
    # then the expert went on from where the wanderer started wandering
    assert commands_in(child.messages)[:2] == commands_in(failed.messages)[:2]
    assert commands_in(child.messages)[2] != "inventory"
    link = child.metadata["branch"]
    assert link == {"parent": failed.id, "turn": 2, "edit": None, "policy": "textcraft-planner", "model": None,
                    "mismatches": []}
    assert child.id.startswith(failed.id) and child.policy_info["class"].endswith("TextCraftExpert")
    assert branches_of(failed, store.read()) == [child]  # stored, and found again by its parent


def test_an_edited_assistant_message_and_an_edited_tool_result(failed):
    env = TextCraftEnv()
    steps = plan(*parse_opening(opening_text(failed.messages)))
    # rewrite turn 2 (text parsed like model output), then let the expert finish
    text = f'<tool_call>\n{{"name": "act", "arguments": {{"command": "{steps[2]}"}}}}\n</tool_call>'
    edited = branch(failed, at_turn=2, policy=env.expert(), edit=text, env=env)
    assert edited.success and commands_in(edited.messages)[2] == steps[2]
    assert edited.metadata["branch"]["edit"] == {"assistant": True, "observation": False}
    # an edited reply: the policy reads it, the environment's state follows the recorded action
    lied = branch(failed, at_turn=1, edit=Edit(observation="The game is broken."), policy=env.expert(), env=env,
                  max_turns=3)
    reply = lied.messages[lied.steps[1].action_index + 1]
    assert reply.content == "The game is broken." and reply.role == "tool"
    assert commands_in(lied.messages)[:2] == commands_in(failed.messages)[:2]


def test_branch_from_the_viewer_and_clear_errors(failed):
    from agent_gym.widgets import TrajectoryViewer

    env = TextCraftEnv()
    viewer = TrajectoryViewer(failed, turn=2)
    child = branch_from_view(viewer, policy=env.expert(), env=env)
    assert child.metadata["branch"]["turn"] == 2 and child.success
    with pytest.raises(ConfigError, match="at_turn must be between 0 and 6"):
        branch(failed, at_turn=9, policy=env.expert(), env=env)
    with pytest.raises(ConfigError, match="policy="):
        branch(failed, at_turn=2, env=env)
    with pytest.raises(ConfigError, match="configuration"):
        branch(failed, at_turn=2, policy=env.expert(), env=TextCraftEnv(show_actions=True))


def test_compare_view_shows_the_parent_beside_each_branch_with_rewards(failed):
    from agent_gym.widgets import CompareView

    env = TextCraftEnv()
    expert = branch(failed, at_turn=2, policy=env.expert(), env=env)
    edited = branch(failed, at_turn=1, edit=Edit(observation="The game is broken."), policy=env.expert(), env=env,
                    max_turns=3)
    view = CompareView.branches(failed, [expert, edited])
    first, second = view.choices
    assert first["flip"] == "gained" and first["reward"] == [failed.reward, expert.reward]
    assert first["key"].startswith("branch at turn 3 · textcraft-planner") and "edited observation" in second["key"]
    pair = view.pair
    assert pair["labels"] == ["parent", first["key"].rsplit(" · ", 1)[0]]
    assert pair["outcome"]["first_divergence"] == 2 and [r["same"] for r in pair["rows"][:2]] == [True, True]
    assert pair["outcome"]["success"] == [False, True]
    view.choice = second["key"]
    assert view.pair["outcome"]["first_divergence"] == 1 and "edited observation" in view.pair["labels"][1]
    assert set(view.static_state()["_pairs"]) == {first["key"], second["key"]}
    with pytest.raises(ValueError, match="not branches of"):
        CompareView.branches(expert, [edited])
