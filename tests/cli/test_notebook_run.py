"""agent_gym.cli.notebook_run through the real papermill, nbconvert and an ipykernel."""

import ast
import io
import json
import logging
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import papermill
import pytest
from nbformat import v4

import agent_gym.cli.notebook_run as notebook_run
from agent_gym.cli.notebook_run import (
    NotebookRunError,
    main,
    notebook_output_dir,
    parse_value,
    repository_root,
    run_notebook,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "runner_fixture.ipynb"
NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
# A cell's progress line: "cell 3/5  <its first line>  0.4s".
PROGRESS_LINE = re.compile(r"^cell (\d+)/(\d+)  (.+)  (failed after )?(\d+\.\d)s$")
PLAIN_CELLS = (
    "import time\n\ntime.sleep(0.3)",
    "print('model', model, 'x', x)",
)
# A cell that writes where it ran into the notebook's output folder (found with the helper).
WHERE_CELL = (
    "import os\n"
    "from agent_gym.cli.notebook_run import notebook_output_dir\n\n"
    "out = notebook_output_dir('tiny', output_dir)\n"
    "(out / 'where.txt').write_text(os.getcwd())"
)


def _outputs_text(nb) -> str:
    return "".join(
        out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
    )


def _tiny_notebook(folder: Path, cells: tuple[str, ...] = PLAIN_CELLS) -> Path:
    """``folder/tiny.ipynb``: a heading, a parameters cell whose comments hold ``=``, then ``cells``."""
    parameters = (
        "x = 1\n"
        "model = None  # a model folder; None = the built-in one\n"
        "output_dir = None  # None: runs/tiny/ of the repository"
    )
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_markdown_cell("# Tiny"),
        v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
        *(v4.new_code_cell(source) for source in cells),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / "tiny.ipynb")
    return folder / "tiny.ipynb"


def _fake_checkout(root: Path) -> Path:
    """A folder shaped like the repository: pyproject.toml and notebooks/ (with the tiny notebook)."""
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'fake'\n")
    return _tiny_notebook(root / "notebooks", (WHERE_CELL,))


def _parameter_defaults(nb_path: Path) -> dict[str, object]:
    """Names and literal defaults of a notebook's parameters cell, read with ast."""
    nb = nbformat.read(nb_path, as_version=4)
    [cell] = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    return {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(cell.source).body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }


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


def test_failure_keeps_the_partial_notebook_and_raises(tmp_path, capsys):
    with pytest.raises(NotebookRunError) as info:
        run_notebook(FIXTURE, {"fail": True}, out_root=tmp_path)
    progress = capsys.readouterr().err.splitlines()
    failed = [line for line in progress if "failed after" in line]
    assert len(failed) == 1 and failed[0].startswith("cell 5/6  if fail:  failed after ")
    assert progress[-1].startswith("ran 5/6 code cells in ")

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


def test_a_run_prints_one_line_per_code_cell_to_stderr(tmp_path, capsys):
    run_notebook(_tiny_notebook(tmp_path), {"x": 2}, out_root=tmp_path / "runs")

    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("kernel ready in ") and err[0].endswith("; 4 code cells")
    cells = [PROGRESS_LINE.match(line) for line in err[1:-1]]
    assert all(cells), err
    assert [(m[1], m[2], m[3]) for m in cells] == [
        ("1", "4", "(parameters)"),
        ("2", "4", "(injected parameters)"),
        ("3", "4", "import time"),
        ("4", "4", "print('model', model, 'x', x)"),
    ]
    assert float(cells[2][5]) >= 0.3  # the sleeping cell's own time
    assert re.fullmatch(r"ran 4/4 code cells in \d+\.\ds", err[-1])


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_line_starts_with_the_cell(tmp_path):
    writes: list[str] = []
    terminal = _Terminal()
    terminal.write = writes.append  # type: ignore[method-assign]

    run_notebook(_tiny_notebook(tmp_path), out_root=tmp_path / "runs", progress=terminal)

    cells = writes[1:-1]
    heads, tails = cells[0::2], cells[1::2]
    # What runs is on screen while it runs; its time finishes the line.
    assert heads == [
        "cell 1/4  (parameters)  ",
        "cell 2/4  (injected parameters)  ",  # output_dir, set to the run folder
        "cell 3/4  import time  ",
        "cell 4/4  print('model', model, 'x', x)  ",
    ]
    assert all(re.fullmatch(r"\d+\.\ds\n", tail) for tail in tails), tails
    assert float(tails[2][:-2]) >= 0.3


def test_the_kernel_does_not_warn_about_plain_text_tcp(tmp_path):
    nb_path = _tiny_notebook(tmp_path / "nb")
    temp = tmp_path / "temp"
    temp.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "agent_gym.cli.notebook_run", str(nb_path), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    assert done.returncode == 0, done.stderr
    assert "without encryption" not in done.stderr + done.stdout
    assert "TCP" not in done.stderr, done.stderr
    # stderr is a pipe here, as in CI: each cell is one whole line.
    assert re.search(r"^cell 4/4  print\('model', model, 'x', x\)  \d+\.\ds$", done.stderr, re.M)
    # The kernel's socket folder is gone, and no socket file was left beside the notebook.
    assert list(temp.iterdir()) == []
    assert sorted(p.name for p in nb_path.parent.iterdir()) == ["tiny.ipynb"]


def test_comments_with_equals_signs_raise_no_papermill_warning(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="papermill")
    run_dir = run_notebook(_tiny_notebook(tmp_path), {"model": "m"}, out_root=tmp_path / "runs")

    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == []
    executed = nbformat.read(run_dir / "tiny.ipynb", as_version=4)
    assert "model m x 1" in _outputs_text(executed)  # the value papermill could not parse arrived


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_reads_every_parameters_cell_of_the_notebooks(nb_path, caplog):
    names = set(papermill.inspect_notebook(str(nb_path)))
    assert names == set(_parameter_defaults(nb_path))
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_writes_under_the_repository_runs_by_default(nb_path):
    assert _parameter_defaults(nb_path)["output_dir"] is None
    code = [c.source for c in nbformat.read(nb_path, as_version=4).cells if c.cell_type == "code"]
    assert any(f'notebook_output_dir("{nb_path.stem}", output_dir)' in source for source in code)


def test_notebook_output_dir_finds_the_repository_from_any_folder_inside(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    _fake_checkout(repo)
    (repo / "notebooks" / "deeper").mkdir()
    for cwd in (repo, repo / "notebooks", repo / "notebooks" / "deeper"):
        monkeypatch.chdir(cwd)
        assert repository_root() == repo
        assert notebook_output_dir("nb") == repo / "runs" / "nb"
    assert (repo / "runs" / "nb").is_dir()
    # An output_dir given by papermill wins, relative to the kernel's folder.
    assert notebook_output_dir("nb", "mine") == repo / "notebooks" / "deeper" / "mine"
    assert notebook_output_dir("nb", tmp_path / "given") == tmp_path / "given"


def test_outside_the_repository_the_checkout_of_agent_gym_counts(tmp_path, monkeypatch):
    checkout = repository_root(Path(notebook_run.__file__).parent)
    if checkout is None:
        pytest.skip("agent_gym is installed, not imported from a checkout")
    monkeypatch.chdir(tmp_path)
    assert repository_root() is None
    name = f"test-notebook-run-{uuid.uuid4().hex[:8]}"
    folder = notebook_output_dir(name)
    try:
        assert folder == checkout / "runs" / name and folder.is_dir()
    finally:
        folder.rmdir()


@pytest.mark.parametrize("started_in", ["", "notebooks"], ids=["repo-root", "notebook-folder"])
def test_a_notebook_started_anywhere_in_the_repository_writes_to_its_runs(tmp_path, started_in):
    repo = tmp_path / "repo"
    nb_path = _fake_checkout(repo)
    # papermill starts the kernel in the caller's folder, JupyterLab in the notebook's.
    papermill.execute_notebook(
        str(nb_path),
        str(tmp_path / "out.ipynb"),
        kernel_name="python3",
        language="python",
        cwd=str(repo / started_in),
        progress_bar=False,
    )
    assert (repo / "runs" / "tiny" / "where.txt").read_text() == str(repo / started_in)


def test_run_notebook_from_another_folder_uses_the_notebooks_repository(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    nb_path = _fake_checkout(repo)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")

    run_dir = run_notebook(nb_path)

    assert run_dir.parent == repo / "runs" / "tiny"
    assert (run_dir / "where.txt").is_file()  # the injected output_dir won over the default
    assert not (tmp_path / "elsewhere" / "runs").exists()
