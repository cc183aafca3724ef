"""The bubblewrap command line of the sandbox, per-job uids and rlimits.

Each sandboxed process runs under `bwrap` with new pid, network, ipc, uts and cgroup namespaces, a
fresh `/proc`, a minimal `/dev`, read-only system directories, a private size-capped `/tmp`, and one
bound job directory (`/workspace`) as the only writable host path. As root it then drops to its job's
own unprivileged uid (`setpriv`: no capabilities, `no_new_privs`), so RLIMIT_NPROC — which the kernel
ignores for root — caps its processes; `prlimit` sets the rlimits before exec.

Host paths bound into the sandbox carry random names, never the host's pid: whether their owner is
alive is told by an flock it holds (`hold_lock`, `lock_is_free`), which also survives pid reuse.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agent_gym.errors import SandboxError
from agent_gym.sandbox.proc import kill_uid

WORKDIR = "/workspace"
"""Where the job directory appears inside the sandbox (also the working directory and $HOME)."""

UID_RANGE = (200_000, 260_000)
"""Unprivileged uids handed to jobs, one per live job (no such users exist on the host)."""

_ETC_FILES = (
    "alternatives", "bash.bashrc", "debian_version", "inputrc", "ld.so.cache", "ld.so.conf",
    "ld.so.conf.d", "localtime", "magic", "magic.mime", "mime.types", "nsswitch.conf", "os-release",
    "profile", "protocols", "python3", "python3.11", "services", "terminfo", "timezone",
)
"""The /etc entries visible in the sandbox (read-only). Nothing with credentials or proxy settings."""

_MERGED_USR_LINKS = (("usr/bin", "/bin"), ("usr/sbin", "/sbin"), ("usr/lib", "/lib"), ("usr/lib64", "/lib64"))


class UidLease:
    """An unprivileged uid reserved for one job, across processes (an flock on a lock file).

    The lock is released when the holder releases it or dies, so a crash never leaks a uid."""

    def __init__(self, lock_dir: Path) -> None:
        lock_dir.mkdir(parents=True, exist_ok=True)
        # Lowest free uid first, so the lock files stay as few as the most jobs ever alive at once.
        for uid in range(*UID_RANGE):
            handle = os.open(lock_dir / f"{uid}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(handle)
                continue
            self.uid, self._handle = uid, handle
            kill_uid(uid)  # leftovers of an earlier holder that died unexpectedly, if any
            return
        raise RuntimeError(f"no free sandbox uid in {UID_RANGE}; too many live sandboxes")

    def release(self) -> None:
        """Give the uid back (idempotent)."""
        if self._handle is not None:
            os.close(self._handle)
            self._handle = None


@dataclass(frozen=True)
class Rlimits:
    """The resource limits applied before exec."""

    cpu_seconds: int
    memory_bytes: int
    file_size_bytes: int
    open_files: int
    processes: int | None

    def prlimit_args(self) -> list[str]:
        """`prlimit` options setting soft = hard for each limit."""
        args = [
            f"--cpu={self.cpu_seconds}:{self.cpu_seconds + 1}",  # SIGXCPU at the soft limit, SIGKILL 1 s later
            f"--as={self.memory_bytes}",
            f"--fsize={self.file_size_bytes}",
            f"--nofile={self.open_files}",
            "--core=0",
        ]
        if self.processes is not None:
            args.append(f"--nproc={self.processes}")
        return args


def sandbox_env(home: str) -> dict[str, str]:
    """The whole environment of a sandboxed process (nothing is inherited)."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "USER": "sandbox",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TMPDIR": "/tmp",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp",
    }


def hold_lock(path: Path) -> int:
    """Create `path` and hold an exclusive flock on it while the returned fd stays open (or the process lives)."""
    handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def lock_is_free(path: Path) -> bool:
    """Whether `path` exists and nobody holds its flock (its owner closed it or died)."""
    try:
        handle = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(handle)


def interpreter_path(python: str) -> str:
    """`python` as an absolute path that also runs inside the sandbox, where the host's working directory and
    symlinked directories do not exist: looked up on PATH when a bare name, its directory resolved (no
    `..`, no links), its file name kept (a venv's `bin/python` is a link that must stay one to be the venv)."""
    found = python if os.sep in python else shutil.which(python)
    if not found or not os.access(found, os.X_OK) or os.path.isdir(found):
        raise SandboxError(f"No Python interpreter at {python!r}: pass Sandbox(python=...) the path of an "
                           "executable interpreter (default: the running one, sys.executable).")
    directory, name = os.path.split(os.path.join(os.getcwd(), found))
    return os.path.join(os.path.realpath(directory), name)


def python_roots(executable: str) -> list[str]:
    """Directories an interpreter needs: its venv and its base installation (resolved paths)."""
    probe = subprocess.run(
        [executable, "-I", "-c", "import sys; print(sys.prefix); print(sys.base_prefix)"],
        capture_output=True, text=True, timeout=30, check=True,
    )
    roots = [str(Path(line).resolve()) for line in probe.stdout.split()]
    roots.append(str(Path(executable).resolve().parent.parent))
    return [r for r in dict.fromkeys(roots) if not r.startswith("/usr")]


def shared_etc(root: Path) -> Path:
    """A copy of the visible /etc entries, made once per process under `root` (one bind instead of many).

    It holds empty `passwd`, `group` and `hostname` files, over which each job binds its own.
    """
    key = str(root)
    with _SHARED_ETC_LOCK:
        if key not in _SHARED_ETC:
            _SHARED_ETC[key] = _copy_etc(root)
    return _SHARED_ETC[key]


def _copy_etc(root: Path) -> Path:
    name = f"etc-{uuid.uuid4().hex[:16]}"
    lock = root / f"{name}.lock"
    _ETC_LOCKS.append(hold_lock(lock))  # before the copy exists: a sweeper only ever sees it owned
    target = root / name
    target.mkdir(mode=0o755)
    for name in _ETC_FILES:
        source = Path("/etc", name)
        if source.is_dir() and not source.is_symlink():
            shutil.copytree(source, target / name, symlinks=True)
        elif source.exists() or source.is_symlink():
            shutil.copy2(source, target / name, follow_symlinks=False)
    for name in ("passwd", "group", "hostname"):
        (target / name).touch(mode=0o644)
    atexit.register(_remove_etc, target, lock)
    return target


def _remove_etc(target: Path, lock: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    lock.unlink(missing_ok=True)


_SHARED_ETC: dict[str, Path] = {}
_ETC_LOCKS: list[int] = []  # held for the life of the process
_SHARED_ETC_LOCK = threading.Lock()


def bwrap_command(
    bwrap: str, job_dir: Path, etc_dir: Path, extra_ro: Sequence[str], tmp_bytes: int, uid: int | None,
    common_etc: Path,
) -> list[str]:
    """The `bwrap ...` prefix that confines a command to `job_dir` (seen as `/workspace`).

    Adding `--info-fd N` after `bwrap` makes it write `{"child-pid": …}` to fd N: the namespace's init.
    """
    cmd = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
           "--die-with-parent", "--new-session", "--clearenv", "--hostname", "sandbox"]
    if uid is None:  # not root: an unprivileged user namespace instead of a uid drop
        cmd += ["--unshare-user", "--disable-userns"]
    cmd += ["--ro-bind", "/usr", "/usr"]
    for target, link in _MERGED_USR_LINKS:
        cmd += ["--symlink", target, link] if Path(link).is_symlink() else (
            ["--ro-bind", link, link] if Path(link).exists() else [])
    made: set[str] = {"/", "/usr", "/etc"}
    cmd += ["--ro-bind", str(common_etc), "/etc"]
    for name in ("passwd", "group", "hostname"):
        cmd += ["--ro-bind", str(etc_dir / name), f"/etc/{name}"]
    # /tmp first: a Python installed under /tmp (a CI checkout's venv) is bound on top of it below.
    cmd += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    made.add("/tmp")
    for path in extra_ro:
        cmd += _dirs_for(path, made) + ["--ro-bind", path, path]
    cmd += ["--bind", str(job_dir), WORKDIR, "--chdir", WORKDIR]
    for key, value in sandbox_env(WORKDIR).items():
        cmd += ["--setenv", key, value]
    return cmd


def _dirs_for(path: str, made: set[str]) -> list[str]:
    """`--perms 0755 --dir` for every missing parent of `path`, so the sandbox user can traverse them."""
    out: list[str] = []
    parents = list(Path(path).parents)[::-1]
    for parent in parents:
        text = str(parent)
        if text in made:
            continue
        made.add(text)
        out += ["--perms", "0755", "--dir", text]
    return out


def drop_privileges(uid: int | None) -> list[str]:
    """`setpriv` becoming `uid` with no capabilities and no way to regain any (empty when not root)."""
    if uid is None:
        return []
    return ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
            "--bounding-set=-all", "--inh-caps=-all", "--"]
