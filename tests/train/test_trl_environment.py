"""`as_trl_environment`: agent_gym environments through TRL's own agent API, `GRPOTrainer(environment_factory=…)`.

The tool schemas TRL derives from the generated methods equal the environment's own; episodes are played
through the real environments (TextCraft ends through a tool, the calculator scores a final answer); and
two real GRPO steps of the embedded model with LoRA run through a plain `trl.GRPOTrainer`."""

from __future__ import annotations

import inspect
import json

import pytest

from agent_gym.envs.calculator import CalculatorEnv
from agent_gym.envs.calculator import make_tasks as calculator_tasks
from agent_gym.envs.games.textcraft.env import TextCraftEnv, make_tasks, parse_opening, plan
from agent_gym.errors import ConfigError
from agent_gym.train import as_trl_environment

pytest.importorskip("trl")


def textcraft_tasks():
    return make_tasks(depths=(1,), seeds=range(2), distractors=0)


@pytest.mark.parametrize("env", [TextCraftEnv(), CalculatorEnv()], ids=["textcraft", "calculator"])
def test_trl_derives_the_environments_own_tool_schemas(env):
    from transformers.utils import get_json_schema

    Env = as_trl_environment(env, calculator_tasks(2) if env.name == "calculator" else textcraft_tasks())
    tools = [name for name, _ in inspect.getmembers(Env, predicate=inspect.isfunction)
             if name not in ("reset", "get_reward") and not name.startswith("_")]  # what TRL offers as tools
    assert tools == sorted(s["function"]["name"] for s in env.tool_schemas())
    instance = Env()
    for schema in env.tool_schemas():
        ours = schema["function"]
        theirs = get_json_schema(getattr(instance, ours["name"]))
        theirs = theirs.get("function", theirs)
        assert theirs["name"] == ours["name"] and theirs["description"] == ours["description"]
        assert theirs["parameters"]["required"] == ours["parameters"]["required"]
        for name, spec in ours["parameters"]["properties"].items():
            assert theirs["parameters"]["properties"][name] == {"type": spec["type"], "description": spec["description"]}


def test_an_episode_ended_by_a_tool_is_scored_by_get_reward():
    env = TextCraftEnv()
    Env = as_trl_environment(env, textcraft_tasks())
    row = Env.dataset()[0]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"] and "Goal: craft" in row["prompt"][1]["content"]
    instance = Env()
    assert instance.reset(**row) is None
    opening = instance.messages
    for command in plan(*parse_opening(opening[-1].content)):  # the expert's commands
        reply = instance.act(command=command)
        assert isinstance(reply, str) and reply
    assert instance.success is True and instance.get_reward() == 1.0  # the goal was crafted through the tool
    assert instance.act(command="inventory").startswith("Error: the episode has ended")
    assert Env.final_answer([[{"role": "assistant", "content": "done"}]], environments=[instance]) == [0.0]
    instance.reset(**row)  # the next rollout starts afresh
    assert instance.get_reward() == 0.0 and instance.success is None and len(instance.messages) == len(opening)
    with pytest.raises(ConfigError, match="task_id"):
        instance.reset(prompt=row["prompt"], task_id="nope")


def test_a_final_answer_is_scored_by_final_answer():
    tasks = calculator_tasks(2)
    Env = as_trl_environment(CalculatorEnv(), tasks)
    rows = Env.dataset()
    right, wrong = Env(), Env()
    right.reset(**rows[0])
    wrong.reset(**rows[1])
    assert right.calculate(expression=tasks[0].metadata["expression"]) == tasks[0].answer
    assert right.calculate(expression="1 +").startswith("Error")  # a tool error goes back as text
    completions = [[{"role": "assistant", "content": f"{tasks[0].answer}"}],
                   [{"role": "assistant", "content": "", "tool_calls": [{"type": "function"}]}]]  # cut before an answer
    assert Env.final_answer(completions, environments=[right, wrong]) == [pytest.approx(1.1), 0.0]
    assert right.success is True and right.get_reward() == 0.0  # the tool calls themselves earn nothing


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.timeout(300)
def test_two_grpo_steps_through_trls_environment_factory(model_dir, tmp_path):
    import torch
    from trl import GRPOTrainer

    from agent_gym.train import MetricsLogger, grpo_config, lora_config, trl_tokenizer

    torch.manual_seed(0)
    Env = as_trl_environment(TextCraftEnv(), textcraft_tasks())
    config = grpo_config(tmp_path / "trl", max_steps=2, num_generations=2, per_device_train_batch_size=2,
                         gradient_accumulation_steps=1, max_completion_length=64, max_tool_calling_iterations=2,
                         seed=0)
    logger = MetricsLogger(tmp_path / "trl" / "metrics.jsonl")
    trainer = GRPOTrainer(model=str(model_dir), args=config, train_dataset=Env.dataset(),
                          processing_class=trl_tokenizer(model_dir), environment_factory=Env,
                          reward_funcs=[Env.final_answer], peft_config=lora_config(r=4), callbacks=[logger])
    trainer.train()

    lines = [json.loads(line) for line in logger.path.read_text().splitlines()]
    steps = [line for line in lines if "loss" in line]
    assert [line["step"] for line in steps] == [1, 2]
    for line in steps:  # both reward sources are columns: the answer's and the environment's own (get_reward)
        assert "rewards/final_answer/mean" in line and f"rewards/{Env.__name__}/mean" in line
        assert "tools/call_frequency" in line  # TRL ran its tool loop over the environment's methods
    played = trainer._environment_pool[None]
    assert played and all(isinstance(e, Env) for e in played)
    assert all(e.messages[0].role == "system" for e in played)  # every instance was reset on a real task


def test_the_class_pickles_as_the_call_that_builds_it():
    # TRL's AsyncGRPOTrainer pickles environment_factory into a spawned process
    import pickle

    from agent_gym.distributed.specs import EnvSpec

    Env = as_trl_environment(EnvSpec("calculator"), calculator_tasks(2))  # its tool function pickles by spec
    Again = pickle.loads(pickle.dumps(Env))
    assert Again is not Env and Again.__name__ == Env.__name__ and sorted(Again._tasks) == sorted(Env._tasks)
    instance = Again()
    instance.reset(**Env.dataset()[0])
    assert instance.calculate(expression="6 * 7") == "42"
