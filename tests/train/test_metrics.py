"""The per-step metrics file and the figures that follow it."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

from agent_gym.train import MetricsLogger, read_metrics
from agent_gym.widgets import LiveMetrics
from agent_gym.widgets.plots import metrics_figure


def test_metrics_logger_writes_one_line_per_log_and_figures_follow_the_file(tmp_path):
    path = tmp_path / "run" / "metrics.jsonl"
    live = LiveMetrics(path)
    logger = MetricsLogger(path, extra={"run": "r1"}, live=live)
    state = SimpleNamespace(global_step=1, is_world_process_zero=True)
    logger.on_log(None, state, None, logs={"loss": 0.5, "reward": 0.25, "env/horizon": 3.0, "kl": math.nan})
    state.global_step = 2
    logger.on_log(None, state, None, logs={"loss": 0.4, "reward": 0.5, "env/horizon": 5.0, "frac_reward_zero_std": 0.5})
    logger.on_step_end(None, state, None)  # every other callback event is a no-op
    logger.on_log(None, SimpleNamespace(global_step=3, is_world_process_zero=False), None, logs={"loss": 1.0})

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2] and lines[0]["run"] == "r1" and lines[0]["kl"] is None
    frame = read_metrics(path)
    assert frame["env/horizon"].tolist() == [3.0, 5.0]
    figure = metrics_figure(path)
    reward = next(t for t in figure.data if t.name == "reward")
    assert list(reward.x) == [1, 2] and list(reward.y) == [0.25, 0.5]
    live_reward = next(t for t in live.widget.data if t.name == "reward")
    assert list(live_reward.y) == [0.25, 0.5]  # refreshed on every log
    assert read_metrics(tmp_path / "missing.jsonl").empty
