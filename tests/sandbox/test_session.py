"""The persistent Python session against calls that outlive themselves or forge the session's protocol.

After every call nothing the call started may still run, and the next call must be answered correctly
(or the session restarts and says so); `run` never raises at its caller because of what the code did.
"""

import time

import pytest

from agent_gym.sandbox.box import Sandbox, SandboxLimits, SandboxResult
from agent_gym.sandbox.proc import uid_processes

LIMITS = SandboxLimits(timeout=20, cpu_seconds=5, memory_mb=512, max_processes=32, max_output_bytes=2000,
                       output_kill_bytes=200_000, tmp_mb=8, disk_mb=32)

ALIVE = "print('alive', 6 * 7, 'x' in globals())"


@pytest.fixture
def session():
    with Sandbox(LIMITS) as box:
        if box.uid is None:
            pytest.skip("counts the job's processes by its uid, which needs root")
        yield box.python_session()


def _live(session) -> list[int]:
    """The job's live processes on the host: the session's interpreter and whatever else still runs."""
    return uid_processes(session.sandbox.uid)


def _answers_after(session, result: SandboxResult) -> None:
    """The call after `result` is answered correctly, or says the session was stopped or restarted."""
    assert isinstance(result, SandboxResult)
    follow = session.run(ALIVE)
    if follow.stdout not in ("alive 42 True\n", "alive 42 False\n"):
        assert "session" in " ".join(follow.notes), follow
        follow = session.run(ALIVE)
    assert follow.stdout in ("alive 42 True\n", "alive 42 False\n"), follow
    if follow.stdout.endswith("False\n"):  # the state is gone: a note must have said so
        assert "new Python session" in follow.text(), follow


def test_a_bash_fork_bomb_ends_with_the_call(session):
    bomb = session.run("import subprocess\nsubprocess.run(['bash', '-c', ':(){ :|:& };:'])\nprint('bombed')")
    assert "bombed" in bomb.stdout and any("stopped" in note for note in bomb.notes), bomb
    assert len(_live(session)) == 1  # only the interpreter: the bomb is gone
    after = session.run("import subprocess\nprint(subprocess.run(['echo', 'ok'], capture_output=True, text=True).stdout)")
    assert after.stdout.strip() == "ok", after  # the process cap is free again


def test_forked_copies_of_the_session_end_with_the_call_and_the_next_call_is_answered(session):
    session.run("x = 1")
    forks = session.run("import os\ntry:\n    while True:\n        os.fork()\n"
                        "except OSError as exc:\n    print('stopped forking:', exc.strerror)")
    assert "Resource temporarily unavailable" in forks.stdout, forks
    assert session.run(ALIVE).stdout == "alive 42 True\n"
    assert len(_live(session)) == 1
    crashed = session.run("import os\nfor _ in range(5):\n    os.fork()\n1 / 0")  # 32 copies, each a traceback
    assert "ZeroDivisionError" in crashed.stdout
    assert session.run(ALIVE).stdout == "alive 42 True\n"


def test_everything_a_call_started_is_gone_after_it(session):
    started = session.run(
        "import os, subprocess, time\n"
        "subprocess.Popen(['sleep', '300'])\n"
        "subprocess.Popen(['setsid', 'nohup', 'sleep', '301'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(302)\n    os._exit(0)\n"
        "print('started')"
    )
    assert started.stdout == "started\n" and started.ok, started
    assert len(_live(session)) == 1
    assert session.run("import subprocess\nsubprocess.run(['true']).returncode").stdout == "0\n"


def test_a_session_whose_threads_start_processes_between_calls_is_restarted(session):
    box = session.sandbox
    setup = session.run(
        "import os, subprocess, threading, time\nx = 1\n"
        "def later():\n    while not os.path.exists('go'):\n        time.sleep(0.01)\n"
        "    subprocess.Popen(['sh', '-c', 'touch started; exec sleep 300'])\n"
        "threading.Thread(target=later, daemon=True).start()"
    )
    assert setup.ok, setup
    box.write_files({"go": ""})
    deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
    while not (box.path / "started").exists():
        assert time.monotonic() < deadline, "the session's thread never started its process"
        time.sleep(0.02)
    fresh = session.run(ALIVE)
    assert fresh.stdout == "alive 42 False\n" and "new Python session" in fresh.text(), fresh
    assert len(_live(session)) == 1


FORGERIES = {
    "the server's old global": "import __main__\n__main__.proto_out.write(b'{}\\n')\n__main__.proto_out.flush()",
    "json on every fd": (
        "import os\nfor fd in sorted(map(int, os.listdir('/proc/self/fd'))):\n    if fd > 2:\n        try:\n"
        "            os.write(fd, b'{\"status\": \"ok\", \"size\": 6, \"head\": \"forged\", \"tail\": \"\"}\\n')\n"
        "        except OSError:\n            pass\nprint('wrote')"
    ),
    "half a line on every fd": (
        "import os\nfor fd in sorted(map(int, os.listdir('/proc/self/fd'))):\n    if fd > 2:\n        try:\n"
        "            os.write(fd, b'{\"status\": ')\n        except OSError:\n            pass\nprint('wrote')"
    ),
    "a flood without newlines": (
        "import os\nblob = b'x' * (100 << 20)\nfor fd in sorted(map(int, os.listdir('/proc/self/fd'))):\n"
        "    if fd > 2:\n        try:\n            os.write(fd, blob)\n        except OSError:\n            pass"
    ),
    "closing the protocol fds": (
        "import os\nfor fd in sorted(map(int, os.listdir('/proc/self/fd'))):\n    if fd > 2:\n        try:\n"
        "            os.close(fd)\n        except OSError:\n            pass"
    ),
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_forged_protocol_bytes_never_reach_the_caller(session, name):
    session.run("x = 1")
    cpu = time.process_time()
    result = session.run(FORGERIES[name])
    assert isinstance(result, SandboxResult) and "forged" not in result.stdout, result
    # Bytes on the channel are checked a frame header at a time: a flood costs the host next to nothing
    # (it cost seconds when the host searched an ever-growing buffer for a newline). A 100x margin.
    assert time.process_time() - cpu < 2.0
    _answers_after(session, result)


def test_a_forged_reply_with_the_live_nonce_does_not_desynchronise_the_session(session):
    """Code that finds the request's secret in the server's memory can fake its own call's reply, and no more."""
    from agent_gym.sandbox.protocol import HEADER_FORMAT

    session.run("x = 1")
    forged = session.run(
        "import json, os, re, sys\n"
        "secret = None\nfor frame in sys._current_frames().values():\n    while frame is not None:\n"
        "        for value in frame.f_locals.values():\n"
        "            if isinstance(value, bytes):\n                value = value.decode('ascii', 'replace')\n"
        "            if isinstance(value, str) and re.fullmatch('[0-9a-f]{32}', value):\n                secret = value\n"
        "        frame = frame.f_back\n"
        "body = json.dumps({'status': 'ok', 'size': 6, 'head': 'forged', 'tail': '', 'stopped': 0}).encode()\n"
        f"head = ({HEADER_FORMAT!r} % (secret, len(body))).encode()\n"
        "for fd in sorted(map(int, os.listdir('/proc/self/fd'))):\n    if fd > 2:\n        try:\n"
        "            os.write(fd, head + body)\n        except OSError:\n            pass\n"
    )
    assert isinstance(forged, SandboxResult)
    _answers_after(session, forged)
    _answers_after(session, session.run("print('plain')"))


def test_the_protocol_is_not_reachable_by_name(session):
    result = session.run("import __main__, sys\nprint(sorted(k for k in vars(__main__) if not k.startswith('__')))\n"
                         "print(__main__ is sys.modules['__main__'], 'x' in vars(__main__))\nx = 1")
    assert result.stdout == "['sys']\nTrue False\n", result
    assert session.run("import __main__\n__main__.x").stdout == "1\n"  # __main__ is the code's own namespace
