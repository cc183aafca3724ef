import pytest

from agent_gym import ConfigError, Message, Step, Task, ToolCall, Trajectory, assistant, user
from agent_gym.synth import (
    apply_filters,
    best_of_n,
    dedupe,
    keep_if,
    length_bounds,
    min_reward,
    no_errors,
    no_leakage,
    normalize_text,
    successful,
    valid_format,
)
from agent_gym.types import ErrorInfo, Usage


def traj(i, task="a", reward=1.0, success=True, answer="42", prompt="question?", **kw) -> Trajectory:
    messages = (user(prompt), assistant(tool_calls=(ToolCall(name="f", id="c"),)), Message(role="tool", content="r", name="f", tool_call_id="c"), assistant(answer))
    return Trajectory(id=f"t{i}", task_id=task, env="e", policy="p", sample_index=i, reward=reward, success=success,
                      messages=messages, steps=(Step(action_index=1, observation_count=1), Step(action_index=3, observation_count=0)), **kw)


def names(ts):
    return [t.id for t in ts]


def test_each_filter_reports_what_it_removed():
    ts = [traj(0), traj(1, reward=0.0, success=False), traj(2, error=ErrorInfo(kind="X", message="m")), traj(3)]
    kept, reports = apply_filters(ts, [no_errors(), min_reward(0.5), successful()])
    assert names(kept) == ["t0", "t3"]
    assert [(r.name, r.before, r.after, r.removed) for r in reports] == [
        ("no_errors", 4, 3, 1), ("reward>=0.5", 3, 2, 1), ("success", 2, 2, 0)]
    assert reports[1].pass_rate == pytest.approx(2 / 3)


def test_best_of_n_keeps_the_best_per_task_in_input_order():
    ts = [traj(0, "a", 0.2), traj(1, "a", 0.9), traj(2, "b", 0.5), traj(3, "a", 0.9), traj(4, "b", 0.1)]
    assert names(best_of_n(1)(ts, {})) == ["t1", "t2"]
    assert names(best_of_n(2)(ts, {})) == ["t1", "t2", "t3", "t4"]
    with pytest.raises(ConfigError):
        best_of_n(0)


def test_valid_format_needs_parsed_turns_and_a_natural_end():
    good = traj(0, terminated=True)
    unparsed = good.model_copy(update={"messages": (user("q"), Message(role="assistant", content="<tool_call>{", error="bad"), assistant("1"))})
    ended_by_env = good.model_copy(update={"messages": good.messages[:3]})  # a game won by the last action
    cut_short = good.model_copy(update={"terminated": False, "truncated": True})
    empty = good.model_copy(update={"messages": (user("q"), assistant("  "))})
    assert names(valid_format()([good, unparsed, ended_by_env, cut_short, empty], {})) == ["t0", "t0"]


def test_length_bounds():
    ts = [traj(0, usage=Usage(completion_tokens=10)), traj(1, usage=Usage(completion_tokens=500))]
    assert names(length_bounds(max_tokens=100)(ts, {})) == ["t0"]
    assert names(length_bounds(min_turns=3)(ts, {})) == []
    assert names(length_bounds(max_chars=5)(ts, {})) == []


def test_dedupe_exact_and_near():
    a, b, c = traj(0, answer="The answer is 42."), traj(1, answer="the  answer is 42"), traj(2, answer="41")
    assert names(dedupe(near=False)([a, b, c, a], {})) == ["t0", "t1", "t2"]
    assert names(dedupe()([a, b, c], {})) == ["t0", "t2"]
    assert normalize_text("Héllo,  WORLD!") == "hello world"


def test_no_leakage_checks_the_answer_against_the_prompt():
    tasks = {"a": Task(id="a", prompt="x", answer="1234"), "b": Task(id="b", prompt="x", answer="12")}
    leaked = traj(0, "a", prompt="The answer is 1234, repeat it.", answer="1234")
    fine = traj(1, "b", prompt="There are 123 apples", answer="12")  # '12' only inside another number
    derived = traj(2, "a", prompt="What is 1000 + 234?", answer="1234")
    game = traj(3, "a", prompt="Craft 1234").model_copy(update={"messages": traj(3).messages[:3]})  # ends on a tool result
    assert names(no_leakage()([leaked, fine, derived, game], tasks)) == ["t1", "t2", "t3"]


def test_custom_predicate_and_bad_filter_objects():
    odd = keep_if("odd", lambda t, task: t.sample_index % 2 == 1)
    assert names(apply_filters([traj(0), traj(1)], [odd])[0]) == ["t1"]
    with pytest.raises(ConfigError, match="keep_if"):
        apply_filters([traj(0)], [lambda ts, tasks: ts])  # type: ignore[list-item]
