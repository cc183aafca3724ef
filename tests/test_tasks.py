import json

import pandas as pd
import pytest

from agent_gym import Task, load_tasks, save_tasks
from agent_gym.errors import TaskError


def test_load_from_records_with_aliases_and_metadata():
    tasks = load_tasks([{"question": "q1", "solution": "a1", "level": 2}, {"id": "x", "prompt": "q2"}])
    assert tasks[0] == Task(id="0", prompt="q1", answer="a1", metadata={"level": 2})
    assert tasks[1].id == "x" and tasks[1].answer is None


def test_file_formats_round_trip(tmp_path):
    tasks = [Task(id=str(i), prompt=f"p{i}", answer=i, metadata={"k": i}) for i in range(3)]
    assert load_tasks(save_tasks(tasks, tmp_path / "t.jsonl")) == tasks
    (tmp_path / "t.json").write_text(json.dumps({"tasks": [t.to_dict() for t in tasks]}))
    assert load_tasks(tmp_path / "t.json") == tasks
    pd.DataFrame([{"id": t.id, "prompt": t.prompt, "answer": t.answer} for t in tasks]).to_parquet(tmp_path / "t.parquet")
    assert [t.prompt for t in load_tasks(tmp_path / "t.parquet", limit=2)] == ["p0", "p1"]


def test_datasets_dataset_is_accepted():
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list([{"question": "1+1?", "answer": "2"}])
    assert load_tasks(ds)[0].prompt == "1+1?"


@pytest.mark.parametrize(
    "records, fragment",
    [([{"text": "x"}], "has no prompt"), ([{"prompt": "a", "id": 1}, {"prompt": "b", "id": 1}], "appears twice"), (["x"], "must be an object")],
)
def test_bad_records_say_how_to_fix(records, fragment):
    with pytest.raises(TaskError, match=fragment):
        load_tasks(records)


def test_bad_files(tmp_path):
    with pytest.raises(TaskError, match="does not exist"):
        load_tasks(tmp_path / "missing.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"prompt": "a"}\n{oops\n')
    with pytest.raises(TaskError, match="bad.jsonl:2"):
        load_tasks(tmp_path / "bad.jsonl")
    (tmp_path / "t.csv").write_text("x")
    with pytest.raises(TaskError, match="Unsupported"):
        load_tasks(tmp_path / "t.csv")
