"""Files and directories: the job directory's size and file count are bounded, at any depth, during a call too."""

import pytest

from agent_gym import ConfigError
from agent_gym.sandbox.box import Sandbox, SandboxLimits


def few_files() -> SandboxLimits:
    """At most 1,000 files (a function, so that the module imports where `max_files` is unknown)."""
    return SandboxLimits(timeout=30, cpu_seconds=20, memory_mb=512, max_processes=32, max_output_bytes=2000,
                         output_kill_bytes=200_000, tmp_mb=8, disk_mb=64, max_files=1000)

ENDLESS_FILES = "import time\nfor i in range(30000):\n    open(f'{}/f{{i}}', 'w').close()\ntime.sleep(60)"


def test_max_files_is_validated():
    with pytest.raises(ConfigError, match="max_files must be positive"):
        SandboxLimits(max_files=0)


def test_a_call_making_files_without_end_is_stopped_and_the_directory_emptied():
    with Sandbox(few_files()) as box:
        result = box.run_python(ENDLESS_FILES.format("."))
        assert not result.timed_out and result.killed and "1,000 files" in result.killed, result
        assert "emptied" in result.text() and list(box.path.iterdir()) == []
        assert box.run("echo ok").stdout == "ok\n"


def test_a_session_call_making_files_without_end_is_stopped_and_the_directory_emptied():
    with Sandbox(few_files()) as box:
        session = box.python_session()
        session.run("x = 1")
        result = session.run(ENDLESS_FILES.format("."))
        assert not result.timed_out and result.killed and "1,000 files" in result.killed, result
        assert "emptied" in result.text() and list(box.path.iterdir()) == []
        fresh = session.run("'x' in globals()")
        assert fresh.stdout == "False\n" and "new Python session" in fresh.text()


def test_files_in_the_private_tmp_are_counted_too():
    with Sandbox(few_files()) as box:
        result = box.run_python(ENDLESS_FILES.format("/tmp"))
        assert not result.timed_out and result.killed and "/tmp" in result.killed, result
        session = box.python_session()
        session.run("import os\nfor i in range(1500):\n    open(f'/tmp/f{i}', 'w').close()")
        assert "new Python session" in session.run("1").text()  # the session (and its /tmp) was replaced


def test_a_quick_burst_of_files_is_caught_after_the_call():
    with Sandbox(few_files()) as box:
        result = box.run("mkdir -p a/b && cd a/b && seq 1 1500 | xargs touch && echo made")
        assert "1,000 files" in result.text() and "emptied" in result.text(), result
        assert list(box.path.iterdir()) == []


def test_directory_blocks_count_toward_the_disk_limit():
    limits = SandboxLimits(disk_mb=16, timeout=30)
    with Sandbox(limits) as box:
        result = box.run_python("import os\nfor _ in range(6000):\n    os.mkdir('d')\n    os.chdir('d')\nprint('deep')")
        assert "16 MB" in result.text() and "emptied" in result.text(), result
        assert list(box.path.iterdir()) == []


def test_a_tree_deeper_than_path_max_is_measured_and_removed():
    from agent_gym.sandbox.disk import measure

    with Sandbox(SandboxLimits(timeout=30)) as box:
        made = box.run_python("import os\nfor _ in range(3000):\n    os.mkdir('dd')\n    os.chdir('dd')\n"
                              "open('leaf', 'w').write('x' * 5000)\nprint('made')")
        assert made.ok and made.stdout == "made\n" and made.notes == (), made
        usage = measure(box.path, max_bytes=1 << 40, max_entries=10**6)
        assert usage.entries == 3001 and usage.complete
        assert box.run("true").ok
        job = box.path.parent
    assert not job.exists()


def test_measure_stops_at_the_limit_and_empty_dir_never_follows_links(tmp_path):
    from agent_gym.sandbox.disk import empty_dir, measure

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    for i in range(50):
        (tree / "a" / f"f{i}").write_text("x")
    (tree / "a" / "b" / "link").symlink_to(outside)
    (tree / "dirlink").symlink_to(outside, target_is_directory=True)
    assert measure(tree, max_bytes=1 << 40, max_entries=10).entries == 11  # it stops one past the limit
    full = measure(tree, max_bytes=1 << 40, max_entries=1000)
    assert full.entries == 54 and full.complete and full.bytes > 0  # a, a/b, 50 files, 2 links
    empty_dir(tree)
    assert list(tree.iterdir()) == [] and (outside / "keep.txt").read_text() == "keep"


def test_only_the_private_tmp_is_counted_as_the_private_tmp():
    """While bwrap sets up or tears down, /proc/<init>/root/tmp is the host's /tmp for a moment."""
    from agent_gym.sandbox.disk import tmpfs_files

    assert tmpfs_files("/", 64 << 20) is None and tmpfs_files("/no/such/dir", 64 << 20) is None
    with Sandbox(SandboxLimits(tmp_mb=8)) as box:
        session = box.python_session()
        session.run("for i in range(5):\n    open(f'/tmp/f{i}', 'w').close()")
        counted = tmpfs_files(session._tmp_path(), 8 << 20)
        # the five files, plus the session's own short-lived files (its output, a reply being written)
        assert counted is not None and 5 <= counted <= 10, counted
