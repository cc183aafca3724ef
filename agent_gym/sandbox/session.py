"""A persistent Python session inside the sandbox: state kept between calls, like a notebook kernel.

One interpreter runs confined for the whole episode (`Sandbox.python_session()`). Each call sends
code; the session runs it in one global namespace (its `__main__`), shows the value of a last bare
expression (as Jupyter does), and answers with the captured stdout and stderr — including what
subprocesses print. A call past its wall-clock timeout, one that kills the interpreter (`os._exit`,
a CPU or memory limit), or one that goes over the job directory's limits ends the session: the result
says so and the next call starts a fresh interpreter.

**A call's processes end with the call.** After each call the server stops every other process of
the sandbox (a fork bomb, a forgotten `Popen`, a daemon that left with `setsid`, a forked copy of the
interpreter), reaps them, and the result says how many it stopped; their `Popen` objects then report
exit status 0. The host checks through the namespace's own /proc that nothing else is left, before
each call and after it: if processes appear when no call runs (a thread or a `multiprocessing` pool
starting them), the session is replaced and the next result says so.

**The protocol is framed and checked** (`agent_gym.sandbox.protocol`, `agent_gym.sandbox.server`): a
reply must be exactly the frame for the request's random nonce; anything else stops the session with a
plain note, and `run` never raises because of what the code wrote. The weak fallback (no bubblewrap)
keeps the framing but stops no processes: without a pid namespace they cannot be told apart.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from agent_gym.errors import SandboxError
from agent_gym.sandbox.disk import DiskWatch, tmp_breach
from agent_gym.sandbox.limits import SandboxResult
from agent_gym.sandbox.proc import (
    CappedBuffer,
    InfoPipe,
    describe_exit,
    kill_group,
    namespace_leftovers,
    wait_namespace_gone,
)
from agent_gym.sandbox.protocol import READY_NONCE, Reply, read_reply, send, stray_bytes
from agent_gym.sandbox.server import LOST_PIPES

if TYPE_CHECKING:
    from agent_gym.sandbox.box import Sandbox

SERVER = Path(__file__).with_name("server.py").read_text(encoding="utf-8")
"""The server's source, run inside the sandbox with `python -I -u -c` (see `agent_gym.sandbox.server`)."""

STOPPED = "the Python session was stopped; the next call starts a fresh one without earlier variables"


class PythonSession:
    """A persistent confined interpreter for one episode; use through `Sandbox.python_session()`."""

    def __init__(self, sandbox: Sandbox, startup_timeout: float = 30.0) -> None:
        self.sandbox = sandbox
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen | None = None
        self._init_pid: int | None = None
        self._server_pid: int | None = None  # the server's pid in its namespace
        self._lock = threading.Lock()
        self.restarts = 0
        """How many times the interpreter was replaced after dying, timing out or being stopped."""
        self._lost_state = False
        self._lost_why = ""

    @property
    def alive(self) -> bool:
        """Whether an interpreter is running now."""
        return self._proc is not None and self._proc.poll() is None

    def run(self, code: str, *, timeout: float | None = None) -> SandboxResult:
        """Run `code` in the session; variables, imports and functions persist to the next call."""
        with self._lock:
            self.sandbox.check_open()
            self._check_between_calls()
            limits = self.sandbox.limits
            timeout = timeout or limits.timeout
            nonce = secrets.token_hex(16)
            request = json.dumps({"code": code, "cpu": limits.cpu_seconds, "limit": limits.max_output_bytes,
                                  "nonce": nonce}).encode() + b"\n"
            watch = self.sandbox.disk_watch(self._tmp_path)
            notes: list[str] = []
            t0 = time.monotonic()
            for _ in range(2):  # a request the session could not even receive goes to a fresh one, once
                self._ensure_started(notes)
                reply = self._exchange(request, nonce, t0 + timeout, watch)
                if reply.kind != "unsent":
                    break
                self._lose("")
            seconds = time.monotonic() - t0
            if reply.kind == "frame":
                return self._answer(reply.body or {}, seconds, notes)
            if reply.kind in ("forged", "watch"):
                return self._stopped(reply, watch, seconds, notes)
            return self._died(timed_out=reply.kind == "timeout", timeout=timeout, seconds=seconds, notes=notes)

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
        self._init_pid = self._server_pid = None

    # ---- internals ---------------------------------------------------------------------------------

    def _ensure_started(self, notes: list[str]) -> None:
        if self.alive:
            return
        if self._proc is not None or self._lost_state:
            why = f" ({self._lost_why})" if self._lost_why else ""
            notes.append(f"a new Python session was started{why}: variables from earlier calls are gone")
            self.restarts += 1
            self._lost_state, self._lost_why = False, ""
        self._start()

    def _start(self) -> None:
        self.close()
        limits = self.sandbox.limits
        rlimits = limits.rlimits(cpu_seconds=limits.session_cpu_seconds, processes=self.sandbox.process_cap())
        info = InfoPipe() if self.sandbox.mode == "bwrap" else None
        cleanup = ["cleanup"] if info is not None else []  # no pid namespace: other processes are not ours to stop
        try:
            argv = self.sandbox.argv([self.sandbox.python, "-I", "-u", "-c", SERVER, *cleanup], rlimits,
                                     info_fd=None if info is None else info.write_fd)
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                close_fds=True, pass_fds=() if info is None else (info.write_fd,), **self.sandbox.popen_kwargs())
        except BaseException:
            if info is not None:
                info.discard()
            raise
        if info is not None:
            os.close(info.write_fd)  # bwrap holds its own copy now
            self._init_pid = info.close()
        reply = read_reply(self._proc.stdout.fileno(), READY_NONCE, time.monotonic() + self.startup_timeout,  # type: ignore[union-attr]
                           max_body=4096)
        ready = reply.body if reply.kind == "frame" and reply.body and reply.body.get("ready") else None
        if ready is None or type(ready.get("pid")) is not int:
            self._proc.poll()
            detail = self._proc.stderr.read1(4000).decode("utf-8", "replace") if self._proc.poll() is not None else ""  # type: ignore[union-attr]
            self.close()
            raise SandboxError(f"The sandboxed Python session did not start: {detail.strip() or 'no reply'}")
        self._server_pid = ready["pid"]

    def _exchange(self, request: bytes, nonce: str, deadline: float, watch: DiskWatch) -> Reply:
        assert self._proc is not None and self._proc.stdin is not None and self._proc.stdout is not None
        failed = send(self._proc.stdin.fileno(), request, deadline)
        if failed is not None:  # 'eof': nobody reads, so not even the request's last byte was taken
            return Reply("unsent" if failed == "eof" else failed)
        max_body = 8 * self.sandbox.limits.max_output_bytes + 4096  # JSON escapes at most ~6 bytes per byte
        return read_reply(self._proc.stdout.fileno(), nonce, deadline, max_body, watch)

    def _answer(self, body: dict, seconds: float, notes: list[str]) -> SandboxResult:
        limits = self.sandbox.limits
        size = body["size"]
        output = CappedBuffer(limits.max_output_bytes)
        output.head, output.tail, output.total = bytearray(body["head"].encode()), bytearray(body["tail"].encode()), size
        text = output.text() if size > limits.max_output_bytes else body["head"]
        if body["stopped"]:
            notes.append(f"stopped {body['stopped']} process(es) the call left running: a call's processes end with it")
        if self._leftovers():
            self._lose("processes kept running after a call")
            notes.append(f"processes the call started kept running after it (a thread or a pool starting them?); {STOPPED}")
        elif (found := tmp_breach(self._tmp_path(), limits.max_files, limits.tmp_mb << 20)) is not None:
            self._lose(found)
            notes.append(f"{found}; {STOPPED}")
        return SandboxResult(stdout=text, stderr="", exit_code=0 if body["status"] == "ok" else 1,
                             truncated=size > limits.max_output_bytes, seconds=seconds,
                             notes=(*notes, *self.sandbox.check_disk()))

    def _stopped(self, reply: Reply, watch: DiskWatch, seconds: float, notes: list[str]) -> SandboxResult:
        """The call was stopped: a forged reply, or the watch found the job directory over its limits."""
        self._lose("the previous one was stopped")
        notes += self.sandbox.after_watch(watch) if reply.kind == "watch" else ()
        killed = f"killed: {reply.detail}" if reply.kind == "watch" else f"stopped: {reply.detail} (the code wrote to the session's own pipe)"
        return SandboxResult(stdout="", stderr="", exit_code=137, killed=killed, seconds=seconds,
                             notes=(*notes, STOPPED, *self.sandbox.check_disk()))

    def _died(self, *, timed_out: bool, timeout: float, seconds: float, notes: list[str]) -> SandboxResult:
        assert self._proc is not None
        if timed_out:
            killed = f"killed: wall-clock timeout of {timeout:g} s"
        else:
            try:
                code = self._proc.wait(5) if self._proc.poll() is None else self._proc.returncode
            except subprocess.TimeoutExpired:  # it closed its pipes but lives on
                code = None
            killed = (describe_exit(code) or f"the Python session exited with code {code}" if code is not None
                      else "the Python session closed its pipes and stopped answering")
            if code == LOST_PIPES:
                killed = "the Python session's server failed: the code closed or replaced its pipes (or memory ran out)"
            if killed == "killed by SIGXCPU":
                killed += f" (CPU time limit of {self.sandbox.limits.cpu_seconds} s per call)"
        self._lose("")
        return SandboxResult(stdout="", stderr="", exit_code=137, timed_out=timed_out, killed=killed,
                             seconds=seconds, notes=(*notes, STOPPED))

    def _check_between_calls(self) -> None:
        """Before a call: replace a session that wrote unasked or still runs other processes."""
        if not self.alive:
            return
        assert self._proc is not None and self._proc.stdout is not None
        stray = stray_bytes(self._proc.stdout.fileno())
        if stray:
            self._lose("the previous one wrote to its reply channel between calls")
        elif stray is None:
            self._lose("")
        elif self._leftovers():
            self._lose("processes started by an earlier call were still running")

    def _lose(self, why: str) -> None:
        self.close()
        self._lost_state, self._lost_why = True, why

    def _leftovers(self) -> int:
        """Live processes of the session's namespace other than its init and the server (0 without one)."""
        if self._init_pid is None or self._server_pid is None:
            return 0
        return namespace_leftovers(self._init_pid, {self._server_pid}) or 0

    def _tmp_path(self) -> str | None:
        return None if self._init_pid is None else f"/proc/{self._init_pid}/root/tmp"
