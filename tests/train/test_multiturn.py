"""The token-in/token-out multi-turn engine under GRPO: exact ids, env masks, budgets, the rollout_func contract.

These use the embedded model's tokenizer (no model weights) and scripted generations.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from agent_gym import Environment, Message, StepResult, Task, TrajectoryStore, exact_match, user
from agent_gym.envs.calculator import CalculatorEnv, make_tasks
from agent_gym.train import (
    ChatRenderer,
    Generation,
    MultiTurnRollout,
    ScriptedGenerator,
    StepwiseHorizon,
    env_reward_func,
    episode_stats,
    play_episodes,
    to_trajectory,
    trl_reward_func,
)

THINK_CALL = ('<think>\nThe shop sold 51 then 99; I add them.\n</think>\n\n<tool_call>\n'
              '{"name": "calculate", "arguments": {"expression": "51 + 99"}}\n</tool_call>')
THINK_ANSWER = "<think>\nThe tool says 150.\n</think>\n\n150"


@pytest.fixture(scope="module")
def tokenizer():
    from agent_gym.local.files import is_prepared, local_model_dir

    if not is_prepared(local_model_dir()):
        pytest.skip("the embedded model is not prepared (make setup prepares it)")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(local_model_dir())


def odd_ids(tokenizer, text: str) -> list[int]:
    """Ids of `text` split at every character of its first 40 characters: a valid but non-canonical
    tokenization that re-encoding the decoded text can never give back."""
    head = [i for ch in text[:40] for i in tokenizer(ch, add_special_tokens=False)["input_ids"]]
    return head + tokenizer(text[40:], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def test_trained_ids_are_exactly_the_generated_ids_over_a_multi_turn_episode_with_think_blocks(tokenizer):
    env = CalculatorEnv()
    renderer = ChatRenderer(tokenizer, env.tool_schemas())
    turns = [odd_ids(tokenizer, THINK_CALL), odd_ids(tokenizer, THINK_ANSWER)]
    assert tokenizer(tokenizer.decode(turns[0]), add_special_tokens=False)["input_ids"] != turns[0]  # re-encoding drifts
    generator = ScriptedGenerator(turns)
    task = make_tasks(1)[0]  # 51 + 99
    [episode] = asyncio.run(play_episodes(env, [task], generator, renderer, max_turns=5, max_completion_tokens=512, max_turn_tokens=200))

    assert episode.error is None and episode.success and episode.reward == pytest.approx(1.1)
    ids, mask = episode.completion_ids, episode.env_mask
    assert len(ids) == len(mask) == len(episode.logprobs)
    generated = [i for i, m in zip(ids, mask, strict=True) if m == 1]
    assert generated == turns[0] + turns[1]  # token-in/token-out: not one id re-tokenized
    # the layout: turn 1, then the environment's tokens, then turn 2
    first_env = mask.index(0)
    assert ids[:first_env] == turns[0] and ids[first_env:] [len(ids) - first_env - len(turns[1]):] == turns[1]
    env_text = tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m == 0])
    assert env_text == "\n<|im_start|>user\n<tool_response>\n150\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
    # each turn was generated from exactly the ids before it
    assert generator.calls[0] == [episode.prompt_ids]
    assert generator.calls[1] == [episode.prompt_ids + ids[: len(ids) - len(turns[1])]]
    # the conversation record has the reasoning split out and the tool call parsed
    trajectory = to_trajectory(episode, env_name=env.name, policy="grpo", model="m", trajectory_id="t")
    call, answer = trajectory.messages[2], trajectory.messages[4]
    assert call.reasoning.startswith("The shop sold") and call.tool_calls[0].arguments == {"expression": "51 + 99"}
    assert answer.reasoning == "The tool says 150." and answer.content == "150"
    assert trajectory.metrics["generated_tokens"] == len(generated) and trajectory.metrics["env_tokens"] == len(ids) - len(generated)
    # re-rendering the conversation would have lost the <think> blocks the model generated
    rerendered = tokenizer.apply_chat_template(renderer.chat(trajectory.messages), tools=env.tool_schemas(), tokenize=False)
    assert "<think>" not in rerendered and "<think>" in tokenizer.decode(episode.context)


def test_a_turn_cut_by_the_length_cap_is_closed_by_masked_tokens(tokenizer):
    env = CalculatorEnv()
    renderer = ChatRenderer(tokenizer, env.tool_schemas())
    call = tokenizer(THINK_CALL, add_special_tokens=False)["input_ids"]
    generator = ScriptedGenerator([call, [tokenizer.eos_token_id]])  # no EOS after the call
    [episode] = asyncio.run(play_episodes(env, make_tasks(1), generator, renderer, max_turns=2, max_completion_tokens=512,
                                 max_turn_tokens=200))
    first_env = episode.env_mask.index(0)
    assert episode.completion_ids[first_env] == tokenizer.eos_token_id  # the turn is closed, but not trained on
    assert episode.terminated and len(episode.steps) == 2 and episode.completion_ids[-1] == tokenizer.eos_token_id


def test_the_completion_budget_ends_the_episode_before_an_observation_overflows_it(tokenizer):
    env = CalculatorEnv()
    renderer = ChatRenderer(tokenizer, env.tool_schemas())
    call = odd_ids(tokenizer, THINK_CALL)
    [episode] = asyncio.run(play_episodes(env, make_tasks(1), ScriptedGenerator([call]), renderer, max_turns=5,
                                 max_completion_tokens=len(call) + 5, max_turn_tokens=200))
    assert episode.completion_ids == call and set(episode.env_mask) == {1} and episode.truncated


class Broken(Environment):
    name = "broken"

    async def reset(self, task: Task) -> list[Message]:
        return [user(task.prompt)]

    async def step(self, action: Message) -> StepResult:
        if "boom" in action.content:
            raise RuntimeError("the environment crashed")
        return StepResult(observation=(user("again"),))


def test_a_failing_environment_ends_only_its_episode(tokenizer):
    renderer = ChatRenderer(tokenizer)

    class PerPrompt(ScriptedGenerator):
        def generate(self, prompts, max_new_tokens):
            out = []
            for prompt in prompts:
                word = "boom" if "explode" in tokenizer.decode(prompt) else "fine"
                ids = tokenizer(word, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
                out.append(Generation(ids, [0.0] * len(ids)))
            return out

    tasks = [Task(id="a", prompt="please explode"), Task(id="b", prompt="stay calm")]
    good_and_bad = asyncio.run(play_episodes(Broken(), tasks, PerPrompt([[0]]), renderer, max_turns=3,
                                    max_completion_tokens=200, max_turn_tokens=8))
    bad, good = good_and_bad
    assert bad.error is not None and bad.error.kind == "RuntimeError" and len(bad.completion_ids) > 0
    assert good.error is None and len(good.steps) == 3 and good.truncated and good.env_mask.count(0) > 0


def test_text_format_renders_tool_results_as_tool_response_blocks(tokenizer):
    env = CalculatorEnv()
    renderer = ChatRenderer(tokenizer, env.tool_schemas(), tool_format="text")
    prompt = tokenizer.decode(renderer.prompt_ids(asyncio.run(env.reset(make_tasks(1)[0]))))
    assert '"name":"calculate"' in prompt and "<tools>" not in prompt  # the tool list in the system message
    ids = odd_ids(tokenizer, THINK_CALL)
    [episode] = asyncio.run(play_episodes(env, make_tasks(1), ScriptedGenerator([ids, odd_ids(tokenizer, "150")]), renderer,
                                 max_turns=3, max_completion_tokens=400, max_turn_tokens=200))
    env_text = tokenizer.decode([i for i, m in zip(episode.completion_ids, episode.env_mask, strict=True) if m == 0])
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
    asyncio.run(play_episodes(env, make_tasks(3), ScriptedGenerator([answer]), ChatRenderer(tokenizer, env.tool_schemas()),
                     max_turns=2, max_completion_tokens=200, max_turn_tokens=8, progress=True))
    err = capsys.readouterr().err
    assert f"{env.name} episodes" in err and "3/3" in err and "turn=1" in err
