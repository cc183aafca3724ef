import json
import subprocess
import sys

import pytest

from agent_gym import TrajectoryStore, save_tasks
from agent_gym.cli.commands import main
from agent_gym.envs import make_env
from agent_gym.envs.calculator import make_tasks
from agent_gym.errors import ConfigError
from agent_gym.testing.scripted_server import serve_scripted

EXPERT = "agent_gym.envs.calculator:CalculatorExpert"


def test_eval_with_an_expert_prints_a_summary_and_writes_the_store(tmp_path, capsys):
    out = tmp_path / "run.jsonl"
    assert main(["eval", "calculator", "--policy", EXPERT, "--limit", "5", "-n", "2", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["episodes"] == 10 and summary["success_rate"] == 1.0 and summary["errors"] == 0
    assert len(TrajectoryStore(out)) == 10
    assert main(["eval", "calculator", "--policy", EXPERT, "--limit", "5", "-n", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "reused 10, ran 0, retried 0, rescored 0" in printed.out
    assert len(TrajectoryStore(out)) == 10


def test_eval_against_a_server_by_task_file_and_id(tmp_path, capsys):
    tasks = save_tasks(make_tasks(6), tmp_path / "tasks.jsonl")
    out = tmp_path / "run.jsonl"
    with serve_scripted() as server:
        code = main(["eval", "agent_gym.envs.calculator:CalculatorEnv", "--tasks", str(tasks), "--task-id", "calc-002",
                     "--model", "scripted", "--base-url", server.base_url, "--out", str(out), "--json"])
    assert code == 0
    [t] = TrajectoryStore(out).read()
    assert t.task_id == "calc-002" and t.policy == "openai" and t.error is None
    assert t.messages[2].tool_calls[0].name == "calculate"


@pytest.mark.parametrize(
    "argv, fragment",
    [(["eval", "nope", "--model", "m"], "Unknown environment 'nope'"),
     (["eval", "calculator"], "Say which model"),
     (["eval", "calculator", "--policy", EXPERT, "--task-id", "zzz"], "No task with id"),
     (["eval", "collections:OrderedDict", "--model", "m"], "not an agent_gym Environment"),
     (["eval", "os.path:join", "--model", "m"], "Could not build environment")],
)
def test_bad_invocations_exit_2_with_advice(argv, fragment, capsys):
    assert main(argv) == 2
    assert fragment in capsys.readouterr().err


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "agent_gym.cli.commands", "--help"], capture_output=True, text=True, check=True)
    assert "eval" in result.stdout and "run" in result.stdout


def test_make_env_rejects_non_environments():
    with pytest.raises(ConfigError, match="no attribute"):
        make_env("agent_gym.envs:Missing")
    with pytest.raises(ConfigError, match="Cannot import"):
        make_env("no_such_module_xyz:Env")


@pytest.mark.parametrize("name", ["calculator", "shell", "python_code", "math_python", "babyai", "textcraft"])
def test_every_builtin_env_is_addressable_by_name(name):
    env = make_env(name)
    assert env.name and env.default_tasks()
