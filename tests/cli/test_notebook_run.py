"""agent_gym.cli.notebook_run through the real papermill, nbconvert and an ipykernel."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from agent_gym.cli.notebook_run import NotebookRunError, main, parse_value, run_notebook

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "runner_fixture.ipynb"


def _outputs_text(nb) -> str:
    return "".join(
        out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
    )


def test_run_writes_everything_and_the_parameter_takes_effect(tmp_path):
    run_dir = run_notebook(FIXTURE, {"x": 21}, out_root=tmp_path)

    assert run_dir.parent == (tmp_path / "runner_fixture").resolve()
    executed = nbformat.read(run_dir / "runner_fixture.ipynb", as_version=4)
    assert "result 42" in _outputs_text(executed)
    assert "<html" in (run_dir / "runner_fixture.html").read_text().lower()
    assert "result 42" in (run_dir / "runner_fixture.html").read_text()

    params = json.loads((run_dir / "parameters.json").read_text())
    assert params == {"x": 21, "output_dir": str(run_dir)}

    # output_dir was injected, so the notebook's own artifact landed in the run directory;
    # the cells ran in this very interpreter, from the notebook's folder.
    artifact = json.loads((run_dir / "result.json").read_text())
    assert artifact["result"] == 42
    assert Path(artifact["executable"]) == Path(sys.executable)
    assert Path(artifact["cwd"]) == FIXTURE.parent.resolve()

    versions = json.loads((run_dir / "versions.json").read_text())
    assert versions["python"].count(".") == 2
    assert versions["agent_gym"]
    assert versions["packages"]["papermill"]
    assert "git" in versions  # None outside a git checkout, else revision + dirty flag
    if versions["git"] is not None:
        assert set(versions["git"]) == {"revision", "dirty"}

    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "ok" and run["error"] is None


def test_two_runs_in_the_same_second_get_their_own_directories(tmp_path):
    a = run_notebook(FIXTURE, out_root=tmp_path)
    b = run_notebook(FIXTURE, out_root=tmp_path)
    assert a != b and a.is_dir() and b.is_dir()
    assert json.loads((a / "result.json").read_text())["x"] == 1


def test_failure_keeps_the_partial_notebook_and_raises(tmp_path):
    with pytest.raises(NotebookRunError) as info:
        run_notebook(FIXTURE, {"fail": True}, out_root=tmp_path)

    run_dir = info.value.run_dir
    assert run_dir is not None and str(run_dir) in str(info.value)
    assert "the fixture was asked to fail" in str(info.value)
    executed = nbformat.read(run_dir / "runner_fixture.ipynb", as_version=4)
    text = _outputs_text(executed)
    assert "result 2" in text  # cells before the failure ran and kept their output
    assert "after the failing cell" not in text  # cells after it did not run
    html = (run_dir / "runner_fixture.html").read_text()
    assert "the fixture was asked to fail" in html
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "failed" and "RuntimeError" in run["error"]


def test_parameters_without_a_parameters_cell_is_a_clear_error(tmp_path):
    nb = nbformat.read(FIXTURE, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("tags", None)
    untagged = tmp_path / "untagged.ipynb"
    nbformat.write(nb, untagged)

    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        run_notebook(untagged, {"x": 2}, out_root=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()  # refused before making a run directory


def test_an_undeclared_parameter_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"does not declare \['stpes'\]"):
        run_notebook(FIXTURE, {"stpes": 200}, out_root=tmp_path)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("200", 200),
        ("0.5", 0.5),
        ("1e-5", 1e-5),
        ("True", True),
        ("false", False),
        ("None", None),
        ("null", None),
        ("[1, 2]", [1, 2]),
        ("{a: 1}", {"a": 1}),
        ("HuggingFaceTB/SmolLM2", "HuggingFaceTB/SmolLM2"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
    ],
)
def test_parse_value_reads_cli_values_like_papermill(text, value):
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


def test_main_prints_the_run_directory_and_returns_status(tmp_path, capsys):
    assert main([str(FIXTURE), "-p", "x", "5", "--out", str(tmp_path)]) == 0
    run_dir = Path(capsys.readouterr().out.strip())
    assert json.loads((run_dir / "result.json").read_text())["result"] == 10

    assert main([str(FIXTURE), "-p", "fail", "True", "--out", str(tmp_path)]) == 1
    assert "the fixture was asked to fail" in capsys.readouterr().err
    assert main([str(FIXTURE), "-p", "nope", "1", "--out", str(tmp_path)]) == 2


def test_module_entry_point(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "agent_gym.cli.notebook_run", str(FIXTURE), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert (Path(done.stdout.strip()) / "runner_fixture.html").is_file()
