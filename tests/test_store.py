import multiprocessing
import os
import warnings

import pytest

from agent_gym import Trajectory, TrajectoryStore
from agent_gym.errors import StoreError
from agent_gym.store import summarize
from agent_gym.types import SCHEMA_VERSION


def traj(i: int, **kw) -> Trajectory:
    return Trajectory(id=f"t{i}", task_id=str(i % 3), env="e", policy="p", job_key=f"k{i}", reward=float(i), success=i % 2 == 0, **kw)


def test_append_read_filter_and_pandas(tmp_path):
    store = TrajectoryStore(tmp_path / "sub" / "s.jsonl")
    assert store.read() == [] and len(store.to_pandas()) == 0
    store.extend([traj(i, reward_components={"c": 1.0}) for i in range(6)])
    assert [t.id for t in store] == [f"t{i}" for i in range(6)]
    assert [t.id for t in store.filter(task_id="0")] == ["t0", "t3"]
    assert [t.id for t in store.filter(success=True, min_reward=2)] == ["t2", "t4"]
    assert [t.id for t in store.filter(where=lambda t: t.reward > 4)] == ["t5"]
    frame = store.to_pandas()
    assert list(frame["reward"]) == [0, 1, 2, 3, 4, 5] and "reward/c" in frame and frame["error"].isna().all()
    assert store.get("t3").reward == 3.0
    with pytest.raises(KeyError):
        store.get("nope")


def test_reads_are_incremental_and_see_other_writers(tmp_path):
    path = tmp_path / "s.jsonl"
    reader, writer = TrajectoryStore(path), TrajectoryStore(path)
    writer.append(traj(0))
    assert len(reader) == 1
    writer.append(traj(1))
    assert [t.id for t in reader.read()] == ["t0", "t1"]
    path.write_text("")  # replaced: read from scratch
    assert reader.read() == []


def test_a_replaced_file_that_grew_past_the_old_offset_is_read_from_scratch(tmp_path):
    path = tmp_path / "s.jsonl"
    store = TrajectoryStore(path)
    store.extend([traj(0), traj(1)])
    assert len(store) == 2
    kept = tmp_path / "kept.jsonl"  # what a resume does: keep the first record, replace the file
    kept.write_text(traj(0).to_json() + "\n")
    os.replace(kept, path)
    store.extend([traj(7), traj(8)])  # the new file is now longer than what the store had read
    assert [t.id for t in store.read()] == ["t0", "t7", "t8"]


def test_torn_line_is_skipped_and_next_append_starts_a_new_line(tmp_path):
    path = tmp_path / "s.jsonl"
    store = TrajectoryStore(path)
    store.append(traj(0))
    with open(path, "a") as f:
        f.write(traj(1).to_json()[:40])  # a crash mid-write
    reader = TrajectoryStore(path)
    with pytest.warns(UserWarning, match="skipped the last line, which ends without a newline"):
        assert [t.id for t in reader.read()] == ["t0"]  # said on the first read, not only after a write
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(reader.summaries()) == 1 and len(reader) == 1  # said once
        store.append(traj(2))
        assert [t.id for t in reader.read()] == ["t0", "t2"]  # the same torn line is not reported again
    with pytest.warns(UserWarning, match="unreadable line"):
        ids = [t.id for t in TrajectoryStore(path).read()]  # a new reader: it is an unreadable line now
    assert ids == ["t0", "t2"]


def test_a_line_being_written_is_not_reported_as_torn(tmp_path):
    import fcntl

    path = tmp_path / "s.jsonl"
    TrajectoryStore(path).append(traj(0))
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # as append holds it while it writes
        f.write(traj(1).to_json()[:40])
        f.flush()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert [t.id for t in TrajectoryStore(path).read()] == ["t0"]


def test_newer_schema_is_refused_with_advice(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(traj(0).to_json().replace(f'"schema_version":{SCHEMA_VERSION}', '"schema_version":99,"new_field":1') + "\n")
    with pytest.raises(StoreError, match="newer agent_gym"):
        TrajectoryStore(path).read()
    with pytest.raises(StoreError, match="directory"):
        TrajectoryStore(tmp_path)


def _write_many(path: str, start: int) -> None:
    store = TrajectoryStore(path)
    for i in range(start, start + 200):
        store.append(traj(i, metadata={"pad": "x" * 3000}))


def test_concurrent_processes_never_interleave_lines(tmp_path):
    path = str(tmp_path / "s.jsonl")
    procs = [multiprocessing.get_context("fork").Process(target=_write_many, args=(path, k * 1000)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    records = TrajectoryStore(path).read()
    assert len(records) == 800 and len({r.id for r in records}) == 800
    assert os.path.getsize(path) == sum(len(r.to_json()) + 1 for r in records)


def test_summarize():
    s = summarize([traj(0), traj(1, error=None)])
    assert s["episodes"] == 2 and s["success_rate"] == 0.5 and s["mean_reward"] == 0.5
