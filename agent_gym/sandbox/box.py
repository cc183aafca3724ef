"""Run untrusted shell commands and Python code written by a model.

```python
from agent_gym.sandbox import Sandbox

with Sandbox() as box:                      # one job directory, seen as /workspace inside
    box.run("echo hi > note.txt && ls").text()
    box.run_python("print(sum(range(10)))").stdout        # one-shot interpreter
    session = box.python_session()                      # persistent, like a notebook kernel
    session.run("x = 21"); session.run("x * 2").stdout  # '42\\n'
```

**What confines the code** (bubblewrap, `apt-get install bubblewrap`): new pid, network, ipc, uts
and cgroup namespaces (no network at all, only the sandbox's own processes in `/proc`), read-only
system directories, a private size-capped `/tmp`, and the job directory as the only writable host
path. As root, every job runs as its own unprivileged uid with no capabilities, so the process cap
(RLIMIT_NPROC) holds; rlimits on CPU seconds, address space, file size and open files are set before
exec; the wall-clock timeout kills the whole process tree; output is cut to a bound with a marker.
The job directory's size (`disk_mb`, directories' own blocks included) and its number of files and
directories (`max_files`, which also bounds the private /tmp's file count) are checked while a call
runs and after it: on a breach the call is stopped, the directory emptied, and the result says so.
See `agent_gym.sandbox.bwrap` (command line, uids), `agent_gym.sandbox.proc` (deadlines, kills) and
`agent_gym.sandbox.disk` (the bounded accounting) for the mechanics, `SandboxLimits` for the numbers,
and `agent_gym.envs.code.base.SandboxToolEnv` for environments built on it.

**What the code can still see of the host** (accepted): `/proc/self/mountinfo` and the command line
of the namespace's init (`/proc/1/cmdline`, which is bwrap) name the host directories bound into the
sandbox — the job directory (`<root>/job-<random>/workspace`), the shared copy of `/etc`
(`<root>/etc-<random>`), the interpreter's installation (bound at its own path anyway) — and the
devices and filesystems they are on. Names are random, never the host's pid; other jobs' names, the
host's processes and the host's other mounts stay invisible, and the named paths lead nowhere inside.
Hiding them too would need a filesystem per job.

**Without bubblewrap** `Sandbox()` refuses with a `SandboxError` saying how to install it. Passing
`allow_weak_fallback=True` runs commands as plain subprocesses instead — the *weak fallback*: the
rlimits, the separate uid (when root), the timeout, the output cap and the job directory as working
directory still apply, but there is **no filesystem or network isolation**: the code can read what
its uid can read, write `/tmp` and open network connections. Use it only for code you would run
anyway (your own tests on a laptop without bubblewrap), never for a model's code on a shared machine.

Every `Sandbox` is one episode's: its own job directory and uid, so many run at once. `close()` (or
the `with` block, or garbage collection) kills leftover processes and deletes the directory.

It is one module because `Sandbox` is one object owning its job directory, uid lease and session;
the command line, limits, processes and the session are in `bwrap`, `limits`, `proc` and `session`.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from agent_gym.errors import SandboxError
from agent_gym.sandbox.bwrap import (
    WORKDIR,
    Rlimits,
    UidLease,
    bwrap_command,
    drop_privileges,
    interpreter_path,
    python_roots,
    sandbox_env,
    shared_etc,
)
from agent_gym.sandbox.disk import DiskWatch, breach, empty_dir
from agent_gym.sandbox.jobdir import cleanup, make_job_dir, sweep_stale
from agent_gym.sandbox.limits import SandboxLimits, SandboxResult
from agent_gym.sandbox.proc import (
    InfoPipe,
    describe_exit,
    is_root,
    kill_uid,
    run_bounded,
    uid_processes,
    wait_namespace_gone,
)

__all__ = ["INSTALL_ADVICE", "WORKDIR", "Sandbox", "SandboxLimits", "SandboxResult", "bwrap_available"]

INSTALL_ADVICE = (
    "bubblewrap (`bwrap`) is needed to run model-written code safely. Install it with "
    "`sudo apt-get install bubblewrap` (Debian/Ubuntu), `sudo dnf install bubblewrap` (Fedora) or "
    "`make setup` as root. To run without isolation anyway (only for code you trust), pass "
    "allow_weak_fallback=True: see the agent_gym.sandbox.box docstring for what that does not protect."
)


def bwrap_available(bwrap: str | None = None) -> bool:
    """Whether bubblewrap is installed and can create the sandbox's namespaces here."""
    try:
        return _probe_bwrap(bwrap or shutil.which("bwrap") or "") is None
    except OSError:
        return False


@functools.cache
def _probe_bwrap(bwrap: str) -> str | None:
    """None when `bwrap` works, else why not."""
    if not bwrap or not os.access(bwrap, os.X_OK):
        return "bwrap is not installed"
    args = [bwrap, "--unshare-pid", "--unshare-net", "--die-with-parent", "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64"]
    if not is_root():
        args += ["--unshare-user"]
    probe = subprocess.run([*args, "/usr/bin/true"], capture_output=True, text=True, timeout=30)
    return None if probe.returncode == 0 else (probe.stderr.strip() or f"exit code {probe.returncode}")


class Sandbox:
    """One episode's confined job directory, with one-shot runs and a persistent Python session.

    Args:
        limits: Resource limits of every call.
        python: Interpreter for `run_python` and sessions; default: this one (its venv is visible,
            read-only, so numpy/pandas work if installed). A relative path or a bare name is resolved
            here, against the current directory or PATH.
        allow_weak_fallback: Without a working bubblewrap, run unconfined subprocesses instead of
            raising (see the module docstring for what is lost).
        bwrap: Path of the bwrap binary; default: found on PATH.
        root: Where job directories are made; default: `<tmp>/agent_gym_sandbox`.
    """

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        *,
        python: str | None = None,
        allow_weak_fallback: bool = False,
        bwrap: str | None = None,
        root: str | os.PathLike[str] | None = None,
    ) -> None:
        self.limits = limits or SandboxLimits()
        self.python = interpreter_path(python or sys.executable)
        """The interpreter, as an absolute path (also valid inside the sandbox)."""
        needed = ["/usr/bin/prlimit", *(["/usr/bin/setpriv"] if is_root() else [])]
        missing = [path for path in needed if not os.access(path, os.X_OK)]
        if missing:
            raise SandboxError(f"The sandbox needs {' and '.join(missing)} from util-linux: apt-get install util-linux.")
        bwrap = bwrap or shutil.which("bwrap") or ""
        problem = _probe_bwrap(bwrap)
        if problem is not None and not allow_weak_fallback:
            raise SandboxError(f"Cannot sandbox: {problem}. {INSTALL_ADVICE}")
        if problem is not None:
            warnings.warn(f"agent_gym.sandbox.box: {problem}; using the weak fallback (no isolation).", stacklevel=2)
        self.mode = "bwrap" if problem is None else "weak"
        self._bwrap = bwrap
        self._root = Path(root or Path(tempfile.gettempdir()) / "agent_gym_sandbox")
        self._root.mkdir(mode=0o711, parents=True, exist_ok=True)
        sweep_stale(self._root)
        self._lease = UidLease(self._root / ".uids") if is_root() else None
        self.uid = self._lease.uid if self._lease else None
        self._dir, self._dir_lock = make_job_dir(self._root)
        self.path = self._dir / "workspace"
        """The job directory on the host (read results here only through `read_text`)."""
        self.path.mkdir(mode=0o755)
        self._write_etc()
        if self.uid is not None:
            os.chown(self.path, self.uid, self.uid)
        self.workdir = WORKDIR if self.mode == "bwrap" else str(self.path)
        """The job directory as sandboxed code sees it (its working directory and $HOME)."""
        self._session = None
        self._prefix: list[str] | None = None
        self._closed = False
        self._finalizer = weakref.finalize(self, cleanup, self._dir, self.uid, self._lease, self._dir_lock)

    # ---- one-shot runs ----------------------------------------------------------------------------

    def run(self, command: str, *, timeout: float | None = None, stdin: str | bytes | None = None) -> SandboxResult:
        """Run a bash command line in the job directory (a fresh shell each call; files persist)."""
        return self.exec(["/bin/bash", "-c", command], timeout=timeout, stdin=stdin)

    def run_python(self, code: str, *, timeout: float | None = None) -> SandboxResult:
        """Run a Python program in a fresh interpreter (code given on stdin)."""
        return self.exec([self.python, "-I", "-"], timeout=timeout, stdin=code or "pass")

    def exec(
        self, argv: Sequence[str], *, timeout: float | None = None, stdin: str | bytes | None = None,
        max_output_bytes: int | None = None,
    ) -> SandboxResult:
        """Run `argv` confined; every limit of `self.limits` applies (`max_output_bytes` may raise one)."""
        self.check_open()
        data = stdin.encode() if isinstance(stdin, str) else stdin
        info = InfoPipe() if self.mode == "bwrap" else None
        try:
            command = self.argv(list(argv), info_fd=None if info is None else info.write_fd)
        except BaseException:
            if info is not None:
                info.discard()
            raise
        watch = self.disk_watch(None if info is None else lambda: _tmp_of(info.poll()))
        try:
            outcome = run_bounded(
                command, stdin=data, timeout=timeout or self.limits.timeout,
                output_limit=max_output_bytes or self.limits.max_output_bytes,
                kill_after_bytes=max(self.limits.output_kill_bytes, max_output_bytes or 0),
                pass_fds=() if info is None else (info.write_fd,), watch=watch, **self.popen_kwargs(),
            )
        finally:
            init_pid = info.close() if info is not None else None
        wait_namespace_gone(init_pid)
        if outcome.killed and self.mode == "weak" and self.uid is not None and self._session is None:
            kill_uid(self.uid)  # no pid namespace here: catch what escaped the process group
        killed = {"timeout": f"killed: wall-clock timeout of {timeout or self.limits.timeout:g} s",
                  "output": f"killed: more than {self.limits.output_kill_bytes:,} bytes of output",
                  "watch": f"killed: {outcome.detail}"}.get(
            outcome.killed or "", None) or describe_exit(outcome.returncode)
        if killed == "killed by SIGXCPU":
            killed += f" (CPU time limit of {self.limits.cpu_seconds} s)"
        notes = self.after_watch(watch) + self.check_disk()
        return SandboxResult(
            stdout=outcome.stdout.text(), stderr=outcome.stderr.text(), exit_code=outcome.returncode,
            timed_out=outcome.killed == "timeout", truncated=outcome.stdout.truncated or outcome.stderr.truncated,
            killed=killed, seconds=outcome.seconds, notes=notes,
        )

    async def run_async(
        self, command: str, *, timeout: float | None = None, stdin: str | bytes | None = None
    ) -> SandboxResult:
        """`run` without blocking the event loop."""
        return await asyncio.to_thread(self.run, command, timeout=timeout, stdin=stdin)

    async def run_python_async(self, code: str, *, timeout: float | None = None) -> SandboxResult:
        """`run_python` without blocking the event loop."""
        return await asyncio.to_thread(self.run_python, code, timeout=timeout)

    # ---- files ----------------------------------------------------------------------------------

    def write_files(self, files: Mapping[str, str | bytes]) -> None:
        """Create files (relative paths, parents made) in the job directory, as the sandbox user.

        Written from inside the sandbox, so a symlink planted by earlier code cannot redirect it.
        """
        import base64
        import json

        payload = json.dumps({name: base64.b64encode(c.encode() if isinstance(c, str) else c).decode()
                              for name, c in files.items()})
        script = ("import base64, json, os, sys\nfor name, data in json.load(sys.stdin).items():\n"
                  "    d = os.path.dirname(name)\n    d and os.makedirs(d, exist_ok=True)\n"
                  "    os.path.islink(name) and os.unlink(name)\n"
                  "    open(name, 'wb').write(base64.b64decode(data))\n")
        result = self.exec([self.python, "-I", "-c", script], stdin=payload)
        if not result.ok:
            raise SandboxError(f"Could not write {sorted(files)} into the job directory: {result.text()}")

    def read_text(self, path: str, *, limit: int | None = None) -> str | None:
        """A job file's text (read inside the sandbox, up to `limit` bytes), or None if unreadable."""
        limit = limit or self.limits.max_output_bytes
        result = self.exec(["/usr/bin/head", "-c", str(limit), "--", path], max_output_bytes=limit + 1)
        return result.stdout if result.ok else None

    # ---- sessions --------------------------------------------------------------------------------

    def python_session(self):  # noqa: ANN201 - PythonSession, imported lazily
        """The job's persistent Python session (started on first use, closed with the sandbox)."""
        from agent_gym.sandbox.session import PythonSession

        self.check_open()
        if self._session is None:
            self._session = PythonSession(self)
        return self._session

    # ---- plumbing ---------------------------------------------------------------------------------

    def argv(self, inner: list[str], rlimits: Rlimits | None = None, info_fd: int | None = None) -> list[str]:
        """The full command line running `inner` confined with `rlimits` (default: the per-call ones)."""
        rlimits = rlimits or self.limits.rlimits(processes=self.process_cap())
        wrapped = ["/usr/bin/prlimit", *rlimits.prlimit_args(), "--", *drop_privileges(self.uid), *inner]
        if self.mode == "weak":
            return wrapped
        if self._prefix is None:
            extra = python_roots_cached(self.python)
            self._prefix = bwrap_command(self._bwrap, self.path, self._dir / "etc", extra, self.limits.tmp_mb << 20,
                                         self.uid, shared_etc(self._root))
        info = ["--info-fd", str(info_fd)] if info_fd is not None else []
        return [self._prefix[0], *info, *self._prefix[1:], *wrapped]

    def popen_kwargs(self) -> dict:
        """Working directory and environment for `subprocess.Popen` of `argv(...)`."""
        if self.mode == "weak":
            return {"cwd": str(self.path), "env": sandbox_env(str(self.path))}
        return {"cwd": "/", "env": {}}

    def process_cap(self) -> int:
        if self.uid is not None:
            return self.limits.max_processes
        return len(uid_processes(os.getuid())) + self.limits.max_processes  # approximate when not root

    def _write_etc(self) -> None:
        etc = self._dir / "etc"
        etc.mkdir(mode=0o755)
        uid = self.uid if self.uid is not None else os.getuid()
        (etc / "passwd").write_text(f"root:x:0:0:root:/root:/bin/bash\n"
                                    f"sandbox:x:{uid}:{uid}:sandbox:{WORKDIR}:/bin/bash\n"
                                    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
        (etc / "group").write_text(f"root:x:0:\nsandbox:x:{uid}:\nnogroup:x:65534:\n")
        (etc / "hostname").write_text("sandbox\n")
        for name in ("passwd", "group", "hostname"):
            (etc / name).chmod(0o644)

    def check_disk(self) -> tuple[str, ...]:
        """After a call: empty the job directory if it is over `disk_mb` or `max_files`; the note saying so.

        The check stops at the first entry past a limit, so it costs at most `max_files` entries."""
        found = breach(self.path, disk_mb=self.limits.disk_mb, max_files=self.limits.max_files)
        if found is None:
            return ()
        empty_dir(self.path)
        return (f"{found} and was emptied",)

    def disk_watch(self, tmp_path: Callable[[], str | None] | None = None) -> DiskWatch:
        """A watch that stops a running call when the job directory (or the private /tmp, seen from the
        host at `tmp_path()`) goes over its limits."""
        return DiskWatch(self.path, disk_mb=self.limits.disk_mb, max_files=self.limits.max_files,
                         tmp_mb=self.limits.tmp_mb, tmp_path=tmp_path)

    def after_watch(self, watch: DiskWatch) -> tuple[str, ...]:
        """After `watch` stopped a call: empty the job directory if it was the job directory's breach."""
        if watch.found is None or not watch.job_dir_breached:
            return ()
        empty_dir(self.path)
        return ("the job directory was emptied",)

    def check_open(self) -> None:
        if self._closed:
            raise SandboxError("This sandbox is closed; make a new Sandbox for a new episode.")

    def close(self) -> None:
        """Stop the session, kill leftover processes, delete the job directory (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._session is not None:
            self._session.close()
        self._finalizer()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Sandbox(mode={self.mode!r}, path={str(self.path)!r}, uid={self.uid}, closed={self._closed})"


@functools.cache
def python_roots_cached(executable: str) -> tuple[str, ...]:
    """`python_roots`, computed once per interpreter."""
    try:
        return tuple(python_roots(executable))
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxError(f"Cannot use {executable!r} as the sandbox's Python: {exc}") from exc


def _tmp_of(init_pid: int | None) -> str | None:
    """The private /tmp of a live sandbox, as the host reaches it."""
    return None if init_pid is None else f"/proc/{init_pid}/root/tmp"
