"""Where the project's shipped files live: the top of a checkout (`data/`, `configs/`), or inside the
package of an installed wheel (`agent_gym/data`, `agent_gym/configs`; pyproject's force-include copies
them there at build time, so the checkout's folders stay the one copy)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir() -> Path:
    """The folder holding task files, samples and fixtures (`data/` at the top of the project)."""
    return _shipped("data")


def configs_dir() -> Path:
    """The accelerate / DeepSpeed configs (`configs/` at the top of the project)."""
    return _shipped("configs")


def _shipped(name: str) -> Path:
    """`name` inside the installed package, else at the top of the checkout."""
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"agent_gym's {name} folder is missing: looked in {_PACKAGE / name} and {_PACKAGE.parent / name}. "
        "Reinstall agent_gym (its wheel carries the folder), or run from a complete checkout."
    )
