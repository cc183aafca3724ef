"""The widgets' Python side: view models, filtering, grouping, alignment, escaping (no browser)."""

from __future__ import annotations

import json

import pytest

from agent_gym.testing.samples import HOSTILE, edge_cases, sample_store
from agent_gym.types import ErrorInfo, Message, Step, ToolCall, Trajectory, Usage
from agent_gym.widgets import (
    Query,
    advantages,
    align,
    answer_flags,
    apply_query,
    coerce_trajectory,
    frame,
    group_summary,
    make_groups,
    outcome_diff,
    pairs,
    script_json,
    trajectory_view,
    word_diff,
)
from agent_gym.widgets.models.trajectory import full_segment_text, jump_target, split_content


def traj(tid="t1", task="calc-1", reward=1.0, sample=0, model="m", answer="42", error=None, steps=None, messages=None, **kw):
    call = ToolCall(name="calculate", arguments={"expression": "6*7"}, id="c1")
    messages = messages or (
        Message(role="system", content="sys"), Message(role="user", content="What is 6*7?"),
        Message(role="assistant", reasoning="use the tool", tool_calls=(call,)),
        Message(role="tool", content="42", name="calculate", tool_call_id="c1"),
        Message(role="assistant", content=answer),
    )
    steps = steps if steps is not None else (
        Step(action_index=2, observation_count=1, reward=0.0),
        Step(action_index=4, observation_count=0, reward=reward, components={"correct": reward}, terminated=True,
             info={"judge": {"rationale": "matches"}}),
    )
    return Trajectory(id=tid, task_id=task, env="calc", policy="p", model=model, sample_index=sample, messages=messages,
                      steps=steps, reward=reward, success=reward > 0.5, error=error, usage=Usage(completion_tokens=10), **kw)


# ---------------------------------------------------------------- view model

def test_view_pairs_tool_calls_with_responses_and_marks_turns():
    v = trajectory_view(traj())
    assert v["preamble"] == [0, 1]
    assert [t["action"] for t in v["turns"]] == [2, 4]
    call = v["messages"][2]["tool_calls"][0]
    assert call["response"] == 3 and json.loads(call["arguments"]) == {"expression": "6*7"}
    assert v["messages"][3]["reply_to"] == [2, 0]
    assert v["messages"][2]["segments"][0] == {"kind": "think", "text": "use the tool"}
    assert v["turns"][1]["judge"] == "matches" and v["turns"][1]["cumulative"] == 1.0
    assert v["reward_change_turns"] == [1] and v["first_error_turn"] is None


def test_think_blocks_left_in_text_are_split_and_tool_json_is_pretty():
    parts = split_content(Message(role="assistant", content="<think>hmm</think>The answer is 4"))
    assert [p["kind"] for p in parts] == ["think", "text"] and parts[1]["text"] == "The answer is 4"
    tool = split_content(Message(role="tool", content='{"a":[1,2]}'))
    assert tool == [{"kind": "json", "text": '{\n  "a": [\n    1,\n    2\n  ]\n}'}]


def test_errors_are_located_and_jumps_work():
    failed = traj(messages=traj().messages[:3], steps=(), error=ErrorInfo(kind="PolicyError", message="boom"))
    v = trajectory_view(failed)
    assert v["turns"][-1]["partial"] and "error" in v["turns"][-1]["flags"]
    assert jump_target(v, 0, "error") == v["first_error_turn"] == 0
    tool_error = traj(messages=(*traj().messages[:3], Message(role="tool", content="Error: bad", tool_call_id="c1"), traj().messages[4]))
    v2 = trajectory_view(tool_error)
    assert v2["first_error_turn"] == 0 and "tool_error" in v2["turns"][0]["flags"]
    assert jump_target(v2, 0, "change") == 1 and jump_target(v2, 1, "next") == 1 and jump_target(v2, 1, "first") == 0
    with pytest.raises(ValueError):
        jump_target(v2, 0, "sideways")


def test_huge_output_is_truncated_and_expandable():
    huge = edge_cases()["huge_output"]
    v = trajectory_view(huge)
    tool = next(m for m in v["messages"] if m["role"] == "tool")
    seg = tool["segments"][0]
    assert seg["truncated"] and seg["length"] > 1_000_000 and len(seg["text"]) + len(seg["tail"]) == 10_000
    assert len(json.dumps(v)) < 50_000
    full = full_segment_text(huge.messages[tool["index"]], 0)
    assert len(full) == seg["length"]


def test_bad_records_are_repaired_not_fatal():
    cases = edge_cases()
    v = trajectory_view(cases["missing"])
    assert v["id"] == "missing-fields" and v["task_id"] == "?"
    assert any("messages" in w for w in v["warnings"]) and any("reward" in w for w in v["warnings"])
    assert [m["role"] for m in v["messages"]] == ["user"]
    dangling = trajectory_view(cases["dangling"])
    assert dangling["turns"][0]["action"] == -1 and dangling["warnings"]
    long = trajectory_view(cases["long"])
    assert len(long["turns"]) == 200 and long["turns"][-1]["truncated"]
    t, warnings = coerce_trajectory(traj())
    assert warnings == [] and t.id == "t1"


def test_hostile_text_stays_text_in_the_view_and_in_script_json():
    hostile = edge_cases()["hostile"]
    v = trajectory_view(hostile)
    texts = [s["text"] for m in v["messages"] for s in m["segments"]]
    assert any(HOSTILE in text for text in texts)  # kept verbatim: the browser inserts it as text
    encoded = script_json(v)
    assert "<" not in encoded and ">" not in encoded and "&" not in encoded
    assert json.loads(encoded) == json.loads(json.dumps(v))


# ---------------------------------------------------------------- table

@pytest.fixture(scope="module")
def df():
    runs = {"a": [traj("1", "t1", 1.0), traj("2", "t2", 0.0, answer="41"),
                  traj("3", "t3", 0.0, model=None, error=ErrorInfo(kind="PolicyError", message="503"))],
            "b": [traj("4", "t1", 0.5, model="other")]}
    return frame(runs)


def test_query_filters_sorts_and_pages(df):
    assert list(df["key"]) == ["a/1", "a/2", "a/3", "b/4"]
    page, total, err = apply_query(df, Query(status="error"))
    assert total == 1 and page.iloc[0]["id"] == "3" and err is None
    assert apply_query(df, Query(model="(none)"))[1] == 1
    assert apply_query(df, Query(run="b"))[1] == 1
    assert apply_query(df, Query(text="T1"))[1] == 2  # case-insensitive, over ids and answers
    assert apply_query(df, Query(text="41"))[1] == 1
    page, total, _ = apply_query(df, Query(sort_by="reward", descending=True, page=1, page_size=2))
    assert total == 4 and list(page["id"]) == ["2", "3"]
    page, total, _ = apply_query(df, Query(page=99, page_size=3))
    assert list(page["id"]) == ["4"]  # clamped to the last page


def test_pandas_expressions_and_their_errors(df):
    assert apply_query(df, Query(text="=reward >= 0.5 and turns == 2"))[1] == 2
    page, total, err = apply_query(df, Query(text="=nope > 1"))
    assert total == 4 and "nope" in err
    assert Query.from_dict({"status": "weird"}) == Query()
    assert Query.from_dict({"text": "x", "unknown": 1}).text == "x"


# ---------------------------------------------------------------- groups

def test_advantages_match_grpo():
    mean, std, adv = advantages([1.0, 0.0, 0.0, 1.0])
    assert mean == 0.5 and std == pytest.approx(0.57735, rel=1e-4)
    assert adv[0] == pytest.approx(0.5 / (std + 1e-4))
    assert advantages([2.0]) == (2.0, 0.0, [0.0])


def test_groups_flag_zero_variance_and_suspicious_winners():
    same = [traj(f"s{i}", "same", 1.0, sample=i) for i in range(3)]
    hedger = [traj("h0", "hedge", 0.0, sample=0, answer="41"), traj("h1", "hedge", 1.0, sample=1, answer="maybe 41 or 42"),
              traj("h2", "hedge", 0.0, sample=2, answer="")]
    groups = {g.task_id: g for g in make_groups(same + hedger)}
    assert "zero_variance" in groups["same"].flags and all(s.advantage == 0 for s in groups["same"].samples)
    assert "suspicious_winner" in groups["hedge"].flags
    assert groups["hedge"].samples[1].flags == ("hedging",)
    assert groups["hedge"].samples[2].flags == ()  # losers are not checked
    assert group_summary(list(groups.values()))["signal_fraction"] == 0.5
    assert answer_flags("") == ["empty"] and answer_flags("42") == [] and answer_flags("1, 2, 3 or 4") == ["hedging"]


def test_long_winner_is_flagged():
    members = [traj(f"l{i}", "long", float(i == 0), sample=i) for i in range(3)]
    members[0] = members[0].model_copy(update={"usage": Usage(completion_tokens=100)})
    [group] = make_groups(members)
    assert "long" in group.samples[0].flags


# ---------------------------------------------------------------- compare

def test_alignment_marks_differences_by_turn():
    a = traj("a", answer="42")
    b = traj("b", answer="41", reward=0.0)
    rows = align(a, b)
    assert rows[0]["same"] and rows[1]["diff"] == ["content", "reward"]
    assert ["-", "42"] in rows[1]["content_diff"] and ["+", "41"] in rows[1]["content_diff"]
    short = traj("c", messages=traj().messages[:4], steps=traj().steps[:1])
    assert align(a, short)[1] == {"turn": 1, "a": True, "b": False, "diff": ["missing"], "same": False}
    out = outcome_diff(a, b)
    assert out["first_divergence"] == 1 and not out["same_answer"]
    assert word_diff("x" * 5000, "y") is None


def test_pairs_match_task_and_sample():
    a = [traj("1", "t1"), traj("2", "t2"), traj("3", "t1", sample=1)]
    b = [traj("4", "t1", sample=1), traj("5", "t1")]
    assert [(x.id, y.id) for x, y in pairs(a, b)] == [("1", "5"), ("3", "4")]


def test_sample_stores_have_what_the_tutorial_needs():
    trajectories = sample_store().latest()
    assert len(trajectories) >= 60
    assert any(t.error for t in trajectories) and any(t.success is False for t in trajectories)
    assert {t.env for t in trajectories} == {"calculator", "calculator-shaped"}
    summary = group_summary(make_groups(trajectories))
    assert summary["zero_variance"] and summary["suspicious"]
    assert len(pairs(sample_store("before_training").latest(), sample_store("after_training").latest())) == 8
