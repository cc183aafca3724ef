"""The recorded training run's shaped reward term, scored on real TextCraft episodes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from agent_gym import ScriptedPolicy, ToolCall, run_rollouts_sync
from agent_gym.envs.textcraft import TextCraftEnv, make_task
from agent_gym.types import assistant

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_recorded_run.py"


def load_script():
    spec = importlib.util.spec_from_file_location("train_recorded_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def act(command: str) -> object:
    return assistant(tool_calls=(ToolCall(name="act", arguments={"command": command}, id="c"),))


def test_accepted_commands_counts_the_turns_the_game_accepted():
    script = load_script()
    task = make_task(1, seed=3, distractors=0)
    base = TextCraftEnv().expert()
    good = run_rollouts_sync(TextCraftEnv(), base, [task], progress=False, max_turns=10)[0]
    assert good.success and good.num_turns >= 2
    bad = ScriptedPolicy([act("get 1 unobtainium"), assistant("I will think about it."), act("inventory")])
    mixed = run_rollouts_sync(TextCraftEnv(), bad, [task], progress=False, max_turns=3)[0]
    scores = script.accepted_commands(0.2)(prompts=[None, None], completions=[None, None], trajectory=[good, mixed])
    assert scores[0] == 0.2  # every command of the expert's plan was accepted
    assert abs(scores[1] - 0.2 / 3) < 1e-9  # of 3 turns: an unknown item, no call at all, one accepted command
    assert script.accepted_commands(0.2).__name__ == "accepted_commands"


def test_plan_progress_rewards_the_goals_items_not_the_distractors():
    script = load_script()
    task = make_task(1, seed=3, distractors=4)
    expert = run_rollouts_sync(TextCraftEnv(), TextCraftEnv().expert(), [task], progress=False, max_turns=10)[0]
    commands = [c.arguments["command"] for m in expert.messages for c in m.tool_calls]
    first_get = next(c for c in commands if c.startswith("get "))
    half = run_rollouts_sync(TextCraftEnv(), ScriptedPolicy([act(first_get), act("get 1 dirt")]), [task],
                             progress=False, max_turns=2)[0]
    wanted = {c.split(" using ")[0].split(" ", 2)[2] for c in commands}
    score = script.plan_progress(0.5)
    full, partial = score(prompts=[None] * 2, completions=[None] * 2, trajectory=[expert, half])
    assert full == 0.5 and abs(partial - 0.5 / len(wanted)) < 1e-9 and len(wanted) >= 2
