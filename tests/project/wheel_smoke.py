"""The smoke check of an installed agent_gym wheel; `test_wheel_install.py` runs it in a fresh venv.

    python wheel_smoke.py spec.json

`spec.json` names the files the package must carry (`data`, `widgets`, `configs`, as the checkout has
them). The script checks that agent_gym comes from this environment (not a checkout), imports every
module, loads the shipped tasks and sample stores, and asks `train.launch_command` for every config.
It prints one JSON line (where agent_gym is, the modules skipped for a missing extra, the sample
stores) and exits 1 with every problem listed on stderr.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import pkgutil
import re
import sys
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    errors: list[str] = []
    package = check_origin(errors)
    skipped = import_every_module(errors)
    samples = check_data(spec, package, errors)
    launch = check_configs(spec["configs"], package, errors)
    if errors:
        print(f"{len(errors)} problem(s) with the installed wheel:", *errors, sep="\n  ", file=sys.stderr)
        return 1
    print(json.dumps({"agent_gym": str(package), "skipped": skipped, "samples": samples, "launch": launch}))
    return 0


def check_origin(errors: list[str]) -> Path:
    """agent_gym's folder, which must be this environment's (no checkout on sys.path)."""
    import agent_gym

    package = Path(agent_gym.__file__).resolve().parent
    if not package.is_relative_to(Path(sys.prefix).resolve()):
        errors.append(f"agent_gym was imported from {package}, not from this environment ({sys.prefix})")
    sources = [p for p in sys.path if (Path(p or ".") / "agent_gym" / "__init__.py").is_file()]
    if len(sources) != 1:
        errors.append(f"more than one agent_gym on sys.path (a checkout leaked in?): {sources}")
    return package


def optional_extras() -> dict[str, str]:
    """Each optional dependency's (canonical) name -> the extra that brings it, from the wheel's metadata."""
    extras: dict[str, str] = {}
    for line in importlib.metadata.metadata("agent-gym").get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        found = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", str(requirement.marker or ""))
        if found:
            extras.setdefault(canonicalize_name(requirement.name), found.group(1))
    return extras


def import_every_module(errors: list[str]) -> dict[str, str]:
    """Import every module of the installed package; return those skipped because an extra is missing."""
    import agent_gym

    extras = optional_extras()
    skipped: dict[str, str] = {}
    walk = pkgutil.walk_packages(agent_gym.__path__, "agent_gym.",
                                 onerror=lambda name: errors.append(f"cannot import package {name}: {sys.exc_info()[1]!r}"))
    for info in walk:
        if info.name.endswith(".__main__"):
            continue  # importing a __main__ runs its command
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").split(".")[0]
            extra = extras.get(canonicalize_name(missing)) if missing != "agent_gym" else None
            if extra:
                skipped[info.name] = f"needs {missing!r} from the '{extra}' extra, which is not installed"
            else:
                errors.append(f"import {info.name}: {exc!r}")
        except Exception as exc:  # noqa: BLE001 - every failure is reported, not just the first
            errors.append(f"import {info.name}: {exc!r}")
    return skipped


def check_data(spec: dict[str, Any], package: Path, errors: list[str]) -> list[str]:
    """Every shipped data and widget file is inside the package and found by the library's own lookups;
    returns the sample stores' paths."""
    from agent_gym.envs.code import python_code, shell
    from agent_gym.paths import data_dir
    from agent_gym.tasks import load_tasks
    from agent_gym.testing.samples import sample_store
    from agent_gym.widgets._assets import assets_dir, css_text, esm_text

    folders = {"data": data_dir, "widgets": assets_dir}
    for kind, locate in folders.items():
        try:
            folder = locate()
        except FileNotFoundError as exc:
            errors.append(f"{kind}: {exc}")
            continue
        if not folder.is_relative_to(package):
            errors.append(f"{kind}: found at {folder}, outside the installed package {package}")
        errors += [f"{kind}/{rel}: missing from the wheel ({folder / rel})" for rel in spec[kind] if not (folder / rel).is_file()]
    samples = []
    for check in (lambda: load_tasks(shell.DEFAULT_TASKS), lambda: load_tasks(python_code.ANALYSIS_TASKS),
                  esm_text, css_text):
        try:
            assert check(), "empty"
        except Exception as exc:  # noqa: BLE001
            errors.append(f"shipped file unreadable: {exc!r}")
    for name in ("calculator_runs", "before_training", "after_training"):
        try:
            store = sample_store(name)
            assert len(store.read()) > 0, f"sample store {name} is empty"
            samples.append(str(store.path))
        except Exception as exc:  # noqa: BLE001
            errors.append(f"sample_store({name!r}): {exc!r}")
    return samples


def check_configs(names: list[str], package: Path, errors: list[str]) -> list[str]:
    """`launch_command` names every accelerate config by a path that exists inside the package."""
    from agent_gym.train import launch_command

    lines = []
    for name in names:
        try:
            line = launch_command("train.py", config=name)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"launch_command('train.py', config={name!r}): {type(exc).__name__}: {exc}")
            continue
        lines.append(line)
        path = Path(line.split("--config_file ", 1)[1].split()[0])
        if not (path.is_absolute() and path.is_file() and path.is_relative_to(package)):
            errors.append(f"launch_command(config={name!r}) names {path}, not a file of the installed package: {line}")
    return lines


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
