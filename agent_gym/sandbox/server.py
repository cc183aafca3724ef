"""The Python session's server. It runs INSIDE the sandbox, as `python -I -u -c <this file's text> [cleanup]`.

The library never runs it in-process: `session` reads this file as text, and `protocol` imports its
constants (importing it defines names and runs nothing). Standard library only: the sandbox sees no
agent_gym.

Protocol: the host writes one JSON request per line on the server's stdin, `{"code", "cpu", "limit",
"nonce"}` (a fresh random nonce per request); the server answers each with one frame on its stdout:
`HEADER_FORMAT % (nonce, len(body))`, then `body`, a UTF-8 JSON object `{"status", "size", "head",
"tail", "stopped"}`. The first frame, `READY_NONCE`'s, says the server has started (no code has run yet).

Before any code runs, both pipes move to the top of the fd range (close-on-exec); fds 0, 1 and 2
become /dev/null and an unlinked capture file in the private /tmp; `__main__` becomes the code's own
module; and everything the server uses is a local of `_serve`, captured before the code could patch a
module: nothing of the protocol is reachable by name. (Code can still find the pipes through /proc and
the nonce in the server's frames: the host treats every byte as untrusted, see `protocol`.)

After each call, with `cleanup`, the server stops every other process of the sandbox's pid namespace
(`kill(-1)` until none is left; the call's processes end with the call) and reaps them, and a forked
copy of the server ends as soon as the call's code returns in it, before it could read or answer.
"""

HEADER_FORMAT = "AGS1 %s %010d\n"
"""A reply frame's header: the request's nonce (32 hex digits), then the body's length in bytes."""
HEADER_SIZE = len(HEADER_FORMAT % ("0" * 32, 0))
READY_NONCE = "0" * 32
"""The nonce of the frame that announces a started server."""
LOST_PIPES = 70
"""The server's exit status when its protocol pipes fail (the code closed or replaced them)."""


def _serve(cleanup: bool) -> None:  # noqa: C901 - one closure on purpose: nothing of it is a global
    import ast
    import json
    import linecache
    import os
    import resource
    import signal
    import sys
    import time
    import traceback
    import types

    getpid, kill, waitpid, listdir, write, pread, exit_now = (
        os.getpid, os.kill, os.waitpid, os.listdir, os.write, os.pread, os._exit)
    os_open, os_read, os_close, fstat, ftruncate, sleep = os.open, os.read, os.close, os.fstat, os.ftruncate, time.sleep
    dumps, loads, header, lost_pipes = json.dumps, json.loads, HEADER_FORMAT, LOST_PIPES
    me, uid = getpid(), os.getuid()

    # The protocol's pipes go to the top of the fd range, out of the way of the code's own fds.
    top = max(16, min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 4096))
    requests = os.dup2(0, top - 1, inheritable=False)
    replies = os.dup2(1, top - 2, inheritable=False)
    made = os.open("/tmp/.agent_gym_out", os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o600)
    os.unlink("/tmp/.agent_gym_out")
    capture = os.dup2(made, top - 3, inheritable=False)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(made, 1)
    os.dup2(made, 2)
    os.close(null)
    os.close(made)
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
    sys.stdin = open(0, closefd=False)
    main = types.ModuleType("__main__")  # the code's namespace, and what `import __main__` gives it
    main.__builtins__ = sys.modules["builtins"]
    sys.modules["__main__"] = main
    namespace = main.__dict__
    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)

    def send(nonce: str, body: dict) -> None:
        data = dumps(body, ensure_ascii=False).encode("utf-8", "replace")
        view = memoryview((header % (nonce, len(data))).encode() + data)
        while view:
            view = view[write(replies, view):]

    def used_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def run_cell(code: str, name: str) -> str:
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

    def flush() -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass

    def others() -> list[int]:
        """Live processes of this uid in the namespace, other than the server (pid 1 is bwrap's init)."""
        found = []
        for name in listdir("/proc"):
            if not name.isdigit() or name == "1" or int(name) == me:
                continue
            try:
                fd = os_open(f"/proc/{name}/status", os.O_RDONLY)
                try:
                    status = os_read(fd, 4096)
                finally:
                    os_close(fd)
            except OSError:
                continue
            fields = dict(line.split(b":", 1) for line in status.splitlines() if b":" in line)
            state, owner = fields.get(b"State", b"").split()[:1], fields.get(b"Uid", b"").split()[:1]
            if owner == [str(uid).encode()] and state not in ([b"Z"], [b"X"]):
                found.append(int(name))
        return found

    def reap() -> None:
        while True:
            try:
                pid, _ = waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    def stop_others() -> int:
        stopped: set[int] = set()
        for attempt in range(200):
            reap()
            found = others()
            if not found:
                break
            stopped.update(found)
            try:
                kill(-1, signal.SIGKILL)  # every process this uid may signal, except the server and init
            except OSError:
                pass
            sleep(0.001 * bool(attempt))
        reap()
        return len(stopped)

    def serve(reader) -> None:  # noqa: ANN001 - a binary file
        for number, line in enumerate(reader, start=1):
            if getpid() != me:
                exit_now(0)
            request = loads(line)
            nonce, limit = str(request["nonce"]), int(request["limit"])
            ftruncate(capture, 0)
            soft = used_cpu() + request["cpu"]
            if cpu_hard != resource.RLIM_INFINITY:
                soft = min(soft, cpu_hard)
            resource.setrlimit(resource.RLIMIT_CPU, (int(soft) + 1, cpu_hard))
            status = run_cell(request["code"], f"<cell-{number}>")
            del request
            flush()
            if getpid() != me:  # a forked copy of the server: its share of the call is over
                exit_now(0)
            stopped = stop_others() if cleanup else 0
            size = fstat(capture).st_size
            tail_n = limit // 4
            head = pread(capture, limit - tail_n if size > limit else size, 0)
            tail = pread(capture, tail_n, size - tail_n) if size > limit else b""
            send(nonce, {"status": status, "size": size, "head": head.decode("utf-8", "replace"),
                         "tail": tail.decode("utf-8", "replace"), "stopped": stopped})

    try:
        send(READY_NONCE, {"ready": True, "pid": me})
        serve(os.fdopen(requests, "rb", closefd=False))
    except BaseException:  # a pipe the code closed or replaced: end now, whatever threads the code left
        exit_now(lost_pipes)
    exit_now(0)  # the host closed the requests pipe


if __name__ == "__main__":
    globals().pop("_serve")(__import__("sys").argv[1:] == ["cleanup"])
