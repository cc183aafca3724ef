"""The one frame builder: rows from a store's JSON equal rows from the records, and the store, the
run table and the plots make the same table."""

from __future__ import annotations

import json

from agent_gym import TrajectoryStore, assistant, user
from agent_gym.frames import (
    SUMMARY_COLUMNS,
    run_frame,
    summarized_json,
    summary_from_dict,
    summary_row,
)
from agent_gym.testing.samples import sample_store
from agent_gym.types import Trajectory
from agent_gym.widgets import RunTable, plots


def test_rows_from_the_json_equal_rows_from_the_records():
    store = sample_store("calculator_runs")
    lines = store.path.read_bytes().splitlines()
    from_json = [summary_from_dict(summarized_json(line)) for line in lines]
    from_records = [summary_row(Trajectory.from_json(line)) for line in lines]
    assert from_json == from_records
    assert sum(bool(r["final_answer"]) for r in from_json) > len(from_json) // 2  # most end with an answer


def test_a_lone_surrogate_in_the_answer_is_read_through_the_fallback():
    t = Trajectory(id="x", task_id="t", env="e", policy="p", messages=(user("hi"), assistant("bad \udcff end")))
    line = json.dumps(t.model_dump(mode="json")).encode()  # json escapes the surrogate as \\udcff
    row = summary_from_dict(summarized_json(line))
    assert row["final_answer"] == "bad \udcff end"


def test_store_table_and_plots_make_the_same_frame():
    store = sample_store("calculator_runs")
    by_store = store.to_pandas()
    assert list(by_store.columns[: len(SUMMARY_COLUMNS)]) == list(SUMMARY_COLUMNS)
    table = RunTable(store.path)
    named = table.df.drop(columns=["run", "key"])
    assert named[list(by_store.columns)].equals(by_store)
    assert plots.runs_frame(store.path).equals(table.df)
    assert run_frame({"a": store.latest()}).drop(columns=["run", "key"])[list(by_store.columns)].equals(by_store)


def test_the_run_table_parses_a_record_only_when_it_is_opened(tmp_path):
    source = sample_store("calculator_runs")
    path = tmp_path / "copy.jsonl"
    path.write_bytes(source.path.read_bytes())
    table = RunTable(path)
    assert table._records == {}  # rows came from the JSON; no record built yet
    key = table.df["key"].iloc[3]
    record = table.select(key)
    assert record == source.get(key.split("/", 1)[1]) and list(table._records) == [key]


def test_store_get_finds_a_record_without_reading_every_record():
    store = TrajectoryStore(sample_store("calculator_runs").path)
    last = sample_store("calculator_runs").read()[-1]
    assert store.get(last.id) == last
    assert store._records == []  # nothing was parsed in bulk


def test_a_line_written_by_another_json_writer_still_gives_its_answer():
    t = Trajectory(id="x", task_id="t", env="e", policy="p", messages=(user("hi"), assistant("42")))
    spaced = json.dumps(t.model_dump(mode="json")).encode()  # ", " and ": ": not the store's compact form
    assert summary_from_dict(summarized_json(spaced))["final_answer"] == "42"
    assert summary_from_dict(summarized_json(t.to_json().encode()))["final_answer"] == "42"


def test_store_get_finds_ids_that_json_would_escape(tmp_path):
    store = TrajectoryStore(tmp_path / "s.jsonl")
    record = Trajectory(id="épisode-1", task_id="t", env="e", policy="p")
    store.append(record)
    assert TrajectoryStore(store.path).get("épisode-1") == record


def test_the_final_answer_comes_from_the_conversation_not_from_messages_inside_the_task():
    from agent_gym import Task, run_rollouts
    from agent_gym.envs.calculator import CalculatorEnv, CalculatorExpert, make_tasks

    [task] = make_tasks(1)
    history = [{"role": "assistant", "content": "an answer inside the task's metadata"}]
    task = Task(id=task.id, prompt=task.prompt, answer=task.answer, metadata={"history": history})
    [t] = run_rollouts(CalculatorEnv(), CalculatorExpert(), [task], progress=False)
    line = t.to_json().encode()
    assert line.rfind(b'{"role":"assistant","content":"an answer inside') > line.find(b'"steps"')
    assert summary_from_dict(summarized_json(line))["final_answer"] == t.final_answer == str(task.answer)
    assert summary_from_dict(summarized_json(line)) == summary_row(t)
