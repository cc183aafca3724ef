"""Multi-process training that really runs: `accelerate launch --multi_gpu --num_processes 2` on this CPU
machine (torchrun, two processes, gloo) of the documented entry point `python -m agent_gym.train`.

GRPO: each process plays its slice of every batch; the episodes of one rank last 1 turn and the other's 3
(`turns_env.TurnsEnv`), so the short rank must keep joining the long rank's generation calls (no hang, the
same number of calls on both); the main process writes the one store and the one metrics file.
SFT: the batches are split across the processes (one epoch of 4 examples in 2 steps of 1 per process),
synthesis writes its ledger once, the main process writes the metrics file and the model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from agent_gym import TrajectoryStore
from agent_gym.tasks import save_tasks

pytestmark = [pytest.mark.slow, pytest.mark.model]
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LAUNCH = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
          "-m", "agent_gym.train"]


def launch(args: list[str], out: Path, timeout: float) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TRL_EXPERIMENTAL_SILENCE": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with socket.socket() as probe:  # a free port for torchrun's rendezvous (tests may run side by side)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [*LAUNCH[:3], "--main_process_port", str(port), *LAUNCH[3:], *args, "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


def metric_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.timeout(300)
def test_two_process_grpo_plays_slices_in_lock_step_and_writes_one_store(model_dir, tmp_path):
    from turns_env import turn_tasks

    save_tasks(turn_tasks((1, 3)), tmp_path / "tasks.jsonl")
    out = tmp_path / "grpo"
    stdout = launch(["grpo", "--env", "turns_env:TurnsEnv", "--tasks", str(tmp_path / "tasks.jsonl"), "--model",
                     str(model_dir), "--horizon", "3", "--max-turn-tokens", "16", "--set", "max_steps=2", "--set",
                     "num_generations=2", "--set", "per_device_train_batch_size=2", "--set",
                     "gradient_accumulation_steps=1", "--set", "max_completion_length=160", "--set", "seed=0"],
                    out, timeout=280)
    assert stdout.count('"output_dir"') == 2  # both processes finished

    episodes = TrajectoryStore(out / "trajectories.jsonl").read()
    assert len(episodes) == 8 and len({t.id for t in episodes}) == 8  # 2 steps x 2 ranks x 1 group of 2, once each
    meta = [t.metadata["grpo"] for t in episodes]
    assert {m["run"] for m in meta} == {meta[0]["run"]}  # one run id across ranks
    for call in (0, 1):
        batch = [(t, m) for t, m in zip(episodes, meta, strict=True) if m["call"] == call]
        assert sorted(m["rank"] for _, m in batch) == [0, 0, 1, 1]
        turns = {m["rank"]: {t.num_turns for t, mm in batch if mm["rank"] == m["rank"]} for _, m in batch}
        assert sorted(map(frozenset, turns.values()), key=min) == [{1}, {3}]  # one rank's episodes end early
        assert len({m["generate_calls"] for _, m in batch}) == 1  # ... yet both made the same calls
        short = min(turns, key=lambda r: min(turns[r]))
        assert {m["padding_calls"] for _, m in batch if m["rank"] == short} == {2}  # joined the other's turns 2 and 3
        assert {m["padding_calls"] for _, m in batch if m["rank"] != short} == {0}

    lines = metric_lines(out / "metrics.jsonl")
    steps = [line for line in lines if "loss" in line]
    assert [line["step"] for line in steps] == [1, 2] and len(lines) == 3  # one writer: 2 steps + the summary
    assert all(line["env/turns"] == 2.0 for line in steps)  # the mean over both ranks' episodes (1 and 3)
    # token drift, logged per step over the whole batch (both ranks' episodes): what check_drift says of that
    # step's episodes in the one store (sampling may pick a tokenization re-encoding does not give back)
    from agent_gym.train import drift_metrics, trl_tokenizer

    tokenizer = trl_tokenizer(str(model_dir))
    for line, call in zip(steps, (0, 1), strict=True):
        expected = drift_metrics([t for t, m in zip(episodes, meta, strict=True) if m["call"] == call], tokenizer)
        assert {k: line[k] for k in expected} == expected
        assert line["drift/episodes"] == line["drift/retokenized"]  # the template renders every turn as played
    assert (out / "adapter_model.safetensors").is_file()


@pytest.mark.timeout(200)
def test_two_process_sft_splits_batches_and_writes_once(model_dir, tmp_path):
    out = tmp_path / "sft"
    stdout = launch(["sft", "--env", "calculator", "--expert", "agent_gym.envs.calculator:CalculatorExpert",
                     "--limit", "4", "--model", str(model_dir), "--set", "max_steps=2", "--set",
                     "per_device_train_batch_size=1", "--set", "gradient_accumulation_steps=1", "--set",
                     "max_length=384"], out, timeout=180)
    results = [json.loads(line) for line in stdout.splitlines() if line.startswith('{"')]
    assert len(results) == 2 and results[0]["train_loss"] == results[1]["train_loss"]  # the loss is the global one
    assert results[0]["epoch"] == 1.0  # 4 examples in 2 steps of 1 per process: each process took its half

    assert len(TrajectoryStore(out / "data" / "trajectories.jsonl").read()) == 4  # synthesized once, then reused
    lines = metric_lines(out / "metrics.jsonl")
    assert [line["step"] for line in lines if "loss" in line] == [1, 2] and len(lines) == 3
    assert (out / "model" / "model.safetensors").is_file() and (out / "adapter").is_dir()
