"""The sandbox's directories on the host: job directories, and the sweep of what dead owners left.

A job directory `<root>/job-<random>` holds the job's `workspace` (bound as /workspace) and its
`etc` files. Its owner holds an flock on `.owner` inside it, taken before the directory gets its name,
so a directory whose lock is free belongs to a process that is gone; the first `Sandbox` of each
process deletes those (`sweep_stale`), and the /etc copies of `bwrap.shared_etc` likewise. Names are
random, never a pid (the sandbox can read them in its mount table). Deletion works at any depth.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

from agent_gym.sandbox.bwrap import UidLease, hold_lock, lock_is_free
from agent_gym.sandbox.disk import remove_tree
from agent_gym.sandbox.proc import kill_uid

_SWEPT = threading.Lock()
_swept_roots: set[str] = set()


def make_job_dir(root: Path) -> tuple[Path, int]:
    """A new `job-<random>` directory under `root`, and the fd holding its `.owner` lock (taken before
    the directory gets its name, so a sweeper never sees it unowned)."""
    staging = root / f".new-{uuid.uuid4().hex}"
    staging.mkdir(mode=0o711)
    lock = hold_lock(staging / ".owner")
    job_dir = root / f"job-{uuid.uuid4().hex[:16]}"
    staging.rename(job_dir)
    return job_dir, lock


def cleanup(job_dir: Path, uid: int | None, lease: UidLease | None, lock: int) -> None:
    """Kill the job uid's processes, delete the job directory, release its lock and uid."""
    if uid is not None:
        kill_uid(uid)
    remove_tree(job_dir)  # at any depth (shutil.rmtree recurses, and gives up past ~1,000 levels)
    os.close(lock)
    if lease is not None:
        lease.release()


def sweep_stale(root: Path) -> None:
    """Delete job directories and /etc copies whose owner died without cleaning up (once per process):
    their lock is free, or (names of older versions, with a pid in them) that pid is gone."""
    with _SWEPT:
        if str(root) in _swept_roots:
            return
        _swept_roots.add(str(root))
    for entry in list(root.iterdir()):
        name = entry.name
        if name.startswith(("job-", ".new-")):
            if lock_is_free(entry / ".owner") or _dead_owner(name):
                remove_tree(entry)
        elif name.startswith("etc-") and not name.endswith(".lock"):
            lock = root / f"{name}.lock"
            if lock_is_free(lock) or _dead_owner(name):
                remove_tree(entry)
                lock.unlink(missing_ok=True)
        elif name.startswith("etc-") and not (root / name.removesuffix(".lock")).exists() and lock_is_free(entry):
            entry.unlink(missing_ok=True)  # the lock of a copy whose owner died before making it


def _dead_owner(name: str) -> bool:
    """Whether a `job-<pid>-<hex>` / `etc-<pid>-<hex>` name (older versions) belongs to a process that is gone."""
    parts = name.split("-")
    return len(parts) == 3 and parts[1].isdigit() and not Path("/proc", parts[1]).exists()
