"""A plain (non-editable) install works without the source tree.

The wheel is built from this checkout and installed into a fresh venv in tmp_path; `wheel_smoke.py`
then runs there, outside the repository, and imports every module, loads the shipped data and asks
for every accelerate config; `agent-gym report` renders sample stores with the installed front-end.

The venv reuses the dependencies already installed here: a plain path line in a `.pth` file puts this
environment's site-packages after the venv's own. Plain path lines do not run that folder's `.pth`
files, so the editable install's path to the checkout is never added (the smoke script checks it).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOKE = Path(__file__).with_name("wheel_smoke.py")
WIDGET_FILES = ("agent_gym.js", "agent_gym.css")
"""What `agent_gym.widgets._assets` loads from the checkout's `widgets/`."""


def _env() -> dict[str, str]:
    """The environment without anything that would put the checkout or another venv on sys.path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return {**env, "PYTHONNOUSERSITE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _run(argv: list[str | Path], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, argv))} exited {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n"
                    f"--- stderr\n{result.stderr[-6000:]}", pytrace=False)
    return result


def _build_wheel(out: Path) -> Path:
    """The project's wheel, built offline with this environment's hatchling when it has it."""
    # Without hatchling here, pip fetches the build backend ([build-system] requires) from the package index.
    offline = ["--no-build-isolation"] if importlib.util.find_spec("hatchling") is not None else []
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *offline, "-q", "-w", out, ROOT], cwd=out.parent)
    wheels = sorted(out.glob("agent_gym-*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {out}, found {wheels}"
    return wheels[0]


def _venv_with(wheel: Path, venv: Path) -> Path:
    """A fresh venv with `wheel` installed and this environment's dependencies visible; its python."""
    _run([sys.executable, "-m", "venv", venv], cwd=venv.parent)
    python = venv / "bin" / "python"
    # Installed before the dependencies are linked in, so this pip sees nothing of this environment.
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], cwd=venv.parent)
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=venv.parent).stdout.strip())
    ours = dict.fromkeys(sysconfig.get_path(k) for k in ("purelib", "platlib"))
    (site / "_agent_gym_test_deps.pth").write_text("".join(f"{p}\n" for p in ours))
    return python


def _spec() -> dict[str, list[str]]:
    """The files the installed package must carry, as the checkout has them."""
    data = ROOT / "data"
    return {
        "data": sorted(str(p.relative_to(data)) for p in data.rglob("*")
                       if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")),
        "widgets": list(WIDGET_FILES),
        "configs": sorted(p.stem for p in (ROOT / "configs").glob("*.yaml")),
    }


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_wheel_works_in_a_fresh_venv_without_the_source_tree(tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    wheel = _build_wheel(tmp_path / "dist")
    python = _venv_with(wheel, tmp_path / "venv")

    needed = _spec()
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(needed))
    smoke = shutil.copy(SMOKE, tmp_path / SMOKE.name)  # sys.path[0] is the script's folder: not the repo's
    result = json.loads(_run([python, smoke, spec], cwd=tmp_path).stdout.strip().splitlines()[-1])
    assert Path(result["agent_gym"]).is_relative_to(tmp_path / "venv"), result["agent_gym"]
    assert len(result["launch"]) == len(needed["configs"]) >= 3
    if result["skipped"]:
        print("modules skipped for a missing extra:", json.dumps(result["skipped"], indent=1))

    # The console script renders two sample stores with the packaged widget front-end.
    before, after = (s for s in result["samples"] if Path(s).stem in ("before_training", "after_training"))
    report = tmp_path / "report.html"
    _run([tmp_path / "venv" / "bin" / "agent-gym", "report", before, after, "-o", report], cwd=tmp_path)
    page = report.read_text(encoding="utf-8")
    assert "agent_gym · before_training vs after_training" in page
    assert "Compare · before_training vs after_training" in page
    assert (ROOT / "widgets" / "agent_gym.css").read_text(encoding="utf-8") in page
    assert "function h(tag, attrs, ...children)" in page  # the inlined widget module
