from pathlib import Path

import pytest

from agent_gym import load_tasks, run_rollouts_async
from agent_gym.envs.calculator import CalculatorEnv, CalculatorExpert, calculate, make_tasks

DATA = Path(__file__).resolve().parents[2] / "data" / "tasks" / "calculator.jsonl"


def test_shipped_task_file_matches_the_generator():
    assert load_tasks(DATA) == make_tasks(50) == CalculatorEnv().default_tasks()


def test_tasks_are_seeded():
    assert make_tasks(5, seed=1) == make_tasks(5, seed=1) != make_tasks(5, seed=2)


@pytest.mark.parametrize("expression, result", [("(17 + 5) * 3", "66"), ("7 / 2", "3.5"), ("-4 // 3", "-2")])
def test_calculate(expression, result):
    assert calculate(expression) == result


async def test_calculate_refuses_code_and_reports_to_the_model():
    out = await calculate.run({"expression": "__import__('os').system('true')"})
    assert out.is_error and "only numbers" in out.content


async def test_expert_solves_every_task():
    out = await run_rollouts_async(CalculatorEnv(), CalculatorExpert(), make_tasks(12), progress=False)
    assert all(t.success and t.reward == pytest.approx(1.1) for t in out)
    assert all(t.messages[2].tool_calls[0].name == "calculate" for t in out)
