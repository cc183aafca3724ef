"""Experiment tracking: a real SFT run of the embedded model reports to trackio (TRL's `report_to="trackio"`)
and to the project's metrics file, offline: trackio writes to a temporary TRACKIO_DIR, no socket leaves
loopback and none listens (no dashboard or gradio server). Runs in a fresh interpreter, because trackio
reads TRACKIO_DIR when it is imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from agent_gym.errors import ConfigError
from agent_gym.train.tracking import trackio_settings

pytest.importorskip("trackio")

SCRIPT = textwrap.dedent('''
    import json, socket, sys
    attempts = []
    connect, listen = socket.socket.connect, socket.socket.listen

    def guarded_connect(self, address):
        host = address[0] if isinstance(address, tuple) else str(address)
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
            attempts.append(f"connect {address}")
            raise OSError("network disabled in this test")
        return connect(self, address)

    def guarded_listen(self, *args):
        attempts.append(f"listen {self.getsockname()}")
        return listen(self, *args)

    socket.socket.connect, socket.socket.listen = guarded_connect, guarded_listen

    from agent_gym.envs.calculator import CalculatorEnv, CalculatorExpert, make_tasks
    from agent_gym.synth import synthesize
    from agent_gym.train import sft, sft_config, lora_config
    from agent_gym.train.tracking import trackio_logs, trackio_settings

    out, tracking_dir, model = sys.argv[1:4]
    data = synthesize(CalculatorEnv(), CalculatorExpert(), make_tasks(2), out=out + "/data", progress=False)
    config = sft_config(out, max_steps=2, per_device_train_batch_size=1, gradient_accumulation_steps=1,
                        max_length=384, **trackio_settings("agent-gym-test", run_name="sft-2", directory=tracking_dir))
    run = sft(data, model, config, peft_config=lora_config(r=4))
    import trackio
    logs = trackio_logs("agent-gym-test", "sft-2")
    print(json.dumps({"logs": logs, "attempts": attempts, "metrics": str(run.metrics_path),
                      "dir": str(trackio.utils.TRACKIO_DIR)}, default=str))
''')


def test_settings_are_local_only(tmp_path):
    settings = trackio_settings("p", run_name="r")
    assert settings == {"report_to": ["trackio"], "project": "p", "trackio_space_id": None,
                        "trackio_static_space_id": False, "run_name": "r"}
    if "trackio" in sys.modules:  # another test imported it: a different directory is refused, with the fix
        with pytest.raises(ConfigError, match="TRACKIO_DIR"):
            trackio_settings("p", directory=tmp_path / "elsewhere")


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.timeout(200)
def test_an_sft_run_reports_to_trackio_offline(model_dir, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKIO_", "SPACE_"))}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "2",
                "GRADIO_ANALYTICS_ENABLED": "False", "TRL_EXPERIMENTAL_SILENCE": "1"})
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "sft"), str(tmp_path / "trackio"),
                           str(model_dir)], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["attempts"] == []  # nothing tried the network, nothing listened
    assert result["dir"] == str(tmp_path / "trackio") and list((tmp_path / "trackio").glob("*.db"))
    tracked = [row for row in result["logs"] if "train/loss" in row]
    ours = [json.loads(line) for line in open(result["metrics"]) if '"loss"' in line]
    assert [row["train/global_step"] for row in tracked] == [line["step"] for line in ours] == [1, 2]
    assert [row["train/loss"] for row in tracked] == pytest.approx([line["loss"] for line in ours])
