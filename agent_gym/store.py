"""TrajectoryStore: an append-only JSONL file of trajectories, the contract between stages.

Each finished trajectory is one line, written whole by a single `write` on an `O_APPEND`
descriptor under an exclusive `flock`, so concurrent writers never interleave. A torn last line
(a crash mid-write) is skipped with a warning and its episode simply runs again on resume.

A process about to run a job takes its lease (`try_lease`): an exclusive `flock` on a small file in
`<store>.leases/`, so two processes running the same job on one store never both run an episode. The
kernel drops the lock when its holder dies, so a killed run leaves no stale lease behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from agent_gym.errors import StoreError
from agent_gym.frames import run_frame, summarized_json, summary_from_dict
from agent_gym.stats import wilson_interval
from agent_gym.types import SCHEMA_VERSION, Trajectory

if TYPE_CHECKING:
    import pandas as pd


class TrajectoryStore:
    """Append-only JSONL store of `Trajectory` records.

    Reading is incremental: only bytes appended since the last read are parsed, so a viewer can
    poll a store that a run is writing.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a directory; give a file path such as {self.path / 'trajectories.jsonl'}.")
        self._lines: list[bytes] = []  # complete lines read so far
        self._records: list[Trajectory | None] = []  # validated records of a prefix of _lines (None: unreadable)
        self._summaries: list[dict[str, Any] | None] = []  # summary rows of a prefix of _lines
        self._offset = 0
        self._file_id: tuple[int, int] | None = None  # (device, inode) of the file read so far
        self._latest: dict[str, Trajectory] = {}  # newest record per job key among _records
        self._torn_tail = b""  # an unterminated last line already reported

    def __repr__(self) -> str:
        return f"TrajectoryStore({str(self.path)!r})"

    def append(self, trajectory: Trajectory) -> None:
        """Write one trajectory as one flushed line."""
        if not isinstance(trajectory, Trajectory):
            raise StoreError(f"TrajectoryStore.append takes a Trajectory, got {type(trajectory).__name__}.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = (trajectory.to_json() + "\n").encode()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # other writers wait: the torn-line check sees whole lines
            if _ends_without_newline(fd):  # a torn line from a crash: start a fresh line
                data = b"\n" + data
            os.write(fd, data)
        finally:
            os.close(fd)  # also releases the lock

    def extend(self, trajectories: list[Trajectory]) -> None:
        """Append several trajectories."""
        for trajectory in trajectories:
            self.append(trajectory)

    def read(self) -> list[Trajectory]:
        """Every record in file order (retries of a job included)."""
        self._parse_new()
        return [r for r in self._records if r is not None]

    def _parse_new(self) -> None:
        """Validate the lines appended since the last read; keep the newest record of each job."""
        self._refresh()
        for line in self._lines[len(self._records) :]:
            record = self._parse(line)
            self._records.append(record)
            if record is not None:
                self._latest[record.job_key or record.id] = record

    def __iter__(self) -> Iterator[Trajectory]:
        return iter(self.read())

    def __len__(self) -> int:
        return len(self.read())

    def latest_by_key(self) -> dict[str, Trajectory]:
        """The last record of each job (resume key; the id for records without one)."""
        self._parse_new()
        return dict(self._latest)

    def latest_of(self, job_key: str) -> Trajectory | None:
        """The newest record of one job, reading only what was appended since the last call."""
        self._parse_new()
        return self._latest.get(job_key)

    def try_lease(self, job_key: str) -> JobLease | None:
        """Take the lease of a job if no other holder has it (see the module docstring); None if taken."""
        folder = self.path.with_name(self.path.name + ".leases")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{job_key}.lock"
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            try:  # the holder before us removes the file when done: lock the file that is there now
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    os.write(fd, f"{os.getpid()}\n".encode())
                    return JobLease(path, fd)
            except FileNotFoundError:
                pass
            os.close(fd)

    def latest(self) -> list[Trajectory]:
        """One record per job, the newest, in the order jobs first appeared."""
        return list(self.latest_by_key().values())

    def get(self, trajectory_id: str) -> Trajectory:
        """The record with this id (first only the lines that contain the id are parsed)."""
        self._refresh()
        needle = json.dumps(trajectory_id, ensure_ascii=False).encode("utf-8", "surrogatepass")
        for index, line in enumerate(self._lines):
            if needle in line:
                record = self._records[index] if index < len(self._records) else self._parse(line)
                if record is not None and record.id == trajectory_id:
                    return record
        for record in self.read():  # the id written another way (escaped) than the needle
            if record.id == trajectory_id:
                return record
        raise KeyError(f"No trajectory with id {trajectory_id!r} in {self.path}.")

    def filter(
        self,
        *,
        env: str | None = None,
        task_id: str | None = None,
        model: str | None = None,
        success: bool | None = None,
        failed: bool | None = None,
        min_reward: float | None = None,
        where: Callable[[Trajectory], bool] | None = None,
    ) -> list[Trajectory]:
        """The latest record of each job matching every given condition (`failed`: has an error)."""
        out = []
        for t in self.latest():
            if env is not None and t.env != env:
                continue
            if task_id is not None and t.task_id != task_id:
                continue
            if model is not None and t.model != model:
                continue
            if success is not None and t.success is not success:
                continue
            if failed is not None and (t.error is not None) != failed:
                continue
            if min_reward is not None and t.reward < min_reward:
                continue
            if where is not None and not where(t):
                continue
            out.append(t)
        return out

    def summaries(self, latest: bool = True) -> list[dict[str, Any]]:
        """The `summary_row` of each trajectory (the newest of each job when `latest`), computed from
        the JSON directly: several times faster than validating whole records, for tables and plots."""
        self._refresh()
        for line in self._lines[len(self._summaries) :]:
            self._summaries.append(_summary_of_line(line))
        rows = [r for r in self._summaries if r is not None]
        if latest:
            rows = list({r["job_key"] or r["id"]: r for r in rows}.values())
        return rows

    def to_pandas(self, latest: bool = True) -> pd.DataFrame:
        """A summary frame, one row per trajectory (`reward/<name>` columns hold components)."""
        return run_frame({None: self.summaries(latest)})

    def _refresh(self) -> None:
        if not self.path.exists():
            self._lines, self._records, self._summaries, self._offset = [], [], [], 0
            self._latest = {}
            return
        stat = self.path.stat()
        size, file_id = stat.st_size, (stat.st_dev, stat.st_ino)
        if size < self._offset or file_id != self._file_id:  # replaced or truncated: read from the start
            self._lines, self._records, self._summaries, self._offset = [], [], [], 0
            self._latest = {}
            self._file_id = file_id
        if size == self._offset:
            return
        with self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read(size - self._offset)
        complete = chunk.rfind(b"\n") + 1  # keep a line still being written for the next read
        self._lines.extend(line for line in chunk[:complete].splitlines() if line.strip())
        self._offset += complete
        tail = chunk[complete:]
        if tail.strip() and tail != self._torn_tail and not self._writer_active():
            self._torn_tail = tail  # said once; the next append starts a fresh line after it
            warnings.warn(f"{self.path}: skipped the last line, which ends without a newline ({len(tail)} bytes: a "
                          "crash mid-write?). The next append starts a new line after it.", stacklevel=4)

    def _writer_active(self) -> bool:
        """Whether an `append` holds the store's lock now (its line may be half written)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def _parse(self, line: bytes) -> Trajectory | None:
        try:
            record = Trajectory.from_json(line)
        except ValidationError as exc:
            if b'"schema_version"' in line and _newer_schema(line):
                raise StoreError(
                    f"{self.path} was written by a newer agent_gym (schema > {SCHEMA_VERSION}); upgrade agent_gym."
                ) from exc
            if line.strip() != self._torn_tail.strip():  # not the torn last line already reported
                warnings.warn(f"{self.path}: skipped an unreadable line (a crash mid-write?): {exc.errors()[0]['msg']}", stacklevel=3)
            return None
        return record


class JobLease:
    """A held job lease; `release()` (or leaving a `with` block) gives it back."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    def release(self) -> None:
        """Remove the lease file and drop the lock (idempotent)."""
        if self._fd < 0:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JobLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _summary_of_line(line: bytes) -> dict[str, Any] | None:
    try:
        data = summarized_json(line)
        if int(data.get("schema_version", 0)) > SCHEMA_VERSION:
            raise StoreError(f"A store line was written by a newer agent_gym (schema > {SCHEMA_VERSION}); upgrade agent_gym.")
        return summary_from_dict(data)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # unreadable (a torn line): read() reports it


def _ends_without_newline(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def _newer_schema(line: bytes) -> bool:
    try:
        return int(json.loads(line).get("schema_version", 0)) > SCHEMA_VERSION
    except (ValueError, AttributeError, TypeError):
        return False


def summarize(trajectories: Sequence[Trajectory]) -> dict[str, float]:
    """Headline numbers of a run: episodes, success rate, mean reward, turns, tokens, errors, seconds.

    The one rule for success: `success_rate` is solved episodes over *all* episodes. An episode
    without a verdict (`success is None`: it failed, or its environment cannot tell) counts as not
    solved; `judged` says how many episodes had a verdict. `success_low`/`success_high` bound the success rate
    (95% Wilson interval); `agent_gym.stats.run_stats` has the rest (reward interval, pass@k, pass^k).
    """
    count = len(trajectories)

    def mean(values: list[float]) -> float:
        return round(sum(values) / len(values), 6) if values else 0.0

    solved = sum(bool(t.success) and t.error is None for t in trajectories)
    interval = wilson_interval(solved, count)
    return {
        "episodes": count,
        "judged": sum(t.success is not None for t in trajectories),
        "success_rate": mean([float(bool(t.success)) for t in trajectories]),
        "success_low": round(interval.low, 6),
        "success_high": round(interval.high, 6),
        "mean_reward": mean([t.reward for t in trajectories]),
        "mean_turns": mean([float(t.num_turns) for t in trajectories]),
        "total_tokens": sum(t.usage.total_tokens for t in trajectories),
        "errors": sum(t.error is not None for t in trajectories),
        "mean_seconds": mean([t.seconds for t in trajectories]),
    }
