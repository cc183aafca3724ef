"""A persistent Python session inside the sandbox: state kept between calls, like a notebook kernel.

One interpreter runs confined for the whole episode (`Sandbox.python_session()`). Each call sends
code; the session runs it in one global namespace, shows the value of a last bare expression (as
Jupyter does), and answers with the captured stdout and stderr — including what subprocesses print.
A call past its wall-clock timeout, or one that kills the interpreter (`os._exit`, a CPU or memory
limit), ends the session: the result says so and the next call starts a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import threading
import time
from typing import TYPE_CHECKING

from agent_gym.errors import SandboxError
from agent_gym.sandbox.limits import SandboxResult
from agent_gym.sandbox.proc import (
    CappedBuffer,
    describe_exit,
    kill_group,
    read_info,
    wait_namespace_gone,
)

if TYPE_CHECKING:
    from agent_gym.sandbox.box import Sandbox

# Runs inside the sandbox with `python -I -u -c`. Protocol: one JSON request per line on the
# original stdin, one JSON reply per line on the original stdout; the code's own fds 1 and 2 go
# to an unlinked file in the private /tmp, read back after each call.
SERVER = r'''
import ast, json, linecache, os, resource, sys, traceback
proto_in = os.fdopen(os.dup(0), "rb")
proto_out = os.fdopen(os.dup(1), "wb")
null = os.open(os.devnull, os.O_RDONLY); os.dup2(null, 0); os.close(null)
capture = os.open("/tmp/.agent_gym_out", os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o600)
os.unlink("/tmp/.agent_gym_out")
os.dup2(capture, 1); os.dup2(capture, 2)
os.set_inheritable(proto_in.fileno(), False); os.set_inheritable(proto_out.fileno(), False)
sys.stdout = open(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
sys.stderr = open(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
sys.stdin = open(0, "r", closefd=False)
namespace = {"__name__": "__main__", "__builtins__": __builtins__}
_, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)

def used_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

def run_cell(code, name):
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)
    try:
        tree = ast.parse(code, name, "exec")
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, name, "exec"), namespace)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), name, "eval"), namespace)
            if value is not None:
                print(repr(value))
        return "ok"
    except SystemExit as exc:
        print(f"SystemExit: {exc.code}", file=sys.stderr)
        return "error"
    except BaseException as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        while frames and not frames[0].filename.startswith("<cell-"):
            frames.pop(0)
        text = "".join(["Traceback (most recent call last):\n"] * bool(frames) + traceback.format_list(frames)
                       + traceback.format_exception_only(type(exc), exc))
        sys.stderr.write(text)
        return "error"

proto_out.write(b'{"ready": true}\n'); proto_out.flush()
for number, line in enumerate(proto_in, start=1):
    request = json.loads(line)
    os.ftruncate(capture, 0)
    soft = used_cpu() + request["cpu"]
    if cpu_hard != resource.RLIM_INFINITY:
        soft = min(soft, cpu_hard)
    resource.setrlimit(resource.RLIMIT_CPU, (int(soft) + 1, cpu_hard))
    status = run_cell(request["code"], f"<cell-{number}>")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    size = os.fstat(capture).st_size
    limit, tail_n = request["limit"], request["limit"] // 4
    head = os.pread(capture, limit - tail_n if size > limit else size, 0)
    tail = os.pread(capture, tail_n, size - tail_n) if size > limit else b""
    reply = {"status": status, "size": size,
             "head": head.decode("utf-8", "replace"), "tail": tail.decode("utf-8", "replace")}
    proto_out.write(json.dumps(reply).encode() + b"\n"); proto_out.flush()
'''


class PythonSession:
    """A persistent confined interpreter for one episode; use through `Sandbox.python_session()`."""

    def __init__(self, sandbox: Sandbox, startup_timeout: float = 30.0) -> None:
        self.sandbox = sandbox
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen | None = None
        self._init_pid: int | None = None
        self._buffer = b""
        self._lock = threading.Lock()
        self.restarts = 0
        """How many times the interpreter was replaced after dying or timing out."""
        self._lost_state = False

    @property
    def alive(self) -> bool:
        """Whether an interpreter is running now."""
        return self._proc is not None and self._proc.poll() is None

    def run(self, code: str, *, timeout: float | None = None) -> SandboxResult:
        """Run `code` in the session; variables, imports and functions persist to the next call."""
        with self._lock:
            self.sandbox.check_open()
            notes: tuple[str, ...] = ()
            if not self.alive:
                if self._proc is not None or self._lost_state:
                    notes = ("a new Python session was started: variables from earlier calls are gone",)
                    self.restarts += 1
                    self._lost_state = False
                self._start()
            limits = self.sandbox.limits
            timeout = timeout or limits.timeout
            request = {"code": code, "cpu": limits.cpu_seconds, "limit": limits.max_output_bytes}
            t0 = time.monotonic()
            try:
                self._proc.stdin.write(json.dumps(request).encode() + b"\n")  # type: ignore[union-attr]
                self._proc.stdin.flush()  # type: ignore[union-attr]
                line = self._read_line(t0 + timeout)
            except (BrokenPipeError, OSError):
                line = None
            seconds = time.monotonic() - t0
            if line is None:
                return self._died(timed_out=time.monotonic() - t0 >= timeout, timeout=timeout, seconds=seconds,
                                  notes=notes)
            reply = json.loads(line)
            output = CappedBuffer(limits.max_output_bytes)
            output.head, output.total = bytearray(reply["head"].encode()), reply["size"]
            output.tail = bytearray(reply["tail"].encode())
            text = output.text() if reply["size"] > limits.max_output_bytes else reply["head"]
            return SandboxResult(stdout=text, stderr="", exit_code=0 if reply["status"] == "ok" else 1,
                                 truncated=reply["size"] > limits.max_output_bytes, seconds=seconds,
                                 notes=notes + self.sandbox.check_disk())

    async def run_async(self, code: str, *, timeout: float | None = None) -> SandboxResult:
        """`run` without blocking the event loop."""
        import asyncio

        return await asyncio.to_thread(self.run, code, timeout=timeout)

    def close(self) -> None:
        """Kill the interpreter (a later `run` starts a fresh one)."""
        if self._proc is not None:
            kill_group(self._proc)
            self._proc.wait()
            wait_namespace_gone(self._init_pid)
            for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
                if stream is not None:
                    stream.close()
            self._proc = None
        self._buffer = b""

    # ---- internals ---------------------------------------------------------------------------------

    def _start(self) -> None:
        self.close()
        limits = self.sandbox.limits
        rlimits = limits.rlimits(cpu_seconds=limits.session_cpu_seconds, processes=self.sandbox.process_cap())
        info_read, info_write = os.pipe() if self.sandbox.mode == "bwrap" else (None, None)
        argv = self.sandbox.argv([self.sandbox.python, "-I", "-u", "-c", SERVER], rlimits, info_fd=info_write)
        try:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                close_fds=True, pass_fds=() if info_write is None else (info_write,), **self.sandbox.popen_kwargs())
        finally:
            if info_write is not None:
                os.close(info_write)
        self._init_pid = read_info(info_read) if info_read is not None else None
        line = self._read_line(time.monotonic() + self.startup_timeout)
        if line is None or not json.loads(line).get("ready"):
            self._proc.poll()
            detail = self._proc.stderr.read1(4000).decode("utf-8", "replace") if self._proc.poll() is not None else ""  # type: ignore[union-attr]
            self.close()
            raise SandboxError(f"The sandboxed Python session did not start: {detail.strip() or 'no reply'}")

    def _read_line(self, deadline: float) -> bytes | None:
        """The next protocol line, or None at EOF or the deadline."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    return None
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return None
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _died(self, *, timed_out: bool, timeout: float, seconds: float, notes: tuple[str, ...]) -> SandboxResult:
        assert self._proc is not None
        if timed_out:
            killed = f"killed: wall-clock timeout of {timeout:g} s"
        else:
            code = self._proc.wait(5) if self._proc.poll() is None else self._proc.returncode
            killed = describe_exit(code) or f"the Python session exited with code {code}"
            if killed == "killed by SIGXCPU":
                killed += f" (CPU time limit of {self.sandbox.limits.cpu_seconds} s per call)"
        self.close()
        self._lost_state = True
        note = "the Python session was stopped; the next call starts a fresh one without earlier variables"
        return SandboxResult(stdout="", stderr="", exit_code=137, timed_out=timed_out, killed=killed,
                             seconds=seconds, notes=(*notes, note))
