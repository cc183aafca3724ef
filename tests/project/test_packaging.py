"""pyproject.toml, environment.yml, constraints.txt, the Makefile and .ci/run agree."""

import re
import shlex
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
EXTRAS = PROJECT["optional-dependencies"]
SELF = canonicalize_name(PROJECT["name"])
TORCH = "2.13.0"


def _reqs(lines):
    return [Requirement(line) for line in lines]


def _self_extras(extra: str) -> set[str]:
    """The extras that `agent-gym[...]` entries of an extra pull in."""
    return {e for r in _reqs(EXTRAS[extra]) if canonicalize_name(r.name) == SELF for e in r.extras}


def _pyproject_reqs() -> list[Requirement]:
    """Core deps and every non-gpu extra, without the self-references of `all`."""
    out = _reqs(PROJECT["dependencies"])
    for extra, lines in EXTRAS.items():
        if extra != "gpu":
            out += [r for r in _reqs(lines) if canonicalize_name(r.name) != SELF]
    return out


def _environment_reqs() -> list[Requirement]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip section"
    return _reqs(line for line in pip_sections[0] if not line.startswith("-"))


def _key(r: Requirement) -> str:
    extras = f"[{','.join(sorted(r.extras))}]" if r.extras else ""
    return f"{canonicalize_name(r.name)}{extras}{r.specifier}"


def _constraints() -> dict[str, str]:
    pins = {}
    for raw in (ROOT / "constraints.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        assert re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!_-]+", line), f"not a pin: {raw!r}"
        name, version = line.split("==")
        pins[canonicalize_name(name)] = version
    return pins


def test_environment_yml_names_the_same_packages_as_pyproject():
    ours = {canonicalize_name(r.name) for r in _pyproject_reqs()}
    conda = {canonicalize_name(r.name) for r in _environment_reqs()}
    assert conda == ours, (
        f"only in pyproject: {ours - conda}; only in environment.yml: {conda - ours}"
    )


def test_environment_yml_uses_the_same_specifiers_and_extras():
    ours = {_key(r) for r in _pyproject_reqs()}
    conda = {_key(r) for r in _environment_reqs()}
    assert conda == ours, (
        f"only in pyproject: {ours - conda}; only in environment.yml: {conda - ours}"
    )


def test_environment_yml_is_conda_forge_python_311_and_installs_the_project():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    plain = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "python=3.11" in plain and "pip" in plain and "nodejs" in plain
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e .[all]" in pip
    assert "-c constraints.txt" in pip


def test_all_is_every_extra_but_gpu():
    assert PROJECT["requires-python"] == ">=3.11"
    assert "gpu" in EXTRAS and "vllm" in {canonicalize_name(r.name) for r in _reqs(EXTRAS["gpu"])}
    assert _self_extras("all") == set(EXTRAS) - {"all", "gpu"}
    assert all(canonicalize_name(r.name) == SELF for r in _reqs(EXTRAS["all"]))


def test_torch_is_pinned_only_in_constraints():
    for r in _reqs(PROJECT["dependencies"]) + [r for v in EXTRAS.values() for r in _reqs(v)]:
        assert canonicalize_name(r.name) != "torch", "torch belongs in constraints.txt only"
    assert _constraints()["torch"] == TORCH  # no +cpu label: it would not match a CUDA build
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^TORCH_VERSION := {re.escape(TORCH)}$", makefile, re.M)


def test_constraints_pin_every_requirement_within_its_range():
    pins = _constraints()
    assert SELF not in pins, "constraints.txt must not pin the project itself"
    for r in _pyproject_reqs():
        name = canonicalize_name(r.name)
        assert name in pins, f"{name} is not in constraints.txt: run `make constraints`"
        assert r.specifier.contains(Version(pins[name]), prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {r}"
        )


def test_console_script_and_pytest_settings():
    assert PROJECT["scripts"]["agent-gym"] == "agent_gym.cli:main"
    pytest_cfg = PYPROJECT["tool"]["pytest"]["ini_options"]
    assert pytest_cfg["testpaths"] == ["tests"]
    assert pytest_cfg["asyncio_mode"] == "auto"
    assert int(pytest_cfg["timeout"]) > 0
    markers = {m.split(":")[0] for m in pytest_cfg["markers"]}
    assert {"slow", "browser", "model"} <= markers


def test_ci_run_is_make_test_and_nothing_else():
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert lines[0] == "set -euo pipefail"
    commands = [shlex.split(line) for line in lines[1:]]
    assert all(c[0] == "cd" for c in commands[:-1]), f"only `cd` may precede make: {lines}"
    assert commands[-1] == ["make", "test"], f"the last command must be `make test`: {lines}"


def test_make_test_does_not_mask_pytest_exit_codes():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "Makefile has no test target"
    body = recipe.group(1)
    assert "pytest" in body
    for masking in ("|| true", "||true", "suppress-no-test-exit-code", "; true", "-$(PY)"):
        assert masking not in body, f"the test recipe masks pytest's exit code with {masking!r}"
