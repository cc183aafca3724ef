"""The job directory's accounting: bounded measurement, emptying at any depth, and a watch during calls.

`measure` counts every entry below a directory (files, directories, links) and the blocks each one
holds, directories' own blocks included, and stops as soon as a limit is passed, so its cost is
bounded by the limit and not by what the code made. `empty_dir` deletes everything below a directory.
Both hold a single directory fd at a time and climb back with `..`, checking that each parent is the
directory they came from: a tree deeper than PATH_MAX or than the fd limit is handled like any other,
no symbolic link is ever followed, and a tree rearranged during the walk is noticed, not followed.

`DiskWatch` looks at the job directory (and the count of files in the call's private `/tmp`) now and
then while a call runs, so a call that makes files without end is stopped, not only cleaned up after.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Usage:
    """What `measure` found below a directory."""

    bytes: int
    """Allocated bytes (st_blocks * 512) of every entry, directories included."""
    entries: int
    """Files, directories, links and other entries counted."""
    complete: bool
    """False when the walk stopped early: past a limit, or the tree changed under it."""


class _Stop(Exception):
    """Ends a walk early."""


class TreeChanged(Exception):
    """A directory was moved while the walk was inside it (its `..` is no longer where the walk came from)."""


def _ident(fd: int) -> tuple[int, int]:
    info = os.fstat(fd)
    return info.st_dev, info.st_ino


def _walk(root: str | os.PathLike[str], visit: Callable[[int, os.DirEntry[str]], bool],
          leave: Callable[[int, str], None] | None = None) -> None:
    """Depth-first over the tree below `root`: `visit(dir_fd, entry)` for every entry (True: descend into it),
    `leave(parent_fd, name)` after a subdirectory's entries. One directory fd is open at a time."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        device = os.fstat(fd).st_dev
        here, name, todo = _ident(fd), "", _scan(fd, visit)
        stack: list[tuple[tuple[int, int], str, list[str]]] = []
        while True:
            if todo:
                child_name = todo.pop()
                try:
                    child = os.open(child_name, _DIR_FLAGS, dir_fd=fd)
                except OSError:  # gone, or replaced by something that is not a directory
                    continue
                if os.fstat(child).st_dev != device:  # never cross into another filesystem
                    os.close(child)
                    continue
                stack.append((here, name, todo))
                os.close(fd)
                fd = child
                here, name, todo = _ident(fd), child_name, _scan(fd, visit)
                continue
            if not stack:
                return
            parent, parent_name, parent_todo = stack.pop()
            up = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = up
            if _ident(fd) != parent:
                raise TreeChanged
            if leave is not None:
                leave(fd, name)
            here, name, todo = parent, parent_name, parent_todo
    finally:
        os.close(fd)


def _scan(fd: int, visit: Callable[[int, os.DirEntry[str]], bool]) -> list[str]:
    """Visit the entries of one directory; the names of those to descend into."""
    subdirs = []
    with os.scandir(fd) as entries:
        for entry in entries:
            if visit(fd, entry):
                subdirs.append(entry.name)
    return subdirs


def measure(path: str | os.PathLike[str], *, max_bytes: int, max_entries: int) -> Usage:
    """Bytes and entries below `path`, stopping one entry past either limit (`complete` is then False)."""
    total = {"bytes": 0, "entries": 0}

    def visit(dir_fd: int, entry: os.DirEntry[str]) -> bool:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:  # removed meanwhile
            return False
        total["entries"] += 1
        total["bytes"] += info.st_blocks * 512
        if total["entries"] > max_entries or total["bytes"] > max_bytes:
            raise _Stop
        return stat.S_ISDIR(info.st_mode)

    try:
        _walk(path, visit)
    except (_Stop, TreeChanged):
        return Usage(total["bytes"], total["entries"], complete=False)
    return Usage(total["bytes"], total["entries"], complete=True)


def empty_dir(path: str | os.PathLike[str], attempts: int = 3) -> bool:
    """Delete everything below `path` (not `path` itself); True when it is empty afterwards."""

    def visit(dir_fd: int, entry: os.DirEntry[str]) -> bool:
        if entry.is_dir(follow_symlinks=False):
            _make_traversable(dir_fd, entry.name)
            return True
        try:
            os.unlink(entry.name, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        return False

    def leave(parent_fd: int, name: str) -> None:
        try:
            os.rmdir(name, dir_fd=parent_fd)
        except OSError:  # refilled meanwhile: the next attempt takes it
            pass

    for _ in range(attempts):
        try:
            _walk(path, visit, leave)
        except TreeChanged:
            continue
        except FileNotFoundError:
            return True
        with os.scandir(path) as left:
            if next(left, None) is None:
                return True
    return False


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Delete `path` and everything below it, at any depth (missing is fine)."""
    try:
        if Path(path).is_symlink() or not Path(path).is_dir():
            os.unlink(path)
            return
        empty_dir(path)
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError:
        pass


def _make_traversable(dir_fd: int, name: str) -> None:
    """Without root, a directory the code made unreadable (chmod 000) must be opened up to be deleted."""
    if os.geteuid() == 0:
        return
    try:
        handle = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return
    try:
        os.chmod(f"/proc/self/fd/{handle}", 0o700)  # the opened directory itself, never a link's target
    except OSError:
        pass
    finally:
        os.close(handle)


def tmpfs_files(path: str, size_bytes: int) -> int | None:
    """Files and directories on the tmpfs at `path`, or None unless it is a filesystem of exactly
    `size_bytes` (the private /tmp's size). While bwrap sets a sandbox up or tears it down,
    `/proc/<init>/root/tmp` is the host's /tmp or bwrap's own scratch tmpfs for a moment: those are
    not counted."""
    try:
        info = os.statvfs(path)
    except OSError:
        return None
    if info.f_blocks * info.f_frsize != size_bytes:
        return None
    return info.f_files - info.f_ffree - 1  # less its root directory


def breach(job_dir: str | os.PathLike[str], *, disk_mb: int, max_files: int, attempts: int = 3) -> str | None:
    """Why the job directory is over its limits, in words, or None. A tree that keeps being rearranged
    while it is measured (only live code can do that) counts as over."""
    for _ in range(attempts):
        found = _over(job_dir, disk_mb, max_files)
        if found != "changed":
            return found
    return "the job directory kept changing while it was measured"


def _over(job_dir: str | os.PathLike[str], disk_mb: int, max_files: int) -> str | None:
    """The breach in words, None, or 'changed' (moved while measured: look again)."""
    try:
        usage = measure(job_dir, max_bytes=disk_mb << 20, max_entries=max_files)
    except OSError:  # the directory itself is gone or unreadable: nothing in it to count
        return None
    if usage.complete:
        return None
    if usage.entries > max_files:
        return f"the job directory held more than {max_files:,} files and directories"
    if usage.bytes > disk_mb << 20:
        return f"the job directory grew past {disk_mb} MB"
    return "changed"


def tmp_breach(tmp_path: str | None, max_files: int, size_bytes: int) -> str | None:
    """Why a call's private /tmp (seen from the host at `tmp_path`, `size_bytes` large) is over the file
    limit, or None."""
    used = tmpfs_files(tmp_path, size_bytes) if tmp_path else None
    return f"the private /tmp held more than {max_files:,} files" if used is not None and used > max_files else None


class DiskWatch:
    """Looks at the job directory and the private /tmp now and then during a call.

    Each look is bounded (`measure` stops at the limits); looks are spaced at least `interval` apart
    and at least ten times as long as the last look took, so watching costs at most about a tenth of
    one core even for a job directory close to its limits.
    """

    def __init__(self, job_dir: str | os.PathLike[str], *, disk_mb: int, max_files: int, tmp_mb: int,
                 tmp_path: Callable[[], str | None] | None = None, interval: float = 0.2) -> None:
        self.job_dir, self.disk_mb, self.max_files, self.tmp_bytes = job_dir, disk_mb, max_files, tmp_mb << 20
        self.tmp_path = tmp_path or (lambda: None)
        self.interval = interval
        self.next_at = time.monotonic() + interval
        self.found: str | None = None
        """The breach that stopped the call, if any."""
        self.job_dir_breached = False
        """Whether that breach was the job directory's (which must then be emptied)."""

    def wait_time(self) -> float:
        """Seconds until the next look."""
        return max(0.0, self.next_at - time.monotonic())

    def look(self) -> str | None:
        """A breach in words when one is due and found, else None."""
        if time.monotonic() < self.next_at:
            return None
        t0 = time.monotonic()
        found = tmp_breach(self.tmp_path(), self.max_files, self.tmp_bytes)
        if found is None:
            found = _over(self.job_dir, self.disk_mb, self.max_files)
            found = None if found == "changed" else found  # moved meanwhile: the next look, or the check after
            self.job_dir_breached = found is not None
        cost = time.monotonic() - t0
        self.next_at = time.monotonic() + max(self.interval, 10 * cost)
        self.found = found
        return found
