"""Experiment tracking with trackio (local-first), besides the project's own metrics file.

    config = grpo_config("runs/grpo", **trackio_settings("agent-gym", run_name="textcraft-grpo"))
    grpo(env, model, tasks, config)       # metrics.jsonl as always, and a trackio run
    trackio_logs("agent-gym", "textcraft-grpo")   # the logged steps, read back from trackio's local database
    # the dashboard, when you want it:  trackio show --project agent-gym

TRL reports through transformers' `TrackioCallback` (`report_to="trackio"`). With no Space id, trackio writes
only to a local SQLite database under `TRACKIO_DIR` (default `~/.cache/huggingface/trackio`) and starts no
server; `trackio_settings` also turns off the post-training static Space (`trackio_static_space_id=False`),
the one step that would upload. Set `directory=` (or `TRACKIO_DIR`) before trackio is first imported.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from agent_gym.errors import ConfigError


def trackio_settings(project: str, *, run_name: str | None = None,
                     directory: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """`GRPOConfig`/`SFTConfig` fields that report every trainer log to a local trackio project.

    Args:
        project: The trackio project (one SQLite file per project).
        run_name: The run's name (default: trackio picks one).
        directory: Where trackio keeps its files; sets `TRACKIO_DIR` (it must be set before trackio is imported).
    """
    if directory is not None:
        wanted = Path(directory).expanduser().resolve()
        if "trackio" in sys.modules:
            current = Path(sys.modules["trackio.utils"].TRACKIO_DIR).resolve()
            if current != wanted:
                raise ConfigError(f"trackio is already imported and writes to {current}; set TRACKIO_DIR={wanted} "
                                  "before importing trackio (or restart the kernel).")
        os.environ["TRACKIO_DIR"] = str(wanted)
    settings: dict[str, Any] = {"report_to": ["trackio"], "project": project, "trackio_space_id": None,
                                "trackio_static_space_id": False}
    if run_name is not None:
        settings["run_name"] = run_name
    return settings


def trackio_logs(project: str, run: str | None = None) -> list[dict[str, Any]]:
    """The metrics trackio stored for `project` (one dict per logged step), from its local database."""
    from trackio.sqlite_storage import SQLiteStorage

    if project not in SQLiteStorage.get_projects():
        raise ConfigError(f"trackio has no project {project!r} under {SQLiteStorage.get_project_db_path(project).parent}"
                          "; is TRACKIO_DIR the directory the run wrote to?")
    return SQLiteStorage.get_logs(project, run)
