"""Where the project's shipped data lives: `data/` of a checkout, or `agent_gym/data` in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir() -> Path:
    """The folder holding task files, samples and fixtures (`data/` at the top of the project)."""
    for candidate in (_PACKAGE / "data", _PACKAGE.parent / "data"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"agent_gym's data folder is missing: looked in {_PACKAGE / 'data'} and {_PACKAGE.parent / 'data'}.")
