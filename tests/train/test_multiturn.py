"""Token-in/token-out episodes through the one engine (`run_rollouts` with a `TokenPolicy`), as GRPO plays
them: exact ids, env masks, budgets, the rollout_func contract.

These use the embedded model's tokenizer (no model weights) and scripted generations.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from agent_gym import (
    Environment,
    Message,
    StepResult,
    Task,
    TrajectoryStore,
    exact_match,
    run_rollouts,
    user,
)
from agent_gym.envs.calculator import CalculatorEnv, make_tasks
from agent_gym.testing.samples import THINK_ANSWER, THINK_CALL, odd_ids
from agent_gym.train import (
    ChatRenderer,
    Generation,
    MultiTurnRollout,
    ScriptedGenerator,
    StepwiseHorizon,
    TokenPolicy,
    env_reward_func,
    episode_stats,
    trl_reward_func,
)


def play(env, tasks, generator, tokenizer, *, max_turns, max_completion_tokens, max_turn_tokens,
         tool_format="native", progress=False):
    """Episodes of `tasks` through the engine with a token policy over `generator`, all batched per turn."""
    policy = TokenPolicy(generator, tokenizer, max_turn_tokens=max_turn_tokens,
                         max_completion_tokens=max_completion_tokens, tool_format=tool_format)
    return run_rollouts(env, policy, tasks, max_turns=max_turns, max_concurrency=len(tasks), progress=progress)


def context(t):
    return list(t.tokens.prompt_ids + t.tokens.completion_ids)


def test_trained_ids_are_exactly_the_generated_ids_over_a_multi_turn_episode_with_think_blocks(tokenizer):
    env = CalculatorEnv()
    renderer = ChatRenderer(tokenizer, env.tool_schemas())
    turns = [odd_ids(tokenizer, THINK_CALL), odd_ids(tokenizer, THINK_ANSWER)]
    assert tokenizer(tokenizer.decode(turns[0]), add_special_tokens=False)["input_ids"] != turns[0]  # re-encoding drifts
    generator = ScriptedGenerator(turns)
    task = make_tasks(1)[0]  # 51 + 99
    [trajectory] = play(env, [task], generator, tokenizer, max_turns=5, max_completion_tokens=512, max_turn_tokens=200)

    assert trajectory.error is None and trajectory.success and trajectory.reward == pytest.approx(1.1)
    tokens = trajectory.tokens
    ids, mask = list(tokens.completion_ids), list(tokens.env_mask)
    assert len(ids) == len(mask) == len(tokens.logprobs)
    generated = [i for i, m in zip(ids, mask, strict=True) if m == 1]
    assert generated == turns[0] + turns[1]  # token-in/token-out: not one id re-tokenized
    # the layout: turn 1, then the environment's tokens, then turn 2
    first_env = mask.index(0)
    assert ids[:first_env] == turns[0] and ids[first_env:] [len(ids) - first_env - len(turns[1]):] == turns[1]
    env_text = tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m == 0])
    assert env_text == "\n<|im_start|>user\n<tool_response>\n150\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
    # each turn was generated from exactly the ids before it
    assert generator.calls[0] == [list(tokens.prompt_ids)]
    assert generator.calls[1] == [list(tokens.prompt_ids) + ids[: len(ids) - len(turns[1])]]
    assert tokens.prompt_ids == tuple(renderer.prompt_ids(trajectory.messages[:2]))
    # the conversation record has the reasoning split out and the tool call parsed
    call, answer = trajectory.messages[2], trajectory.messages[4]
    assert call.reasoning.startswith("The shop sold") and call.tool_calls[0].arguments == {"expression": "51 + 99"}
    assert answer.reasoning == "The tool says 150." and answer.content == "150"
    assert trajectory.metrics["generated_tokens"] == len(generated) and trajectory.metrics["env_tokens"] == len(ids) - len(generated)
    # re-rendering the conversation would have lost the <think> blocks the model generated
    rerendered = tokenizer.apply_chat_template(renderer.chat(trajectory.messages), tools=env.tool_schemas(), tokenize=False)
    assert "<think>" not in rerendered and "<think>" in tokenizer.decode(context(trajectory))
    assert trajectory.policy_info["tokens"] and trajectory.tools == tuple(env.tool_schemas())


def test_a_turn_cut_by_the_length_cap_is_closed_by_masked_tokens(tokenizer):
    env = CalculatorEnv()
    call = tokenizer(THINK_CALL, add_special_tokens=False)["input_ids"]
    generator = ScriptedGenerator([call, [tokenizer.eos_token_id]])  # no EOS after the call
    [episode] = play(env, make_tasks(1), generator, tokenizer, max_turns=2, max_completion_tokens=512, max_turn_tokens=200)
    first_env = episode.tokens.env_mask.index(0)
    assert episode.tokens.completion_ids[first_env] == tokenizer.eos_token_id  # the turn is closed, but not trained on
    assert episode.terminated and len(episode.steps) == 2 and episode.tokens.completion_ids[-1] == tokenizer.eos_token_id


def test_the_completion_budget_ends_the_episode_before_an_observation_overflows_it(tokenizer):
    env = CalculatorEnv()
    call = odd_ids(tokenizer, THINK_CALL)
    [episode] = play(env, make_tasks(1), ScriptedGenerator([call]), tokenizer, max_turns=5,
                     max_completion_tokens=len(call) + 5, max_turn_tokens=200)
    assert list(episode.tokens.completion_ids) == call and set(episode.tokens.env_mask) == {1}
    assert episode.truncated and episode.error is None


class Broken(Environment):
    name = "broken"

    async def reset(self, task: Task) -> list[Message]:
        return [user(task.prompt)]

    async def step(self, action: Message) -> StepResult:
        if "boom" in action.content:
            raise RuntimeError("the environment crashed")
        return StepResult(observation=(user("again"),))


def test_a_failing_environment_ends_only_its_episode(tokenizer):

    class PerPrompt(ScriptedGenerator):
        def generate(self, prompts, max_new_tokens):
            out = []
            for prompt in prompts:
                word = "boom" if "explode" in tokenizer.decode(prompt) else "fine"
                ids = tokenizer(word, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
                out.append(Generation(ids, [0.0] * len(ids)))
            return out

    tasks = [Task(id="a", prompt="please explode"), Task(id="b", prompt="stay calm")]
    bad, good = play(Broken(), tasks, PerPrompt([[0]]), tokenizer, max_turns=3, max_completion_tokens=200, max_turn_tokens=8)
    assert bad.error is not None and bad.error.kind == "RuntimeError" and len(bad.tokens.completion_ids) > 0
    assert good.error is None and len(good.steps) == 3 and good.truncated and good.tokens.env_mask.count(0) > 0


def test_text_format_renders_tool_results_as_tool_response_blocks(tokenizer):
    env = CalculatorEnv()
    renderer = ChatRenderer(tokenizer, env.tool_schemas(), tool_format="text")
    prompt = tokenizer.decode(renderer.prompt_ids(asyncio.run(env.reset(make_tasks(1)[0]))))
    assert '"name":"calculate"' in prompt and "<tools>" not in prompt  # the tool list in the system message
    ids = odd_ids(tokenizer, THINK_CALL)
    [episode] = play(env, make_tasks(1), ScriptedGenerator([ids, odd_ids(tokenizer, "150")]), tokenizer,
                     max_turns=3, max_completion_tokens=400, max_turn_tokens=200, tool_format="text")
    tokens = episode.tokens
    env_text = tokenizer.decode([i for i, m in zip(tokens.completion_ids, tokens.env_mask, strict=True) if m == 0])
    assert '<tool_response name="calculate">150</tool_response>' in env_text and episode.success


def fake_trainer(tokenizer, step=0, group=2):
    return SimpleNamespace(
        state=SimpleNamespace(global_step=step), model=SimpleNamespace(training=True), num_generations=group,
        args=SimpleNamespace(num_generations=group, max_completion_length=300, temperature=1.0, top_p=1.0),
        accelerator=SimpleNamespace(process_index=0, num_processes=1), processing_class=tokenizer)


def test_rollout_func_contract_groups_store_and_horizon(tokenizer, tmp_path):
    env = CalculatorEnv()
    tasks = make_tasks(2)
    replies = [odd_ids(tokenizer, THINK_CALL), odd_ids(tokenizer, THINK_ANSWER)]
    rollout = MultiTurnRollout(env, tasks, horizon=StepwiseHorizon([1, 2], every=1), store=tmp_path / "t.jsonl",
                               generator_factory=lambda trainer: ScriptedGenerator(replies), model_name="smol")
    prompts = [t.id for t in tasks for _ in range(2)]
    first = rollout(prompts, fake_trainer(tokenizer, step=0))
    second = rollout(prompts, fake_trainer(tokenizer, step=1))
    for out in (first, second):
        assert {"prompt_ids", "completion_ids", "logprobs", "env_mask", "env_reward", "trajectory", "horizon"} <= set(out)
        assert all(len(c) == len(m) == len(lp) for c, m, lp in zip(out["completion_ids"], out["env_mask"], out["logprobs"], strict=True))
    assert first["horizon"] == [1] * 4 and second["horizon"] == [2] * 4
    assert [t.num_turns for t in first["trajectory"]] == [1] * 4 and all(0 not in m for m in first["env_mask"])
    assert [t.num_turns for t in second["trajectory"]] == [2] * 4 and all(0 in m for m in second["env_mask"])
    stored = TrajectoryStore(tmp_path / "t.jsonl").read()
    assert len(stored) == 8 and {t.model for t in stored} == {"smol@step0", "smol@step1"}
    groups = [t.metadata["grpo"]["group"] for t in stored]
    assert len(set(groups)) == 4 and groups[0] == groups[1] != groups[2]
    assert [t.metadata["grpo"]["generation"] for t in stored[:4]] == [0, 1, 0, 1]

    logged = {}
    rewards = env_reward_func("calculator")(prompts=prompts, completions=[""] * 4, log_metric=logged.__setitem__,
                                            **{k: v for k, v in second.items() if k not in ("prompt_ids", "completion_ids", "logprobs", "env_mask")})
    assert rewards == [t.reward for t in second["trajectory"]]
    assert logged["env/horizon"] == 2 and logged["env/success"] == 0.5 and logged["env/zero_variance_groups"] == 1.0
    assert len(second["drift"]) == 4 and all(d == second["drift"][0] for d in second["drift"])  # one summary per batch
    assert {k: rollout.history[1][k] for k in second["drift"][0]} == second["drift"][0]  # and in the history
    # the scripted ids are valid but non-canonical (odd_ids): every episode drifts, as a re-tokenization, at
    # the second id of its first turn
    first_turn = min(len(t.tokens.prompt_ids) for t in second["trajectory"]) + 1
    assert (logged["drift/fraction"], logged["drift/retokenized"], logged["drift/first_position"]) == (1.0, 4.0, first_turn)
    # an agent_gym reward function (task, messages) becomes a TRL reward function
    exact = trl_reward_func(exact_match, rollout.tasks)
    assert exact(prompts, [""] * 4, trajectory=second["trajectory"]) == [1.0, 1.0, 0.0, 0.0]
    with pytest.raises(Exception, match="not task ids"):
        rollout(["nope"], fake_trainer(tokenizer))


def test_episode_stats_zero_variance_groups():
    from agent_gym.types import Trajectory

    def t(reward):
        return Trajectory(id=str(reward), task_id="x", env="e", policy="p", reward=reward, success=reward > 0)

    stats = episode_stats([t(0.0), t(0.0), t(1.0), t(0.0)], group_size=2)
    assert stats["env/zero_variance_groups"] == 0.5 and stats["env/success"] == 0.25


def test_progress_bar_counts_finished_episodes(tokenizer, capsys):
    answer = tokenizer("42", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    env = CalculatorEnv()
    run = play(env, make_tasks(3), ScriptedGenerator([answer]), tokenizer, max_turns=2, max_completion_tokens=200,
               max_turn_tokens=8, progress=True)
    err = capsys.readouterr().err
    assert f"{env.name} rollouts" in err and "3/3" in err and "ran=3" in err and run.report().startswith("reused 0, ran 3")


def test_run_rollouts_and_a_grpo_step_record_the_same_metrics_and_count_success_alike(tokenizer, tmp_path):
    from agent_gym.envs.games.textcraft import TextCraftEnv
    from agent_gym.envs.games.textcraft import make_tasks as textcraft_tasks
    from agent_gym.store import summarize

    env = TextCraftEnv()
    tasks = textcraft_tasks(depths=(1,), seeds=range(2), distractors=0)
    replies = ["<tool_call>\n{\"name\": \"act\", \"arguments\": {\"command\": \"inventory\"}}\n</tool_call>",
               "<tool_call>\n{\"name\": \"act\", \"arguments\": {\"command\": \"look around\"}}\n</tool_call>"]
    replies = [tokenizer(r, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for r in replies]
    played = play(env, tasks, ScriptedGenerator(replies), tokenizer, max_turns=2, max_completion_tokens=300,
                  max_turn_tokens=64)
    rollout = MultiTurnRollout(env, tasks, horizon=2, generator_factory=lambda trainer: ScriptedGenerator(replies))
    trained = rollout([t.id for t in tasks for _ in range(2)], fake_trainer(tokenizer))["trajectory"]
    assert {frozenset(t.metrics) for t in played} == {frozenset(t.metrics) for t in trained}
    assert {"invalid", "game_steps", "generated_tokens", "env_tokens", "tool_calls"} <= set(played[0].metrics)
    assert [t.success for t in played] == [t.success for t in trained[::2]] and all(t.tokens for t in trained)
    assert summarize(played)["success_rate"] == summarize(trained)["success_rate"] == episode_stats(trained)["env/success"]
    assert [t.metrics for t in played] == [t.metrics for t in trained[::2]]
