"""Process machinery of the sandbox: bounded output, deadlines, and killing whole process trees.

The wall-clock timeout kills `bwrap`'s process group; `--die-with-parent` then kills the pid
namespace's init, and the kernel kills every process of the namespace with it. `wait_namespace_gone`
waits for that, so a call returns only when nothing it started still runs. A `Watch` passed to
`run_bounded` is consulted now and then during the call and can stop it (the disk watch does).

`namespace_leftovers` counts a live namespace's processes from the host, through the namespace's own
`/proc` (reached as `/proc/<init>/root/proc`): a few directory entries, not a scan of the host.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

# ---- bounded output ------------------------------------------------------------------------------


class CappedBuffer:
    """Keeps the first and last bytes of a stream up to `limit` in total, and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.head_limit = limit - limit // 4
        self.tail_limit = limit // 4
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def write(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data and self.tail_limit:
            self.tail += data
            del self.tail[: max(0, len(self.tail) - self.tail_limit)]

    @property
    def truncated(self) -> bool:
        return self.total > self.limit

    def text(self) -> str:
        """The kept bytes as text, with a marker saying how much was cut from the middle."""
        if not self.truncated:
            return (bytes(self.head) + bytes(self.tail)).decode("utf-8", "replace")
        cut = self.total - len(self.head) - len(self.tail)
        head = bytes(self.head).decode("utf-8", "replace")
        tail = bytes(self.tail).decode("utf-8", "replace")
        return f"{head}\n[... output truncated: {cut:,} of {self.total:,} bytes not shown ...]\n{tail}"


@dataclass(frozen=True)
class ProcessOutcome:
    """What running one sandboxed process gave."""

    stdout: CappedBuffer
    stderr: CappedBuffer
    returncode: int
    killed: str | None
    """Why we killed it: 'timeout', 'output' or 'watch', or None."""
    seconds: float
    detail: str | None = None
    """What the watch found, in words, when it stopped the process."""


class Watch(Protocol):
    """Something looked at now and then while a process runs; a found problem stops the process."""

    def wait_time(self) -> float:
        """Seconds until the next look is due."""
        ...

    def look(self) -> str | None:
        """The problem in words when a look is due and finds one, else None."""
        ...


def run_bounded(
    argv: Sequence[str], *, stdin: bytes | None, timeout: float, output_limit: int, kill_after_bytes: int,
    cwd: str | None = None, env: dict[str, str] | None = None, pass_fds: Sequence[int] = (),
    watch: Watch | None = None,
) -> ProcessOutcome:
    """Run `argv`, feeding `stdin`; keep bounded output; kill its process group at the deadline, past the
    output limit, or when `watch` finds a problem."""
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True, cwd=cwd, env=env if env is not None else {},
            close_fds=True, pass_fds=tuple(pass_fds),
        )
    finally:
        for fd in pass_fds:
            os.close(fd)
    out, err = CappedBuffer(output_limit), CappedBuffer(output_limit)
    killed: str | None = None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ, out)  # type: ignore[arg-type]
    selector.register(proc.stderr, selectors.EVENT_READ, err)  # type: ignore[arg-type]
    pending = memoryview(stdin or b"")
    if stdin:
        os.set_blocking(proc.stdin.fileno(), False)  # type: ignore[union-attr]
        selector.register(proc.stdin, selectors.EVENT_WRITE)  # type: ignore[arg-type]
    deadline = t0 + timeout
    detail: str | None = None
    try:
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                killed = "timeout"
                break
            if watch is not None and (detail := watch.look()) is not None:
                killed = "watch"
                break
            wait = remaining if watch is None else min(remaining, watch.wait_time() + 0.001)
            for key, _ in selector.select(wait):
                if key.data is None:  # stdin is writable
                    try:
                        sent = os.write(key.fd, pending[:65536])
                    except (BrokenPipeError, OSError):
                        sent = len(pending)
                    pending = pending[sent:]
                    if not pending:
                        selector.unregister(key.fileobj)
                        key.fileobj.close()  # type: ignore[union-attr]
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                key.data.write(chunk)
            if out.total + err.total > kill_after_bytes:
                killed = "output"
                break
    finally:
        selector.close()
    if killed is None:  # both outputs closed: the process may still run (`exec >log 2>&1; ...`)
        killed, detail = _wait_until(proc, deadline, watch)
    if killed:
        kill_group(proc)
    returncode = _wait(proc, 5.0)
    for stream in (proc.stdout, proc.stderr, proc.stdin):
        if stream is not None and not stream.closed:
            stream.close()
    return ProcessOutcome(out, err, returncode, killed, time.monotonic() - t0, detail)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group of `proc` (its session: bwrap and everything it started)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_until(proc: subprocess.Popen, deadline: float, watch: Watch | None) -> tuple[str | None, str | None]:
    """Wait for `proc` to exit by `deadline`, consulting `watch`; why it must be killed, or (None, None)."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout", None
        if watch is not None and (detail := watch.look()) is not None:
            return "watch", detail
        try:
            proc.wait(remaining if watch is None else min(remaining, watch.wait_time() + 0.001))
            return None, None
        except subprocess.TimeoutExpired:
            continue


def _wait(proc: subprocess.Popen, grace: float) -> int:
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        return proc.wait()


class InfoPipe:
    """bwrap's `--info-fd` pipe: the namespace init's pid, available during the run without blocking."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self._data = b""
        self._open = True
        self.pid: int | None = None
        """The init's pid on the host, once bwrap has written it."""

    def poll(self) -> int | None:
        """The pid if bwrap has written it by now (never blocks)."""
        while self._open and self.pid is None:
            try:
                chunk = os.read(self.read_fd, 4096)
            except BlockingIOError:
                break
            if not chunk:
                self.close()
                break
            self._data += chunk
            self.pid = _parse_info(self._data)
        return self.pid

    def discard(self) -> None:
        """Close both ends unread (the command was never started)."""
        os.close(self.write_fd)
        if self._open:
            os.close(self.read_fd)
            self._open = False

    def close(self) -> int | None:
        """Read what is left (bwrap has exited or closed the pipe by now) and close; the pid or None."""
        if self._open:
            os.set_blocking(self.read_fd, True)
            with os.fdopen(self.read_fd, "rb") as pipe:
                self._data += pipe.read(65536)
            self._open = False
            self.pid = self.pid or _parse_info(self._data)
        return self.pid


def _parse_info(data: bytes) -> int | None:
    try:
        return int(json.loads(data)["child-pid"])
    except (ValueError, KeyError, TypeError):
        return None


def namespace_leftovers(init_pid: int, keep: Collection[int]) -> int | None:
    """Live processes of `init_pid`'s pid namespace other than its init and the namespace pids in `keep`,
    counted in the namespace's own /proc; None when that cannot be read (the namespace is gone, or no
    permission)."""
    root = f"/proc/{init_pid}/root/proc"
    try:
        names = [name for name in os.listdir(root) if name.isdigit() and name != "1" and int(name) not in keep]
    except OSError:
        return None
    live = 0
    for name in names:
        try:
            with open(f"{root}/{name}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        live += state not in (b"Z", b"X")
    return live


def read_info(fd: int) -> int | None:
    """The namespace init's pid from bwrap's `--info-fd` pipe (closes `fd`), or None."""
    with os.fdopen(fd, "rb") as pipe:
        data = pipe.read()
    return _parse_info(data)


def wait_namespace_gone(init_pid: int | None, limit: float = 5.0) -> None:
    """Wait until a pid namespace's init has exited, which the kernel allows only after every
    other process of the namespace is gone (it SIGKILLs them when the init dies)."""
    if init_pid is None:
        return
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{init_pid}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return
        if state in (b"Z", b"X"):
            return
        time.sleep(0.005)


def uid_processes(uid: int, live_only: bool = True) -> list[int]:
    """Pids of processes whose real uid is `uid` (without zombies when `live_only`)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", "rb") as fh:
                state = b""
                for line in fh:
                    if line.startswith(b"State:"):
                        state = line.split()[1]
                    elif line.startswith(b"Uid:"):
                        if int(line.split()[1]) == uid and not (live_only and state in (b"Z", b"X")):
                            found.append(int(entry.name))
                        break
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def kill_uid(uid: int, limit: float = 5.0) -> int:
    """SIGKILL every process of `uid` (a job's leftovers) until none is left (or `limit` seconds pass);
    returns how many were signalled. Zombies waiting for their parent count as gone."""
    signalled: set[int] = set()
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        pids = [pid for pid in uid_processes(uid, live_only=True) if pid != os.getpid()]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                signalled.add(pid)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)
    return len(signalled)


def describe_exit(returncode: int) -> str | None:
    """'killed by SIGKILL'-style text for a signal exit (bwrap reports 128 + N), else None."""
    number = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else 0
    if not number:
        return None
    try:
        return f"killed by {signal.Signals(number).name}"
    except ValueError:
        return None


def is_root() -> bool:
    """Whether this process can drop to other uids."""
    return os.geteuid() == 0 and sys.platform.startswith("linux")
