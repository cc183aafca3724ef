"""MathPythonEnv (seed 001's math agent) on the real sandbox: tasks, reward, expert, debug rollouts."""

import json

import pytest

from agent_gym import ScriptedPolicy, Task, ToolCall, TrajectoryStore, assistant, run_rollouts, user
from agent_gym.envs.code.math_python import (
    MathPythonEnv,
    MathPythonExpert,
    boxed_format,
    math_tasks,
    reasoning_gym_tasks,
    worked_steps,
)

GSM8K_ROWS = [
    {"question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
                 "How many clips did Natalia sell altogether in April and May?",
     "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips "
               "altogether in April and May.\n#### 72"},
    {"question": "A shop had 1,500 pens and sold 266. How many are left?",
     "answer": "1,500 - 266 = <<1500-266=1234>>1,234 pens are left.\n#### 1,234"},
]


@pytest.fixture(scope="module")
def tasks():
    return MathPythonEnv().default_tasks()


def test_generated_tasks_are_seeded_and_mixed(tasks):
    assert len(tasks) == 50 and len({t.id for t in tasks}) == 50
    assert {t.metadata["generator"] for t in tasks} == {"gsm_symbolic", "basic_arithmetic", "lcm", "gcd",
                                                         "fraction_simplification"}
    assert [t.prompt for t in reasoning_gym_tasks(seed=0)] == [t.prompt for t in tasks]
    assert [t.prompt for t in reasoning_gym_tasks(seed=1)] != [t.prompt for t in tasks]
    json.dumps([t.to_dict() for t in tasks])  # storable as they are


def test_the_expert_solves_the_default_tasks_through_the_sandbox(tasks, tmp_path):
    # "debug mode": rollouts without training, into a store the later stages read
    store = tmp_path / "debug.jsonl"
    trajectories = run_rollouts(MathPythonEnv(), MathPythonExpert(tasks), tasks, max_concurrency=2,
                                     store=store, progress=False)
    assert not [t.error for t in trajectories if t.error]
    assert sum(bool(t.success) for t in trajectories) / len(tasks) >= 0.95
    assert all(t.messages[2].tool_calls[0].name == "run_python" for t in trajectories)
    assert len(TrajectoryStore(store).read()) == len(tasks)


def test_reward_compares_the_boxed_answer_with_math_verify():
    env = MathPythonEnv()
    fraction = Task(id="f", prompt="Simplify 2/4", answer="1/2")

    async def score(task, reply):
        return await env.rubric.score(task, [user(task.prompt), assistant(reply)])

    import asyncio

    right = asyncio.run(score(fraction, "So it is \\boxed{\\frac{1}{2}}."))
    assert right.components == {"correct": 1.0, "format": 1.0} and right.reward == pytest.approx(1.1)
    wrong = asyncio.run(score(fraction, "\\boxed{2/3}"))
    assert wrong.components["correct"] == 0.0
    unboxed = asyncio.run(score(Task(id="n", prompt="?", answer="72"), "It is 72"))
    assert unboxed.components["format"] == 0.0
    assert boxed_format(fraction, [assistant(tool_calls=(ToolCall(name="run_python", arguments={}),))]) == 0.0


def test_gsm8k_files_and_datasets_load_with_final_answers(tmp_path):
    path = tmp_path / "gsm8k.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in GSM8K_ROWS))
    loaded = math_tasks(path)
    assert [t.answer for t in loaded] == ["72", "1234"] and "<<48/2=24>>" in loaded[0].metadata["solution"]
    pandas = pytest.importorskip("pandas")
    pandas.DataFrame(GSM8K_ROWS).to_parquet(tmp_path / "gsm8k.parquet")
    assert [t.answer for t in math_tasks(tmp_path / "gsm8k.parquet")] == ["72", "1234"]
    datasets = pytest.importorskip("datasets")
    assert [t.answer for t in math_tasks(datasets.Dataset.from_list(GSM8K_ROWS))] == ["72", "1234"]
    assert worked_steps(GSM8K_ROWS[0]["answer"]) == ["48/2", "48+24"]
    env = MathPythonEnv(tasks=path)
    trajectories = run_rollouts(env, MathPythonExpert(env.default_tasks()), env.default_tasks(), progress=False)
    assert [t.success for t in trajectories] == [True, True]


async def test_the_python_tool_is_a_persistent_session():
    env = MathPythonEnv()
    await env.reset(Task(id="t", prompt="What is 6 * 7?", answer="42"))

    def call(code):
        return assistant(tool_calls=(ToolCall(name="run_python", arguments={"code": code}, id="c"),))

    assert (await env.step(call("a = 6"))).observation[0].content == "(no output)"
    assert (await env.step(call("a * 7"))).observation[0].content == "42"
    final = await env.step(assistant("\\boxed{42}"))
    assert final.success is True and final.terminated
    await env.close()
    assert env.sandbox is None


def test_model_garbage_never_crashes_an_episode(tasks):
    replies = [
        '<tool_call>{"name": "run_python", "arguments": {"code": "import os; os.system(\'curl -s http://example.com\')"}}</tool_call>',
        '<tool_call>{"name": "run_python", "arguments": {"code": 42}}</tool_call>',
        "<think>hmm</think><tool_call>[broken",
        "I think it is \\boxed{",
    ]
    trajectories = run_rollouts(MathPythonEnv(), ScriptedPolicy(replies), tasks[:2], progress=False)
    for trajectory in trajectories:
        assert trajectory.error is None and trajectory.terminated and trajectory.success is False
        assert trajectory.reward_components == {"correct": 0.0, "format": 0.0}


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.timeout(900)
def test_embedded_model_episodes_run_end_to_end_in_all_sandboxed_envs():
    from agent_gym.envs.code.python_code import PythonCodeEnv
    from agent_gym.envs.code.shell import ShellEnv
    from agent_gym.local import LocalPolicy, serve_local_model

    with serve_local_model() as server:
        policy = LocalPolicy(server, temperature=1.0, max_tokens=48)
        for env in (MathPythonEnv(), ShellEnv(), PythonCodeEnv("analysis")):
            [trajectory] = run_rollouts(env, policy, env.default_tasks()[:1], max_turns=2, seed=0, progress=False)
            assert trajectory.error is None, (env.name, trajectory.error)
            assert trajectory.terminated or trajectory.truncated
            assert trajectory.success in (True, False)
