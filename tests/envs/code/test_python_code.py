"""PythonCodeEnv on the real sandbox: HumanEval and data-analysis tasks judged by hidden tests."""

import pytest

from agent_gym import ScriptedPolicy, ToolCall, assistant, run_rollouts
from agent_gym.envs.code.python_code import (
    PythonCodeEnv,
    PythonCodeExpert,
    analysis_tasks,
    extract_code,
    humaneval_tasks,
)
from agent_gym.sandbox.box import SandboxLimits


@pytest.fixture(scope="module")
def analysis():
    return analysis_tasks()


def test_task_sets():
    humaneval = humaneval_tasks()
    assert len(humaneval) == 164 and humaneval[0].id == "HumanEval/0"
    assert "def has_close_elements" in humaneval[0].prompt and "check(candidate)" not in humaneval[0].prompt
    assert len(analysis_tasks()) >= 5
    assert len(PythonCodeEnv().default_tasks()) == 164 + len(analysis_tasks())


def test_the_expert_passes_the_analysis_tasks(analysis):
    trajectories = run_rollouts(PythonCodeEnv("analysis"), PythonCodeExpert(analysis), analysis,
                                     max_concurrency=2, progress=False)
    assert [t.task_id for t in trajectories if not t.success] == []
    assert all(t.reward_components == {"tests": 1.0, "format": 1.0} for t in trajectories)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_expert_passes_humaneval_through_the_real_sandbox():
    tasks = humaneval_tasks()
    trajectories = run_rollouts(PythonCodeEnv("humaneval"), PythonCodeExpert(tasks), tasks,
                                     max_concurrency=2, progress=False)
    assert not [t.error for t in trajectories if t.error]
    assert sum(bool(t.success) for t in trajectories) / len(tasks) >= 0.95


def test_the_judge_rejects_wrong_cheating_and_runaway_code():
    env = PythonCodeEnv("humaneval", SandboxLimits(timeout=3))
    task = humaneval_tasks(limit=1)[0]
    good = task.metadata["solution"]
    body_only = good[len(task.metadata["code_prompt"]):]
    assert env.judge(task, f"Here:\n```python\n{good}```")[0]
    assert env.judge(task, f"```python\n{body_only}```")[0]  # a HumanEval-style completion
    verdicts = {
        "wrong": "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```",
        "exit early": "```python\nimport os\nos._exit(0)\n```",
        "sys.exit": "```python\nimport sys\nsys.exit(0)\n```",
        "loops forever": "```python\ndef has_close_elements(numbers, threshold):\n    while True: pass\n```",
        "no code": "",
    }
    outputs = {}
    for name, reply in verdicts.items():
        passed, outputs[name] = env.judge(task, reply)
        assert not passed, name
    assert "AssertionError" in outputs["wrong"] and "timeout" in outputs["loops forever"]
    assert outputs["no code"] == "no code in the reply"


async def test_session_tool_keeps_state_and_sees_the_data_files(analysis):
    env = PythonCodeEnv("analysis")
    task = next(t for t in analysis if t.id == "analysis-revenue")
    await env.reset(task)

    def call(code, i):
        return assistant(tool_calls=(ToolCall(name="run_python", arguments={"code": code}, id=str(i)),))

    first = await env.step(call("import csv\nrows = list(csv.DictReader(open('sales.csv')))\nlen(rows)", 1))
    assert first.observation[0].content == "40"
    second = await env.step(call("import os\nos.remove('sales.csv')\nlen(rows)", 2))
    assert second.observation[0].content == "40"  # state persisted; the file is gone from the job dir
    final = await env.step(assistant(f"```python\n{task.metadata['solution']}```"))
    assert final.success is True  # judged in a fresh sandbox with pristine files
    await env.close()


def test_model_garbage_never_crashes_an_episode(analysis):
    replies = [
        '<tool_call>{"name": "run_python", "arguments": {"code": "while True: print(1)"}}</tool_call>',
        '<tool_call>{"name": "run_python", "arguments": {"code": "x = bytearray(10**10)"}}</tool_call>',
        '<tool_call>{"name": "run_python", "arguments": {}}</tool_call>',
        "```python\ndef total_revenue(path):\n    return 'nope'\n```",
    ]
    env = PythonCodeEnv("analysis", SandboxLimits(timeout=2))
    [trajectory] = run_rollouts(env, ScriptedPolicy(replies), analysis[:1], progress=False)
    assert trajectory.error is None and trajectory.success is False and trajectory.terminated
    tool_texts = [m.content for m in trajectory.messages if m.role == "tool"]
    assert "output truncated" in tool_texts[0] or "timeout" in tool_texts[0]
    assert "MemoryError" in tool_texts[1] and "invalid arguments" in tool_texts[2]


def test_extract_code_prefers_the_block_defining_the_function():
    text = "```python\ndef f(x):\n    return x\n```\nand a test:\n```python\nprint(f(1))\n```"
    assert extract_code(text, "f") == "def f(x):\n    return x\n"
    assert extract_code(text, None) == "print(f(1))\n"
    assert extract_code("def f(): pass", "f") == "def f(): pass"
