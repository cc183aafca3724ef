"""`agent-gym eval` as a CI step: exit codes that fail when they should, a dead server found at once,
errors that name CLI flags; and `agent-gym compare` / `agent-gym rescore` on real stores."""

from __future__ import annotations

import json
import re
import socket
import textwrap
import time

import pytest

from agent_gym import TrajectoryStore
from agent_gym.cli.commands import build_parser, main
from agent_gym.testing.scripted_server import serve_scripted

EXPERT = "agent_gym.envs.calculator:CalculatorExpert"
POLICIES = '''
from agent_gym import PolicyOutput, assistant
from agent_gym.errors import PolicyError
from agent_gym.types import Usage


class AlwaysFails:
    name, model, sampling = "fails", None, {}

    async def act(self, messages, tools, *, seed=None):
        raise PolicyError("the model fell over")


class AnswersZero:
    name, model, sampling = "zero", None, {}

    async def act(self, messages, tools, *, seed=None):
        return PolicyOutput(assistant("0"), Usage(calls=1))
'''
REWARDS = '''
def half(task, messages):
    return 0.5
'''


@pytest.fixture
def modules(tmp_path, monkeypatch):
    (tmp_path / "ci_policies.py").write_text(textwrap.dedent(POLICIES))
    (tmp_path / "ci_rewards.py").write_text(textwrap.dedent(REWARDS))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dead_model_server_exits_1_at_once_naming_it(tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}/v1"
    started = time.monotonic()
    code = main(["eval", "calculator", "--model", "m", "--base-url", url, "--limit", "3", "--out", str(tmp_path / "r.jsonl")])
    err = capsys.readouterr().err
    assert code == 1 and time.monotonic() - started < 60  # a hang guard: no episode retried for seconds
    assert f"Nothing answers at {url}" in err and "'m'" in err and "--base-url" in err
    assert not (tmp_path / "r.jsonl").exists() or TrajectoryStore(tmp_path / "r.jsonl").read() == []


def test_an_unknown_model_exits_1_with_close_matches(tmp_path, capsys):
    with serve_scripted(model="qwen3-8b") as server:
        code = main(["eval", "calculator", "--model", "qwen3-8", "--base-url", server.base_url, "--limit", "1",
                     "--out", str(tmp_path / "r.jsonl")])
    err = capsys.readouterr().err
    assert code == 1 and "does not serve model 'qwen3-8'" in err and "Did you mean 'qwen3-8b'" in err


def test_a_healthy_run_exits_0_and_its_summary_names_everything(tmp_path, capsys):
    out = tmp_path / "run.jsonl"
    with serve_scripted() as server:
        code = main(["eval", "calculator", "--model", "scripted", "--base-url", server.base_url, "--limit", "4",
                     "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "calculator · policy openai · model scripted" in printed and str(out) in printed
    assert "ran 4" in printed and re.search(r"success  \d\.\d{3}  \[\d\.\d{3}, \d\.\d{3}\]  \(\d/4\)", printed)
    assert f"agent-gym report {out}" in printed
    assert "episodes 4  (4 tasks" in printed and "errors   0  rate" in printed  # counts print as integers


def test_errors_above_the_allowed_rate_exit_1(modules, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    argv = ["eval", "calculator", "--policy", "ci_policies:AlwaysFails", "--limit", "2", "--out", str(out)]
    assert main(argv) == 1
    assert "2 of 2 episodes failed with an error" in capsys.readouterr().err
    assert main([*argv, "--max-error-rate", "1"]) == 0  # allowed: the same store, retried, still failing
    summary_argv = [*argv, "--max-error-rate", "0.5", "--json"]
    assert main(summary_argv) == 1
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["errors"] == 2 and summary["passed"] is False and summary["stats"]["episodes"] == 2


def test_success_below_the_minimum_exits_1(modules, tmp_path, capsys):
    zero = ["eval", "calculator", "--policy", "ci_policies:AnswersZero", "--limit", "3", "--out", str(tmp_path / "z.jsonl")]
    assert main(zero) == 0  # no minimum by default
    assert main([*zero, "--min-success", "0.5"]) == 1
    assert "success rate 0.000 is below --min-success 0.5" in capsys.readouterr().err
    expert = ["eval", "calculator", "--policy", EXPERT, "--limit", "3", "--out", str(tmp_path / "e.jsonl")]
    assert main([*expert, "--min-success", "1"]) == 0


@pytest.mark.parametrize("argv, fragment", [
    (["eval", "calculater", "--model", "m"], "Did you mean 'calculator'"),
    (["eval", "calculator", "--model", "gpt-x"], "pass --api-key KEY or set $OPENAI_API_KEY"),
    (["eval", "calculator", "--policy", EXPERT, "--min-success", "2"], "--min-success is a fraction"),
    (["rescore", "missing.jsonl", "--reward", "ci_rewards:half"], "No trajectory store at missing.jsonl"),
    (["rescore", "x.jsonl"], "--reward package.module:function"),
    (["compare", "a.jsonl", "b.jsonl"], "No trajectory store at a.jsonl"),
])
def test_bad_invocations_exit_2_naming_the_flag(argv, fragment, capsys, monkeypatch, modules):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(modules)
    assert main(argv) == 2
    assert fragment in capsys.readouterr().err


def test_every_flag_has_help():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name in ("eval", "compare", "rescore", "run"):
        for action in commands[name]._actions:
            assert action.help, f"agent-gym {name} {'/'.join(action.option_strings) or action.dest} has no help"


def test_compare_prints_the_paired_statistics_and_flipped_tasks(modules, tmp_path, capsys):
    a, b = tmp_path / "zero.jsonl", tmp_path / "expert.jsonl"
    assert main(["eval", "calculator", "--policy", "ci_policies:AnswersZero", "--limit", "6", "--out", str(a)]) == 0
    assert main(["eval", "calculator", "--policy", EXPERT, "--limit", "5", "--out", str(b)]) == 0
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["gained"]) == 5 and result["lost"] == [] and len(result["only_in_a"]) == 1
    assert main(["compare", str(a), str(b)]) == 0
    text = capsys.readouterr().out
    assert "gained" in text and "zero" in text and "expert" in text


def test_rescore_writes_a_new_store_and_leaves_the_source_alone(modules, tmp_path, capsys):
    source = tmp_path / "expert.jsonl"
    assert main(["eval", "calculator", "--policy", EXPERT, "--limit", "3", "--out", str(source)]) == 0
    before = source.read_bytes()
    out = tmp_path / "half.jsonl"
    assert main(["rescore", str(source), "--reward", "ci_rewards:half", "--out", str(out)]) == 0
    assert source.read_bytes() == before
    records = TrajectoryStore(out).read()
    assert len(records) == 3 and {t.reward for t in records} == {0.5} and {t.success for t in records} == {False}
    origin = records[0].metadata["rescored"]
    assert origin["from_store"] == str(source) and origin["reward"] == "ci_rewards:half" and origin["previous_reward"] == 1.1
    assert main(["rescore", str(source), "--reward", "ci_rewards:half", "--out", str(out)]) == 2  # no silent append
    assert main(["rescore", str(source), "--reward", "ci_rewards:half", "--out", str(source)]) == 2
    assert "not to" in capsys.readouterr().err
