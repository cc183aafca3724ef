"""The golden runs recorded before the layout change (`golden_record.py`), played again by today's code:
identical, apart from the fields listed here that a change adds on purpose."""

from __future__ import annotations

import json

import pytest
from golden_record import EPISODES, _experts, available, expert_run, grpo_run, path_of

ADDED_ON_PURPOSE: set[str] = {
    "task", "tools", "environment", "policy_info", "tokens", "replay_key", "schema_version",
    "job_key",  # the fingerprint now hashes the task's content, the reward identity and the turn limit
}
"""Trajectory fields that later changes add (or redefine) on purpose; left out of the comparison. Added by
the engine/record change: the complete record (task, tools offered, identities, tokens) and schema 2."""

OUTCOME_ONLY = {"scienceworld"}
"""Environments whose expert's path varies between two runs of the same code (ScienceWorld's simulator
is not seeded by its variation alone): only the outcome of each episode is compared."""
OUTCOME = ("task_id", "sample_index", "reward", "success", "terminated", "truncated", "error")


def without_added(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ADDED_ON_PURPOSE} for r in records]


def comparable(records: list[dict]) -> list[dict]:
    """Both sides without the fields added or redefined on purpose."""
    return without_added(records)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(_experts()))
def test_every_builtin_environment_plays_its_golden_episodes(name):
    if not available(name):
        pytest.skip(f"{name} cannot run on this machine")
    golden = json.loads(path_of(name).read_text())
    now = expert_run(name)
    assert len(golden) == len(now) and 0 < len(now) <= EPISODES  # TextWorld ships 15 tasks
    if name in OUTCOME_ONLY:
        assert [[r[k] for k in OUTCOME] for r in now] == [[r[k] for k in OUTCOME] for r in golden]
    else:
        for before, after in zip(comparable(golden), comparable(now), strict=True):
            assert after == before, f"{name}: task {before['task_id']} differs"


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.timeout(900)
def test_three_grpo_steps_generate_and_mask_the_golden_tokens(model_dir):
    golden = json.loads(path_of("grpo").read_text())
    now = grpo_run()
    assert len(now["steps"]) == len(golden["steps"]) == 3
    for step, (before, after) in enumerate(zip(golden["steps"], now["steps"], strict=True), start=1):
        for field in ("completion_ids", "env_mask", "rewards", "success"):
            assert after[field] == before[field], f"step {step}: {field} differs"
    assert now["losses"] == pytest.approx(golden["losses"], abs=1e-6)
