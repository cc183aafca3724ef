import re

import pytest

from agent_gym import (
    ConfigError,
    Rubric,
    Task,
    assistant,
    exact_match,
    format_ok,
    math_match,
    numeric_match,
    user,
    weighted,
)
from agent_gym.rewards import extract_boxed
from agent_gym.rewards.functions import extract_number
from agent_gym.rewards.rubric import as_rubric


def convo(answer: str):
    return [user("q"), assistant(answer)]


def test_extractors():
    assert extract_boxed(r"so \boxed{\frac{1}{2}} done") == r"\frac{1}{2}"
    assert extract_boxed("no box") is None
    assert extract_number("it is 1,234.5 apples") == 1234.5
    assert extract_number("none") is None


@pytest.mark.parametrize(
    "fn, answer, gold, expected",
    [
        (exact_match, " 5 ", "5", 1.0), (exact_match, r"\boxed{5}", "5", 1.0), (exact_match, "6", "5", 0.0),
        (numeric_match, "The answer is 5.0", "5", 1.0), (numeric_match, "about 4", "5", 0.0), (numeric_match, "none", "5", 0.0),
        (math_match, r"The answer is $\frac{1}{2}$", "0.5", 1.0), (math_match, r"$\frac{1}{3}$", "0.5", 0.0),
    ],
)
def test_matchers(fn, answer, gold, expected):
    assert fn(Task(id="1", prompt="q", answer=gold), convo(answer)) == expected


def test_format_ok_requires_clean_turns_and_a_final_answer():
    assert format_ok(Task(id="1", prompt="q"), convo("5")) == 1.0
    assert format_ok(Task(id="1", prompt="q"), [user("q"), assistant("")]) == 0.0
    bad = assistant("x").model_copy(update={"error": "bad"})
    assert format_ok(Task(id="1", prompt="q"), [user("q"), bad, assistant("5")]) == 0.0


async def test_rubric_weights_components_and_keeps_raw_values():
    async def judged(task, messages):
        return 0.5

    rubric = weighted(correct=(numeric_match, 1.0), format=(format_ok, 0.2), judge=(judged, 2.0))
    result = await rubric.score(Task(id="1", prompt="q", answer="5"), convo("5"))
    assert result.components == {"correct": 1.0, "format": 1.0, "judge": 0.5}
    assert result.reward == pytest.approx(1.0 + 0.2 + 1.0)


def test_rubric_configuration_errors():
    with pytest.raises(ConfigError, match="at least one"):
        Rubric({})
    with pytest.raises(ConfigError, match="unknown components"):
        Rubric({"a": exact_match}, {"b": 1.0})
    assert list(as_rubric(exact_match).funcs) == ["exact_match"]
    with pytest.raises(ConfigError):
        as_rubric(3)  # type: ignore[arg-type]


def test_a_reward_that_raises_or_returns_no_number_is_reported_by_name():
    from agent_gym import ScriptedPolicy, ToolEnv, run_rollouts
    from agent_gym.testing.toys import add

    def needs_answer(task, messages):
        return float(task.metadata["answer"])

    def forgets_to_return(task, messages):
        pass

    task = Task(id="t1", prompt="2+3?", answer="5")
    for reward, words in [(needs_answer, r"Reward 'needs_answer' \(.*needs_answer\) raised KeyError: 'answer' \(task 't1'\)"),
                          (Rubric({"shape": forgets_to_return}), r"Reward 'shape' \(.*forgets_to_return\) returned None, not a number")]:
        [t] = run_rollouts(ToolEnv(tools=[add], reward=reward, name="r"), ScriptedPolicy(["5"]), [task], progress=False)
        assert t.error is not None and t.error.kind == "RewardError"
        assert re.search(words, t.error.message), t.error.message
