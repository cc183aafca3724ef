"""The sandbox against escape and abuse attempts, on the real bubblewrap (no mocks).

Each attempt must be contained with a clear result, and nothing outside the job directory touched.
"""

import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agent_gym import ConfigError
from agent_gym.errors import SandboxError
from agent_gym.sandbox.box import Sandbox, SandboxLimits, bwrap_available
from agent_gym.sandbox.proc import uid_processes

FAST = SandboxLimits(timeout=5, cpu_seconds=3, memory_mb=512, file_size_mb=8, open_files=64, max_processes=32,
                     max_output_bytes=2000, output_kill_bytes=200_000, tmp_mb=8, disk_mb=32)


@pytest.fixture
def box():
    with Sandbox(FAST) as sandbox:
        yield sandbox


def test_bubblewrap_is_there():
    assert bwrap_available(), "install bubblewrap: apt-get install bubblewrap (make setup does it as root)"


def test_shell_runs_in_the_job_directory_and_files_persist(box):
    first = box.run("pwd; echo hello > note.txt; echo oops >&2; exit 3")
    assert first.stdout == "/workspace\n" and first.stderr == "oops\n" and first.exit_code == 3
    assert first.text() == "/workspace\n[stderr]\noops\n[exit code 3]"
    second = box.run("cat note.txt; id -un; wc -c", stdin="four")
    assert second.ok and second.stdout == "hello\nsandbox\n4\n"
    assert box.read_text("note.txt") == "hello\n" and box.read_text("missing.txt") is None
    assert (box.path / "note.txt").read_text() == "hello\n"


def test_one_shot_python_uses_the_venv(box):
    result = box.run_python("import numpy, sys\nprint(numpy.arange(4).sum(), sys.flags.isolated)")
    assert result.ok and result.stdout == "6 1\n"
    assert "ZeroDivisionError" in box.run_python("1/0").stderr


def test_no_network_at_all(box):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        code = (
            "import socket\n"
            f"for addr in [('127.0.0.1', {port}), ('1.1.1.1', 80), ('pypi.org', 443)]:\n"
            "    try:\n        socket.create_connection(addr, timeout=2); print('CONNECTED', addr)\n"
            "    except OSError as exc:\n        print('blocked', type(exc).__name__)\n"
        )
        result = box.run_python(code)
    finally:
        server.close()
    assert result.ok and "CONNECTED" not in result.stdout and result.stdout.count("blocked") == 3
    assert box.run("awk -F: 'NR > 2 {print $1}' /proc/net/dev").stdout.split() == ["lo"]  # loopback only


def test_host_files_are_invisible_or_read_only(box, tmp_path):
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("untouched")
    repo_file = Path(__file__).resolve()
    attempts = [
        f"cat {sentinel}", f"echo x > {sentinel}", f"cat {repo_file}", "cat /etc/shadow", "ls /root/.ssh",
        "echo x > /usr/evil", "echo x > /evil", "touch /etc/passwd", "rm -rf /usr/bin/ls",
        f"ln -s {sentinel} link && echo x > link",
    ]
    for command in attempts:
        assert not box.run(command).ok, command
    assert sentinel.read_text() == "untouched"
    assert os.path.exists("/usr/bin/ls") and not os.path.exists("/usr/evil") and not os.path.exists("/evil")
    # The sandbox's /tmp is private and /etc holds a synthetic passwd.
    assert box.run("echo secret > /tmp/private-$$ && ls /tmp").ok
    assert not any(p.name.startswith("private-") for p in Path("/tmp").iterdir())
    assert "sandbox:x:" in box.run("cat /etc/passwd").stdout and "sandbox" not in Path("/etc/passwd").read_text()


def test_no_privileges_and_no_other_processes_in_proc(box):
    status = box.run("grep -E '^(CapEff|NoNewPrivs|Uid)' /proc/self/status").stdout
    assert "CapEff:\t0000000000000000" in status and "NoNewPrivs:\t1" in status and "\t0\t" not in status
    pids = box.run("ls /proc | grep -E '^[0-9]+$'").stdout.split()
    assert len(pids) <= 4 and str(os.getpid()) not in pids  # bwrap's init, bash, ls, grep
    assert not box.run(f"kill -0 {os.getpid()}").ok


def test_killing_the_parent_or_everything_is_contained(box):
    result = box.run("kill -9 $PPID; kill -9 1; kill -9 -1; echo still here")
    assert result.exit_code != 0 or "still here" in result.stdout
    assert box.run("echo alive").stdout == "alive\n"  # our process and the sandbox are fine


def test_fork_bomb_is_capped_by_the_process_limit(box):
    count = box.run_python(
        "import os\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n            import time; time.sleep(30)\n"
        "        n += 1\nexcept OSError as exc:\n    print(n, exc.strerror)\n"
    )
    forks, _, reason = count.stdout.strip().partition(" ")
    assert int(forks) < FAST.max_processes and reason == "Resource temporarily unavailable"
    t0 = time.monotonic()
    bomb = box.run(":(){ :|:& };:; sleep 5", timeout=2)
    assert bomb.timed_out and "killed: wall-clock timeout" in bomb.text()
    assert "fork: retry: Resource temporarily unavailable" in bomb.stderr and time.monotonic() - t0 < 6
    assert uid_processes(box.uid) == []  # the whole tree is gone


def test_memory_bomb_fails_inside(box):
    result = box.run_python("chunks = []\nwhile True:\n    chunks.append(bytearray(50 << 20))")
    assert not result.ok and "MemoryError" in result.stderr
    assert box.run_python("bytearray(2 << 30)").stderr.strip().endswith("MemoryError")


def test_cpu_loop_is_killed_by_the_cpu_limit():
    with Sandbox(SandboxLimits(timeout=20, cpu_seconds=1)) as box:
        t0 = time.monotonic()
        result = box.run_python("while True: pass")
    assert result.killed and "SIGXCPU" in result.killed and not result.timed_out  # CPU time, not the clock
    assert time.monotonic() - t0 < 20


def test_sleeping_past_the_timeout_is_killed(box):
    t0 = time.monotonic()
    result = box.run("echo before; sleep 60; echo after", timeout=1)
    assert result.timed_out and result.stdout == "before\n" and "after" not in result.stdout
    assert "wall-clock timeout of 1 s" in result.text() and time.monotonic() - t0 < 4


def test_endless_output_is_cut_and_killed(box):
    result = box.run("yes")
    assert result.killed and "output" in result.killed and result.truncated
    assert "[... output truncated:" in result.stdout and len(result.stdout) < 3 * FAST.max_output_bytes
    small = box.run("seq 1 5000")
    assert small.ok and small.truncated and small.stdout.startswith("1\n2\n") and small.stdout.endswith("4999\n5000\n")


def test_huge_files_and_full_tmp_fail(box):
    big = box.run("head -c 50M /dev/zero > big.bin")
    assert not big.ok and (box.path / "big.bin").stat().st_size <= FAST.file_size_mb << 20
    tmp = box.run("for i in 1 2 3 4; do head -c 5M /dev/zero > /tmp/f$i || exit 1; done")
    assert not tmp.ok and "No space left" in tmp.stderr


def test_too_many_files_in_the_job_directory_empties_it(box):
    result = box.run("for i in $(seq 6); do head -c 7M /dev/zero > f$i; done; echo done")
    assert "was emptied" in result.text() and list(box.path.iterdir()) == []


def test_too_many_open_files(box):
    result = box.run_python(
        "fs = []\ntry:\n    while True: fs.append(open('/dev/null'))\nexcept OSError as e:\n    print(len(fs), e.strerror)"
    )
    count, _, reason = result.stdout.strip().partition(" ")
    assert int(count) < FAST.open_files and reason == "Too many open files"


def test_leftover_background_processes_are_killed(box):
    t0 = time.monotonic()
    result = box.run("sleep 300 & setsid nohup sleep 301 >/dev/null 2>&1 & disown; echo started")
    assert result.ok and result.stdout == "started\n" and time.monotonic() - t0 < 3
    assert uid_processes(box.uid) == []


def test_symlinks_cannot_redirect_file_helpers(box, tmp_path):
    sentinel = tmp_path / "target.txt"
    sentinel.write_text("host")
    box.run(f"ln -s {sentinel} evil && ln -s /etc/hostname name")
    box.write_files({"evil": "model"})  # the link is replaced by a file; nothing on the host changes
    assert sentinel.read_text() == "host" and box.read_text("evil") == "model"
    assert box.read_text("name") == "sandbox\n"


def test_python_session_keeps_state_and_recovers_from_timeouts(box):
    session = box.python_session()
    assert session.run("import math\nx = 21").text() == "(no output)"
    assert session.run("x * 2").stdout == "42\n"
    mixed = session.run("import os, sys\nprint('out'); print('err', file=sys.stderr); os.system('echo child')")
    assert mixed.stdout == "out\nerr\nchild\n0\n"
    error = session.run("undefined_name")
    assert error.exit_code == 1 and "NameError" in error.stdout and "<cell-" in error.stdout
    slow = session.run("import time; time.sleep(30)", timeout=1)
    assert slow.timed_out and "next call starts a fresh one" in slow.text()
    fresh = session.run("'x' in globals()")
    assert fresh.stdout == "False\n" and "new Python session" in fresh.text()
    assert session.run("import os; os._exit(3)").killed == "the Python session exited with code 3"
    assert session.run("1 + 1").stdout == "2\n"
    assert session.run("print('y' * 10000)").truncated


def test_concurrent_sandboxes_are_isolated_and_cleaned_up():
    def episode(i: int):
        with Sandbox(FAST) as box:
            box.run(f"echo {i} > mine.txt")
            seen = box.run("cat *.txt").stdout
            return box.uid, box.path, seen
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(episode, range(6)))
    assert [seen for _, _, seen in results] == [f"{i}\n" for i in range(6)]
    assert len({uid for uid, _, _ in results}) == 6
    assert not any(path.exists() or path.parent.exists() for _, path, _ in results)


def test_close_kills_the_session_and_deletes_the_directory():
    box = Sandbox(FAST)
    box.python_session().run("import subprocess; subprocess.Popen(['sleep', '300'])")
    uid, path = box.uid, box.path
    assert uid_processes(uid)
    box.close()
    assert uid_processes(uid) == [] and not path.parent.exists()
    with pytest.raises(SandboxError, match="closed"):
        box.run("true")


def test_missing_bubblewrap_refuses_with_install_advice_unless_weak_fallback_is_chosen(tmp_path):
    with pytest.raises(SandboxError, match="apt-get install bubblewrap"):
        Sandbox(bwrap=str(tmp_path / "no-bwrap"))
    with pytest.warns(UserWarning, match="weak fallback"):
        weak = Sandbox(FAST, bwrap=str(tmp_path / "no-bwrap"), allow_weak_fallback=True)
    with weak:
        assert weak.mode == "weak" and weak.workdir == str(weak.path)
        assert weak.run("pwd").stdout.strip() == str(weak.path)
        assert weak.run("sleep 30", timeout=1).timed_out
        assert weak.run("head -c 50M /dev/zero > big").exit_code != 0


def test_limits_are_validated():
    with pytest.raises(ConfigError, match="timeout must be positive"):
        SandboxLimits(timeout=0)
    with pytest.raises(ConfigError, match="too small"):
        SandboxLimits(memory_mb=8)


def test_async_twins_run_concurrently(box):
    import asyncio

    async def main():
        return await asyncio.gather(box.run_async("sleep 0.5; echo a"), box.run_async("sleep 0.5; echo b"))

    t0 = time.monotonic()
    a, b = asyncio.run(main())
    assert (a.stdout, b.stdout) == ("a\n", "b\n") and time.monotonic() - t0 < 1.5
    assert threading.active_count() < 50


def test_an_interpreter_installed_under_tmp_still_runs(tmp_path):
    """A CI checkout under /tmp keeps its venv there, below the sandbox's private /tmp."""
    import venv

    if not str(tmp_path).startswith("/tmp/"):
        pytest.skip("needs a temporary directory under /tmp")
    venv.create(tmp_path / "venv")
    sandbox = Sandbox(python=str(tmp_path / "venv" / "bin" / "python"))
    try:
        result = sandbox.run_python("import sys; print(sys.prefix)")
        assert result.exit_code == 0 and result.stdout.strip() == str(tmp_path / "venv")
        assert "Read-only" in sandbox.run(f"touch {tmp_path}/venv/x").stderr
    finally:
        sandbox.close()
