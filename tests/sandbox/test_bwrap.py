"""What the sandbox is started with and what it shows of the host: interpreter paths, mounts, names."""

import os
import re
import sys

import pytest

from agent_gym.sandbox.box import Sandbox, SandboxLimits

FAST = SandboxLimits(timeout=10, cpu_seconds=5, memory_mb=512, max_output_bytes=20_000)


@pytest.mark.parametrize("form", ["relative", "dotted"])
def test_an_interpreter_given_by_a_relative_or_dotted_path_runs(tmp_path, monkeypatch, form):
    elsewhere = tmp_path / "elsewhere"  # exists on the host, not in the sandbox (its /tmp is private)
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    python = (os.path.relpath(sys.executable) if form == "relative"
              else f"{elsewhere}/../{os.path.relpath(sys.executable, tmp_path)}")
    with Sandbox(FAST, python=python) as box:
        assert os.path.isabs(box.python)
        one_shot = box.run_python("print(6 * 7)")
        assert one_shot.stdout == "42\n", one_shot
        assert box.python_session().run("6 * 7").stdout == "42\n"


def test_the_host_pid_is_in_no_path_the_sandbox_sees():
    with Sandbox(FAST) as box:
        shown = box.run("cat /proc/self/mountinfo; echo; tr '\\0' '\\n' < /proc/1/cmdline").stdout
    paths = [word for word in shown.split() if "/" in word]
    assert any(path.endswith("/workspace") for path in paths)  # what is read is really the mount table
    tokens = {token for path in paths for token in re.split(r"[/._-]+", path)}
    assert str(os.getpid()) not in tokens, [path for path in paths if str(os.getpid()) in path]
