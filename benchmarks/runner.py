"""Discover `benchmarks/bench_*.py`, run each in a child process, and gather one table.

Each module runs in its own process (`python -m benchmarks.runner --child NAME`) so that one module's
imports, threads or crash cannot skew or stop another's figures; its log lines stream through, its rows
come back as JSON. A module that fails adds an `error` row and the others go on.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .common import check_row, row

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
COLUMNS = ("benchmark", "metric", "value", "spread", "unit", "target", "note")


def discover() -> list[str]:
    """Names of the benchmark modules (`bench_*.py` beside this file), sorted."""
    return sorted(p.stem for p in HERE.glob("bench_*.py"))


def run_module(name: str, quick: bool) -> list[dict[str, Any]]:
    """Import `benchmarks.<name>` and call its `run(quick)`; checks the rows against the contract."""
    module = importlib.import_module(f"benchmarks.{name}")
    if not callable(getattr(module, "run", None)):
        raise TypeError(f"benchmarks/{name}.py has no `run(quick: bool) -> list[dict]` (see benchmarks/README.md)")
    rows = module.run(quick)
    if not isinstance(rows, list):
        raise TypeError(f"{name}.run() returned {type(rows).__name__}, not a list of rows")
    for i, candidate in enumerate(rows):
        problems = check_row(candidate)
        if problems:
            raise TypeError(f"{name}.run() row {i} breaks the contract: {'; '.join(problems)}: {candidate!r}"[:600])
    return rows


def run_in_child(name: str, quick: bool, timeout: float | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Run one module in a child process; (rows, None) or ([], why it failed)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        argv = [sys.executable, "-m", "benchmarks.runner", "--child", name, "--rows-file", str(out)]
        argv += ["--quick"] if quick else []
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        try:
            done = subprocess.run(argv, cwd=ROOT, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            return [], f"timed out after {timeout:.0f}s"
        if done.returncode != 0 or not out.exists():
            return [], f"exited with code {done.returncode} (its traceback is above)"
        return json.loads(out.read_text()), None


def run_all(quick: bool, only: list[str] | None = None, *, timeout: float | None = None,
            log: Any = print) -> dict[str, Any]:
    """Run the benchmark modules (all, or those named in `only`) and return the report (rows and facts)."""
    names = discover()
    if only:
        unknown = sorted(set(only) - set(names) - {n.removeprefix("bench_") for n in names})
        if unknown:
            raise ValueError(f"no benchmark module {unknown}; there are {names}")
        names = [n for n in names if n in only or n.removeprefix("bench_") in only]
    report: dict[str, Any] = {
        "started_at": _now(), "quick": quick, "machine": _machine(), "modules": {}, "rows": [],
    }
    for name in names:
        log(f"== {name} ({'quick' if quick else 'full'})")
        t0 = time.monotonic()
        rows, error = run_in_child(name, quick, timeout)
        seconds = round(time.monotonic() - t0, 1)
        report["modules"][name] = {"seconds": seconds, "ok": error is None, "error": error}
        if error is not None:
            rows = [row(name.removeprefix("bench_"), "error", None, note=f"{name}: {error}")]
        report["rows"].extend(rows)
        log(f"== {name}: {len(rows)} rows in {seconds}s" + (f" — FAILED: {error}" if error else ""))
    report["finished_at"] = _now()
    report["load_after"] = _load()
    return report


def write(report: dict[str, Any], out_dir: str | Path) -> Path:
    """Write the report as `<out_dir>/<UTC time>.json` and `<out_dir>/latest.json`; the first path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ("-quick" if report.get("quick") else "")
    path = out_dir / f"{stamp}.json"
    text = json.dumps(report, indent=1, default=str) + "\n"
    path.write_text(text)
    (out_dir / "latest.json").write_text(text)
    return path


def fmt_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if value == 0 or 0.01 <= abs(value) < 1e5:
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return f"{value:.2e}"


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as one plain-text table (fixed-width columns; notes last)."""
    cells = [[
        r["benchmark"], r["metric"], fmt_value(r.get("value")),
        "" if not r.get("spread") else f"{fmt_value(r['spread'][0])}–{fmt_value(r['spread'][1])}"
        + (f" (n={r['runs']})" if r.get("runs") else ""),
        r.get("unit", ""), r.get("target") or "", r.get("note", ""),
    ] for r in rows]
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(COLUMNS)]
    widths[-1] = len(COLUMNS[-1])  # the note is free text at the end of the line

    def line(values: list[str] | tuple[str, ...]) -> str:
        return "  ".join(v.ljust(w) if i < len(widths) - 1 else v for i, (v, w) in enumerate(zip(values, widths, strict=True))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(COLUMNS), rule, *(line(c) for c in cells)])


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "load_before": _load()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser("python -m benchmarks", description="Run the benchmarks; print one table.")
    parser.add_argument("--quick", action="store_true", help="small settings (seconds per module), for CI and smoke tests")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this module (e.g. rollout or bench_rollout); repeatable")
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench"), help="folder for the JSON report (default: runs/bench)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per module before it is stopped")
    parser.add_argument("--list", action="store_true", help="list the benchmark modules and exit")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--rows-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(discover()))
        return 0
    if args.child:  # inside the child process of run_in_child
        rows = run_module(args.child, args.quick)
        Path(args.rows_file).write_text(json.dumps(rows, default=str))
        return 0
    try:
        report = run_all(args.quick, args.only, timeout=args.timeout)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    path = write(report, args.out)
    print()
    print(table(report["rows"]))
    print(f"\n{len(report['rows'])} figures; {'quick' if args.quick else 'full'} run; report: {path}")
    failed = [name for name, m in report["modules"].items() if not m["ok"]]
    if failed:
        print(f"failed modules: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
