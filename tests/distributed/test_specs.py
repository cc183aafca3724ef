"""Specs and executors without a cluster: specs build what they name and pickle; the in-process executor
plays the same episodes from specs as from objects; `import agent_gym` never imports Ray; a missing Ray
says how to install it."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from agent_gym.distributed import EnvSpec, InProcessExecutor, PolicySpec, as_executor
from agent_gym.envs.calculator import CalculatorEnv, CalculatorExpert, make_tasks
from agent_gym.errors import ConfigError
from agent_gym.runner import run_rollouts

CALCULATOR = EnvSpec("calculator")
EXPERT = PolicySpec("agent_gym.envs.calculator:CalculatorExpert")


def test_specs_build_what_they_name_and_survive_pickling():
    env, policy = pickle.loads(pickle.dumps(CALCULATOR)).build(), pickle.loads(pickle.dumps(EXPERT)).build()
    assert isinstance(env, CalculatorEnv) and isinstance(policy, CalculatorExpert)
    scripted = PolicySpec("agent_gym.policies.scripted:ScriptedPolicy", {"script": ["hi"], "name": "s"}).build()
    assert scripted.name == "s"
    with pytest.raises(ConfigError, match="not a Policy"):
        PolicySpec("agent_gym.envs.calculator:CalculatorEnv").build()
    with pytest.raises(ConfigError, match="Could not build policy"):
        PolicySpec("agent_gym.envs.calculator:CalculatorExpert", {"colour": "red"}).build()
    with pytest.raises(ConfigError, match="Unknown environment 'calculater'.*'calculator'"):
        EnvSpec("calculater").build()


def test_a_run_from_specs_is_the_run_from_objects(tmp_path):
    tasks = make_tasks(4)
    from_objects = run_rollouts(CalculatorEnv(), CalculatorExpert(), tasks, n=2, seed=3, progress=False)
    from_specs = run_rollouts(CALCULATOR, EXPERT, tasks, n=2, seed=3, progress=False, store=tmp_path / "s.jsonl",
                              executor=InProcessExecutor())
    assert [t.job_key for t in from_specs] == [t.job_key for t in from_objects]
    assert [t.messages for t in from_specs] == [t.messages for t in from_objects]
    again = run_rollouts(CALCULATOR, EXPERT, tasks, n=2, seed=3, progress=False, store=tmp_path / "s.jsonl")
    assert again.reused == 8 and again.ran == 0


def test_as_executor_refuses_what_is_not_one():
    assert isinstance(as_executor(None), InProcessExecutor)
    with pytest.raises(ConfigError, match="Ray address such as 'auto'"):
        as_executor(42)  # type: ignore[arg-type]


def test_importing_agent_gym_never_imports_ray_and_a_missing_ray_says_how_to_install_it():
    code = """
import sys
import agent_gym, agent_gym.distributed, agent_gym.runner, agent_gym.cli.evaluate
assert "ray" not in sys.modules, "ray was imported"
sys.modules["ray"] = None  # as if Ray were not installed
from agent_gym.distributed import RayExecutor
try:
    RayExecutor("auto")
except ImportError as exc:
    print(exc)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "pip install 'agent-gym[distributed]'" in done.stdout
