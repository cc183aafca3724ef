"""Create (once) the virtual environment of the peer, verifiers 0.3.1, apart from the project's .venv.

    python -m benchmarks.peer.setup            # prints the venv's python once it is ready

The venv lives in `$AGENT_GYM_VERIFIERS_VENV`, else `~/.cache/agent_gym/verifiers-venv`. verifiers 0.3.1
needs no torch (checked after the install: a venv that has torch is refused). A stamp file records that
the install finished, so an interrupted install is redone and a finished one costs nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

VERIFIERS = "verifiers==0.3.1"
STAMP = ".agent-gym-ready"


def venv_dir() -> Path:
    """Where the peer's venv is (or will be)."""
    return Path(os.environ.get("AGENT_GYM_VERIFIERS_VENV") or Path.home() / ".cache/agent_gym/verifiers-venv")


def venv_python(root: Path | None = None) -> Path:
    return (root or venv_dir()) / "bin" / "python"


def is_ready(root: Path | None = None) -> bool:
    """Whether the venv was set up completely (for this pin)."""
    stamp = (root or venv_dir()) / STAMP
    return stamp.is_file() and stamp.read_text().strip() == VERIFIERS and venv_python(root).exists()


def _base_python() -> str:
    """An interpreter to create the venv from: the one under our .venv, if we run in one."""
    return getattr(sys, "_base_executable", None) or sys.executable


def ensure(root: Path | None = None, *, quiet: bool = True) -> Path:
    """The python of a ready verifiers 0.3.1 venv; creates it first if needed (a few hundred MB, ~1 min)."""
    root = root or venv_dir()
    if is_ready(root):
        return venv_python(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    (root / STAMP).unlink(missing_ok=True)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    run = {"check": True, "env": env, **({"stdout": subprocess.DEVNULL} if quiet else {})}
    print(f"setting up the peer: {VERIFIERS} in {root} (once)", file=sys.stderr, flush=True)
    subprocess.run([_base_python(), "-m", "venv", str(root)], **run)
    subprocess.run([str(venv_python(root)), "-m", "pip", "install", "-q", VERIFIERS], **run)
    has_torch = subprocess.run([str(venv_python(root)), "-c", "import importlib.util, sys; "
                                "sys.exit(importlib.util.find_spec('torch') is not None)"], env=env)
    if has_torch.returncode != 0:
        raise RuntimeError(f"{VERIFIERS} pulled torch into {root}; it should not need it. Remove the venv and "
                           "install with `pip install --no-deps verifiers==0.3.1` plus its light needs.")
    (root / STAMP).write_text(VERIFIERS + "\n")
    return venv_python(root)


if __name__ == "__main__":
    print(ensure(quiet=False))
