"""Two real GRPO steps with LoRA on the embedded model over a multi-turn environment (TextCraft):
the loss mask TRL trains with is exactly the rollout's env mask, and the horizon schedule is logged."""

from __future__ import annotations

import json

import pytest

from agent_gym import TrajectoryStore
from agent_gym.envs.games.textcraft.env import TextCraftEnv, make_tasks

pytestmark = [pytest.mark.slow, pytest.mark.model]


@pytest.mark.timeout(900)
def test_two_grpo_steps_mask_environment_tokens_and_log_the_horizon(model_dir, tmp_path):
    import torch

    from agent_gym.train import StepwiseHorizon, build_grpo_trainer, grpo_config, lora_config

    torch.manual_seed(0)
    env = TextCraftEnv()
    tasks = make_tasks(depths=(1,), seeds=range(2), distractors=0)
    config = grpo_config(tmp_path / "grpo", max_steps=2, num_generations=2, per_device_train_batch_size=4,
                         gradient_accumulation_steps=1, max_completion_length=80, seed=0)
    trainer, rollout, logger = build_grpo_trainer(env, model_dir, tasks, config, horizon=StepwiseHorizon([1, 2], every=1),
                                                  peft_config=lora_config(), max_turn_tokens=20)
    produced, trained = [], []
    play_batch = trainer.rollout_func

    def spy_rollout(prompts, trainer_):
        out = play_batch(prompts, trainer_)
        produced.append(out)
        return out

    compute_loss = trainer._compute_loss

    def spy_loss(model, inputs):
        trained.append({k: inputs[k].detach().clone() for k in ("completion_ids", "completion_mask", "tool_mask")})
        return compute_loss(model, inputs)

    generated: list[list[list[int]]] = []  # per generation call, the ids of each sequence
    make_generator = rollout.generator_factory

    def spy_generator(trainer_):
        generator = make_generator(trainer_)
        generate = generator.generate

        def recording(prompts, max_new_tokens):
            out = generate(prompts, max_new_tokens)
            generated.append([list(g.ids) for g in out])
            return out

        generator.generate = recording
        return generator

    rollout.generator_factory = spy_generator
    trainer.rollout_func, trainer._compute_loss = spy_rollout, spy_loss
    trainer.train()

    # the loss mask: every row TRL trained on carries, as its tool mask, the env mask of the episode it came from
    assert len(produced) == len(trained) == 2
    tokenizer = trainer.processing_class
    for out, batch in zip(produced, trained, strict=True):
        episodes = {tuple(ids): mask for ids, mask in zip(out["completion_ids"], out["env_mask"], strict=True)}
        for ids, keep, mask in zip(batch["completion_ids"], batch["completion_mask"], batch["tool_mask"], strict=True):
            length = int(keep.sum())
            env_mask = episodes[tuple(ids[:length].tolist())]
            assert mask[:length].tolist() == env_mask
            loss_mask = (keep * mask)[:length].tolist()
            env_text = tokenizer.decode([t for t, m in zip(ids[:length].tolist(), loss_mask, strict=True) if m == 0])
            assert env_text == "" or "<|im_start|>user" in env_text  # what is masked is the environment's turn
    # token-in/token-out through the one engine: what TRL trained on is the generator's own ids, not a re-encoding
    from agent_gym.train import mask_spans

    outputs = {tuple(g) for call in generated for g in call}
    for out in produced:
        for ids, mask, t in zip(out["completion_ids"], out["env_mask"], out["trajectory"], strict=True):
            assert list(t.tokens.completion_ids) == ids and list(t.tokens.env_mask) == mask
            turns = [span for trained, span in mask_spans(ids, mask) if trained]
            assert len(turns) == t.num_turns
            for k, span in enumerate(turns):  # each turn is one generation, verbatim (the last may be cut by the budget)
                assert tuple(span) in outputs or (k == len(turns) - 1 and any(g[: len(span)] == tuple(span) for g in outputs))
    second = produced[1]
    assert all(0 in mask for mask in second["env_mask"])  # horizon 2: every episode had an observation in between
    assert all(sum(m) == t.metrics["generated_tokens"] for m, t in zip(second["env_mask"], second["trajectory"], strict=True))

    # the horizon schedule, applied per step and logged per step
    lines = [json.loads(line) for line in logger.path.read_text().splitlines()]
    steps = [line for line in lines if "env/horizon" in line]
    assert [(line["step"], line["env/horizon"]) for line in steps] == [(1, 1.0), (2, 2.0)]
    assert all(k in steps[0] for k in ("loss", "kl", "reward", "env/success", "env/turns", "frac_reward_zero_std"))
    stored = TrajectoryStore(tmp_path / "grpo" / "trajectories.jsonl").read()
    # token drift, logged per step: what check_drift says of that step's stored episodes; the template renders
    # every turn as played, so any drift is a sampled tokenization re-encoding does not give back
    from agent_gym.train import drift_metrics

    for line, step in zip(steps, (0, 1), strict=True):
        expected = drift_metrics([t for t in stored if t.metadata["grpo"]["step"] == step], tokenizer)
        assert {k: line[k] for k in expected} == expected
        assert line["drift/episodes"] == line["drift/retokenized"]
    assert len(stored) == 8
    assert [max(t.num_turns for t in stored if t.metadata["grpo"]["step"] == s) for s in (0, 1)] == [1, 2]
    assert len({t.metadata["grpo"]["group"] for t in stored}) == 4
    assert rollout.history[1]["horizon"] == 2


@pytest.mark.timeout(600)
def test_debug_mode_plays_and_scores_without_training(model_dir, tmp_path):
    from agent_gym import exact_match
    from agent_gym.train import grpo, grpo_config

    env = TextCraftEnv()
    tasks = make_tasks(depths=(1,), seeds=range(2), distractors=0)
    config = grpo_config(tmp_path / "debug", num_generations=2, per_device_train_batch_size=4, gradient_accumulation_steps=1,
                         max_completion_length=48)
    run = grpo(env, model_dir, tasks, config, horizon=2, reward_funcs=[exact_match], max_turn_tokens=16, train=False)
    assert set(run.debug["rewards"]) == {"textcraft", "exact_match"} and len(run.debug["total"]) == 4
    assert run.debug["stats"]["env/horizon"] == 2.0 and 0.0 <= run.debug["stats"]["frac_reward_zero_std"] <= 1.0
    assert run.trainer.state.global_step == 0 and len(run.trajectories()) == 4
    assert {t.metadata["grpo"]["phase"] for t in run.trajectories()} == {"debug"}
    assert run.metrics()["phase"].tolist() == ["debug"]


@pytest.mark.timeout(900)
def test_a_crashed_run_resumes_from_its_checkpoint_without_duplicates(model_dir, tmp_path):
    from transformers import TrainerCallback

    from agent_gym.train import grpo, grpo_config, lora_config

    class CrashAfterLogging(TrainerCallback):  # step 2 is logged and played, its checkpoint never saved
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.global_step == 2:
                raise RuntimeError("killed")

    env = TextCraftEnv()
    tasks = make_tasks(depths=(1,), seeds=range(2), distractors=0)
    config = grpo_config(tmp_path / "grpo", max_steps=3, num_generations=2, per_device_train_batch_size=4,
                         gradient_accumulation_steps=1, max_completion_length=48, seed=0,
                         save_strategy="steps", save_steps=1)
    common = {"horizon": 1, "peft_config": lora_config(), "max_turn_tokens": 12}
    with pytest.raises(RuntimeError, match="killed"):
        grpo(env, model_dir, tasks, config, callbacks=[CrashAfterLogging()], **common)
    assert sorted(p.name for p in (tmp_path / "grpo").glob("checkpoint-*")) == ["checkpoint-1"]

    run = grpo(env, model_dir, tasks, config, resume=True, **common)
    assert run.resumed_from == tmp_path / "grpo" / "checkpoint-1" and run.trainer.state.global_step == 3
    logged = [line for line in run.metrics().to_dict("records") if line.get("env/horizon") == 1.0]
    assert [line["step"] for line in logged] == [1, 2, 3]  # step 2 once: the crashed run's line was dropped
    assert logged[0]["run"] != logged[1]["run"] == logged[2]["run"]
    episodes = run.trajectories()
    assert sorted(t.metadata["grpo"]["step"] for t in episodes) == [0] * 4 + [1] * 4 + [2] * 4
    assert {t.metadata["grpo"]["run"] for t in episodes if t.metadata["grpo"]["step"] >= 1} == {logged[1]["run"]}
    assert (tmp_path / "grpo" / "adapter_model.safetensors").exists()
