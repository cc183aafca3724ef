"""The recorded training run's shaped reward term, scored on real TextCraft episodes."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent_gym import ScriptedPolicy, ToolCall, run_rollouts
from agent_gym.envs.games.textcraft.env import TextCraftEnv, make_task
from agent_gym.types import assistant

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_recorded_run.py"
HELDOUT_EVAL = SCRIPT.parent / "heldout_eval.py"


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
    good = run_rollouts(TextCraftEnv(), base, [task], progress=False, max_turns=10)[0]
    assert good.success and good.num_turns >= 2
    bad = ScriptedPolicy([act("get 1 unobtainium"), assistant("I will think about it."), act("inventory")])
    mixed = run_rollouts(TextCraftEnv(), bad, [task], progress=False, max_turns=3)[0]
    scores = script.accepted_commands(0.2)(prompts=[None, None], completions=[None, None], trajectory=[good, mixed])
    assert scores[0] == 0.2  # every command of the expert's plan was accepted
    assert abs(scores[1] - 0.2 / 3) < 1e-9  # of 3 turns: an unknown item, no call at all, one accepted command
    assert script.accepted_commands(0.2).__name__ == "accepted_commands"


def test_plan_progress_rewards_the_goals_items_not_the_distractors():
    script = load_script()
    task = make_task(1, seed=3, distractors=4)
    expert = run_rollouts(TextCraftEnv(), TextCraftEnv().expert(), [task], progress=False, max_turns=10)[0]
    commands = [c.arguments["command"] for m in expert.messages for c in m.tool_calls]
    first_get = next(c for c in commands if c.startswith("get "))
    half = run_rollouts(TextCraftEnv(), ScriptedPolicy([act(first_get), act("get 1 dirt")]), [task],
                             progress=False, max_turns=2)[0]
    wanted = {c.split(" using ")[0].split(" ", 2)[2] for c in commands}
    score = script.plan_progress(0.5)
    full, partial = score(prompts=[None] * 2, completions=[None] * 2, trajectory=[expert, half])
    assert full == 0.5 and abs(partial - 0.5 / len(wanted)) < 1e-9 and len(wanted) >= 2


def test_report_of_a_greedy_only_run(tmp_path):
    script = load_script()
    greedy = {"valid_tool_call_rate": 1.0, "success_rate": 0.25, "episodes": 4, "mean_turns": 3.0}
    for stage in script.STAGES:
        (tmp_path / f"{stage}.json").write_text(json.dumps({"greedy": greedy, "seconds": 1.0}))
    (tmp_path / "grpo").mkdir()
    steps = [{"step": s, "reward": r, "frac_reward_zero_std": z, "env/horizon": 3.0, "env/success": r, "env/turns": 3.0}
             for s, r, z in [(1, 0.0, 1.0), (2, 0.5, 0.5), (3, 0.5, 0.0)]]
    (tmp_path / "grpo" / "metrics.jsonl").write_text("\n".join(map(json.dumps, steps)) + "\n")
    (tmp_path / "greedy_checkpoint-2.json").write_text(json.dumps(
        {"summary": {"success_rate": 0.5, "episodes": 4}, "against_sft_greedy": {"gained": 1, "lost": 0}}))
    script.report(script.Run(tmp_path), script.arguments(["--out", str(tmp_path), "--eval-samples", "0", "--grpo-steps", "3"]))
    table = (tmp_path / "summary.md").read_text()
    assert "Held-out greedy success by GRPO step (step 0 = the SFT model; tasks gained/lost against it): " \
           "0: 1/4; 2: 2/4 (+1/-0); 3: 1/4." in table
    assert (tmp_path / "heldout_by_step.png").exists() or importlib.util.find_spec("matplotlib") is None
    assert "| SFT+GRPO | 100% | 25% (1/4) | not measured |" in table
    assert "3 steps, 2 with non-zero within-group reward variance; mean zero-variance group fraction 0.50" in table
    assert (tmp_path / "heldout.html").exists() and (tmp_path / "grpo_training.html").exists()


def test_sampled_evaluation_of_a_run_folder_uses_the_runs_own_settings(tmp_path):
    from agent_gym.local.files import is_prepared, local_model_dir

    if not is_prepared(local_model_dir()):
        pytest.skip("the embedded model is not prepared (make setup prepares it)")
    (tmp_path / "args.json").write_text(json.dumps({"compact_prompt": True, "heldout_tasks": 2, "distractors": 1,
                                                    "eval_turns": 1, "max_turn_tokens": 8}))
    subprocess.run([sys.executable, str(HELDOUT_EVAL), str(tmp_path), "base", "--samples", "2"], check=True, timeout=600)
    result = json.loads((tmp_path / "sampled_T1_base.json").read_text())
    assert result["summary"]["episodes"] == 4 and result["summary"]["mean_turns"] == 1.0
    assert result["temperature"] == 1.0 and result["model"] == "embedded"
    episodes = [json.loads(line) for line in (tmp_path / "eval_trajectories.jsonl").open()]
    assert len(episodes) == 4 and {e["model"] for e in episodes} == {"eval_base-sampled-T1"}


def test_heldout_eval_finds_checkpoints_and_names_the_models_it_has(tmp_path):
    spec = importlib.util.spec_from_file_location("heldout_eval", HELDOUT_EVAL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (tmp_path / "grpo" / "checkpoint-10").mkdir(parents=True)
    assert module.model_folder(tmp_path, "base") is None
    assert module.model_folder(tmp_path, "sft") == tmp_path / "sft" / "model"
    assert module.model_folder(tmp_path, "checkpoint-10") == tmp_path / "grpo" / "checkpoint-10"
    with pytest.raises(SystemExit, match=r"No model 'checkpoint-20'.*'grpo', 'checkpoint-10'\]"):
        module.model_folder(tmp_path, "checkpoint-20")


def _finished_sft_run(folder: Path) -> None:
    (folder / "sft" / "model").mkdir(parents=True)
    (folder / "sft_data").mkdir()
    for stage in ("synth", "eval_base", "sft", "eval_sft"):
        (folder / f"{stage}.json").write_text(json.dumps({"stage": stage}))
    models = ["eval_base-greedy", "eval_sft-greedy", "eval_grpo-greedy", "eval_sft-sampled"]
    (folder / "eval_trajectories.jsonl").write_text("".join(json.dumps({"model": m}) + "\n" for m in models))


def test_warm_start_reuses_the_sft_stages_of_another_run(tmp_path):
    script = load_script()
    source, run = tmp_path / "v3", script.Run(tmp_path / "v4")
    _finished_sft_run(source)
    script.reuse_warm_start(run, source)
    assert (run.folder / "sft").resolve() == source / "sft" and (run.folder / "sft" / "model").is_dir()
    assert (run.folder / "sft_data").resolve() == source / "sft_data"
    assert run.done("eval_sft") == {"stage": "eval_sft", "warm_start": str(source)}
    assert run.done("grpo") is None and run.done("eval_grpo") is None
    kept = [json.loads(line)["model"] for line in (run.folder / "eval_trajectories.jsonl").open()]
    assert kept == ["eval_base-greedy", "eval_sft-greedy", "eval_sft-sampled"]  # not the source's GRPO episodes
    script.reuse_warm_start(run, source)  # again (a resumed run): nothing duplicated
    assert len((run.folder / "eval_trajectories.jsonl").read_text().splitlines()) == 3


def test_warm_start_from_an_unfinished_run_says_what_to_run(tmp_path):
    script = load_script()
    source = tmp_path / "v3"
    _finished_sft_run(source)
    (source / "eval_sft.json").unlink()
    with pytest.raises(SystemExit, match=r"not finished \['eval_sft'\].*--stop-after eval_sft"):
        script.reuse_warm_start(script.Run(tmp_path / "v4"), source)


def test_grpo_settings_of_the_run(tmp_path):
    script = load_script()
    args = script.arguments(["--grpo-lr", "4e-4", "--grpo-schedule", "constant", "--save-every", "10",
                             "--grpo-prompts", "2", "--generations", "8", "--micro-batch", "2"])
    config = script.grpo_run_config(tmp_path, args)
    assert config.learning_rate == 4e-4 and config.lr_scheduler_type == "constant"
    assert config.save_strategy == "steps" and config.save_steps == 10
    assert config.num_generations == 8 and config.gradient_accumulation_steps == 8  # 2 tasks x 8 episodes / 2
    assert script.grpo_run_config(tmp_path, script.arguments(["--save-every", "0"])).save_strategy == "no"


def test_paired_change_counts_tasks_gained_and_lost(tmp_path):
    script = load_script()
    store = tmp_path / "eval_trajectories.jsonl"
    sft = [True, True, False, False, False, False]
    grpo = [True, False, True, True, True, False]
    rows = [{"id": f"{stage}-{i}", "env": "textcraft", "policy": "evaluate", "model": f"{stage}-greedy",
             "task_id": f"t{i}", "success": ok}
            for stage, outcomes in (("eval_sft", sft), ("eval_grpo", grpo)) for i, ok in enumerate(outcomes)]
    store.write_text("".join(json.dumps(r) + "\n" for r in rows))
    change = script.paired_change(store, "eval_sft", "eval_grpo")
    assert change == {"tasks": 6, "gained": 3, "lost": 1, "p_one_sided": 5 / 16}  # P(X >= 3 | 4 changed, 1/2)
    assert script.paired_change(store, "eval_base", "eval_grpo") is None
    assert script.paired_change(tmp_path / "missing.jsonl", "eval_sft", "eval_grpo") is None


def test_a_run_keeps_its_first_settings_and_logs_every_invocation(tmp_path):
    script = load_script()
    script.record_invocation(tmp_path, script.arguments(["--out", str(tmp_path), "--grpo-steps", "40"]))
    script.record_invocation(tmp_path, script.arguments(["--out", str(tmp_path), "--only", "eval_grpo", "--threads", "1"]))
    assert json.loads((tmp_path / "args.json").read_text())["grpo_steps"] == 40
    calls = [json.loads(line) for line in (tmp_path / "invocations.jsonl").open()]
    assert [(c["only"], c["threads"]) for c in calls] == [(None, None), ("eval_grpo", 1)] and "time" in calls[0]
