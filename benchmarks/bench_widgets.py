"""Widgets: loading and summarizing big stores, building the viewer, and rendering in chromium.

* store load + summary: a store of N trajectories (1k, 10k) read from disk, then the table frame and
  its first page; and `RunTable(path)` itself, rows straight from the JSON — target < 0.5 s for 10,000.
* viewer model: `trajectory_view` of a 100-turn trajectory (Python side of `TrajectoryViewer`).
* browser render: the 100-turn trajectory in Debian's chromium, every turn on screen ("all turns"),
  from data to laid-out DOM — target < 300 ms. Skipped (value None) without /usr/bin/chromium.

    .venv/bin/python benchmarks/bench_widgets.py [--quick]     # prints the rows, writes runs/bench/widgets-<time>.json
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.common import row, summarize
else:
    from .common import row, summarize

from agent_gym import ScriptedPolicy, Task, ToolEnv, TrajectoryStore, run_rollouts
from agent_gym.testing.samples import echo, sample_store
from agent_gym.widgets import Query, RunTable, TrajectoryViewer, apply_query, frame, trajectory_view
from agent_gym.widgets.models.table import page_rows

BENCHMARK = "widgets"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-gpu", "--disable-dev-shm-usage"]


def write_big_store(path: Path, count: int) -> None:
    """`count` real trajectories (the sample runs, repeated under new ids), written as one file."""
    base = sample_store().latest()
    with path.open("w", encoding="utf-8") as f:
        for i in range(count):
            t = base[i % len(base)]
            f.write(t.model_copy(update={"id": f"{t.id}-{i}", "job_key": f"{t.job_key}-{i}"}).to_json() + "\n")


def load_and_summarize(path: Path) -> tuple[float, float, int]:
    """Seconds to read the store, seconds to build the table's frame and first page, rows."""
    t0 = time.perf_counter()
    trajectories = TrajectoryStore(path).latest()
    t1 = time.perf_counter()
    df = frame({"run": trajectories})
    page, total, _ = apply_query(df, Query(sort_by="reward", descending=True))
    page_rows(page)
    return t1 - t0, time.perf_counter() - t1, total


def long_trajectory(turns: int = 100):
    policy = ScriptedPolicy(lambda m, _t: f'<tool_call>{{"name": "echo", "arguments": {{"text": "step {len(m)}"}}}}</tool_call>')
    [t] = run_rollouts(ToolEnv(tools=[echo], name="echo"), policy, [Task(id="long", prompt="Loop.")], max_turns=turns, progress=False)
    return t


def browser_render_ms(html_path: Path, repeats: int) -> list[float]:
    """Milliseconds from data to laid-out DOM with every turn shown, in chromium (no network)."""
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 950})
        page.context.set_offline(True)
        for _ in range(repeats + 1):  # the first load warms the JIT and is dropped
            page.goto(html_path.as_uri())
            page.wait_for_selector("body[data-rendered=true]")
            ms = page.evaluate(
                """() => {
                  const viewer = document.querySelector('.ag-viewer');
                  const t0 = performance.now();
                  viewer.dispatchEvent(new KeyboardEvent('keydown', {key: 'a', bubbles: true}));
                  void document.body.offsetHeight;
                  if (document.querySelectorAll('.ag-turn').length < 100) throw new Error('not all turns shown');
                  return performance.now() - t0;
                }"""
            )
            times.append(ms)
        browser.close()
    return times[1:]


def run(quick: bool) -> list[dict]:
    rows = []
    sizes = (1_000,) if quick else (1_000, 10_000)
    repeats = 2 if quick else 5
    frame({"warm-up": sample_store().latest()[:5]})  # imports (pandas) are not part of the figure
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"store-{n}.jsonl"
            write_big_store(path, n)
            results = [load_and_summarize(path) for _ in range(repeats)]
            size_mb = path.stat().st_size / 1e6
            rows.append(row(BENCHMARK, f"store read, {n:,} trajectories", unit="s", note=f"TrajectoryStore.latest() of a {size_mb:.1f} MB file",
                            **summarize(r[0] for r in results), params={"n": n}))
            rows.append(row(BENCHMARK, f"table frame + first page, {n:,}", unit="s", note="frame(), sort by reward, page rows",
                            **summarize(r[1] for r in results), params={"n": n}))
            rows.append(row(BENCHMARK, f"load + summarize, {n:,}", unit="s",
                            note="read every record + frame + first page (RunTable no longer validates every record)",
                            **summarize(r[0] + r[1] for r in results), params={"n": n}))
            table_times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                table = RunTable(path)  # a fresh store each time: nothing cached
                table_times.append(time.perf_counter() - t0)
                assert table.count == n
            rows.append(row(BENCHMARK, f"run table from a store, {n:,}", unit="s", target="< 0.5 s" if n == 10_000 else None,
                            note="RunTable(path): rows from the store's JSON (one frame builder), first page sent",
                            **summarize(table_times), params={"n": n}))
            summary_times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                TrajectoryStore(path).to_pandas()
                summary_times.append(time.perf_counter() - t0)
            rows.append(row(BENCHMARK, f"store summary frame, {n:,}", unit="s", target="< 1 s" if n == 10_000 else None,
                            note="TrajectoryStore.to_pandas(): summaries straight from the JSON, no record validation",
                            **summarize(summary_times), params={"n": n}))
        t = long_trajectory(100)
        view_times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            trajectory_view(t)
            view_times.append((time.perf_counter() - t0) * 1000)
        rows.append(row(BENCHMARK, "viewer model, 100 turns", unit="ms", note="trajectory_view() in the kernel", **summarize(view_times)))
        html = Path(tmp) / "long.html"
        TrajectoryViewer(t).to_html(html)
        if Path(CHROMIUM).exists():
            rows.append(row(BENCHMARK, "browser render, 100 turns (all shown)", unit="ms", target="< 300 ms",
                            note="chromium: data -> laid-out DOM of every turn", **summarize(browser_render_ms(html, repeats))))
        else:
            rows.append(row(BENCHMARK, "browser render, 100 turns (all shown)", None, "ms", note=f"skipped: no {CHROMIUM}"))
    return rows


def main(argv: list[str] | None = None) -> int:
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    rows = run(quick)
    for r in rows:
        value = r["value"]
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        spread = f"  [{r['spread'][0]:.4g}, {r['spread'][1]:.4g}]" if r.get("spread") else ""
        target = f"  (target {r['target']})" if r.get("target") else ""
        print(f"{r['metric']:<42} {shown:>9} {r['unit']:<3}{spread}{target}")
    out = Path(__file__).resolve().parent.parent / "runs" / "bench" / f"widgets-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": BENCHMARK, "quick": quick, "rows": rows}, indent=2) + "\n")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
