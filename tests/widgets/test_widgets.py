"""The widget classes in the kernel: traits change as the front-end would change them."""

from __future__ import annotations

import json
import threading
import time

import pytest

from agent_gym import TrajectoryStore
from agent_gym.testing.samples import edge_cases, sample_store
from agent_gym.widgets import (
    CompareView,
    GroupInspector,
    RunBrowser,
    RunTable,
    TrajectoryViewer,
    plots,
    run_report,
)
from agent_gym.widgets.export.report import main as report_main
from agent_gym.widgets.ui.live import Poller


@pytest.fixture(scope="module")
def store():
    return sample_store()


def test_viewer_steps_through_turns(store):
    t = next(t for t in store.latest() if t.num_turns >= 3)
    v = TrajectoryViewer(t)
    assert v.kind == "viewer" and v.trajectory["id"] == t.id and v.turn == 0
    assert v.next() == 1 and v.prev() == 0 and v.go("last") == len(v.trajectory["turns"]) - 1
    v.turn = 999  # the browser cannot push it out of range
    assert v.turn == len(v.trajectory["turns"]) - 1
    v.show(None)
    assert v.trajectory == {} and v.turn == 0


def test_viewer_sends_the_full_text_of_a_truncated_output():
    huge = edge_cases()["huge_output"]
    v = TrajectoryViewer(huge)
    sent = []
    v.send = sent.append  # what would go to the browser
    tool = next(m for m in v.trajectory["messages"] if m["role"] == "tool")
    v._on_custom_msg(v, {"type": "expand", "trajectory": huge.id, "message": tool["index"], "segment": 0}, [])
    assert sent[0]["type"] == "expanded" and len(sent[0]["text"]) == tool["segments"][0]["length"]
    v._on_custom_msg(v, {"type": "expand", "trajectory": "other", "message": 0, "segment": 0}, [])
    assert sent[1]["text"] is None and "no longer shown" in sent[1]["error"]


def test_table_selection_opens_the_viewer(store):
    viewer = TrajectoryViewer()
    table = RunTable(store, viewer=viewer, page_size=5)
    assert table.count == len(store.latest()) and len(table.rows) == 5 and table.total == table.count
    table.selected = table.rows[2]["key"]  # a click in the browser
    assert viewer.trajectory["id"] == table.rows[2]["id"] == table.selected_trajectory.id
    errors = table.filter(status="error")
    assert len(errors) == table.total >= 1 and all(r["error"] for r in table.rows)
    table.query = {"text": "=reward > 1", "sort_by": "reward", "descending": True}
    assert table.query_error == "" and table.rows[0]["reward"] == max(r["reward"] for r in table.rows)
    table.query = {"text": "=no_such_column > 1"}
    assert "no_such_column" in table.query_error


def test_browser_opens_first_row_and_follows_selection(store):
    b = RunBrowser({"one": store, "two": sample_store("after_training")})
    assert b.kind == "browser" and b.choices["run"] == ["one", "two"]
    assert b.trajectory["id"] == b.rows[0]["id"]
    b.select(sample_store("after_training").latest()[0].id)
    assert b.selected.startswith("two/") and b.trajectory["model"] == "checkpoint-200"


def test_live_table_and_viewer_follow_a_growing_store(tmp_path, store):
    path = tmp_path / "live.jsonl"
    live = TrajectoryStore(path)
    records = store.latest()[:3]
    live.append(records[0])
    b = RunBrowser(path, follow=True)
    viewer = TrajectoryViewer(store=path)
    assert b.count == 1 and viewer.trajectory["id"] == records[0].id
    live.extend(records[1:])
    assert b.refresh() == 2 and b.count == 3 and b.trajectory["id"] == records[2].id
    assert viewer.refresh() and viewer.trajectory["id"] == records[2].id
    assert b.refresh() == 0 and not viewer.refresh()


def test_poller_runs_in_a_thread_without_a_loop():
    calls = []
    done = threading.Event()

    def tick():
        calls.append(time.monotonic())
        if len(calls) >= 3:
            done.set()

    poller = Poller(tick, interval=0.01)
    poller.start()
    assert done.wait(5)
    poller.stop()
    assert len(calls) >= 3
    with pytest.raises(ValueError):
        Poller(tick, interval=0)


async def test_poller_runs_on_the_event_loop():
    import asyncio

    calls = []
    poller = Poller(lambda: calls.append(1), interval=0.01)
    poller.start()
    assert poller._task is not None  # a task, as in a Jupyter kernel
    await asyncio.sleep(0.1)
    poller.stop()
    assert len(calls) >= 3


def test_compare_and_groups(store):
    c = CompareView.runs(sample_store("before_training"), sample_store("after_training"))
    assert c.kind == "compare" and len(c.choices) == 8 and c.pair["labels"] == ["before_training", "after_training"]
    differing = next(ch["key"] for ch in c.choices if ch["reward"][0] != ch["reward"][1])
    c.choice = differing
    assert c.pair["a"]["task_id"] == differing.split("#")[0] and not c.pair["outcome"]["same_answer"]
    g = GroupInspector(store)
    assert g.groups[0]["flags"][0] == "suspicious_winner"  # the worst first
    g.selected_group = next(x["key"] for x in g.groups if "zero_variance" in x["flags"])
    assert "zero_variance" in g.group["flags"] and {s["advantage"] for s in g.group["samples"]} == {0.0}
    g.selected = g.group["samples"][1]["id"]
    assert g.trajectory["id"] == g.selected


def test_plots_are_figures(store):
    figures = plots.dashboard(plots.runs_frame({"a": store, "b": sample_store("after_training")}))
    assert {"reward_distribution", "success_by_env", "success_by_model", "turns_vs_reward", "token_lengths",
            "error_kinds", "success_by_run"} <= set(figures)
    assert all(f.layout.title.text for f in figures.values())
    err = plots.error_kinds(plots.runs_frame(store))
    assert list(err.data[0].y) == [sum(t.error is not None for t in store.latest())]


def test_static_export_is_self_contained_and_escaped(tmp_path, store):
    cases = edge_cases()
    html = TrajectoryViewer(cases["hostile"]).to_html()
    assert "<script>window.__agPwned" not in html and "<img src=x" not in html  # only as \\u003c-escaped JSON
    assert "Content-Security-Policy" in html and "http://" not in html.split("<body>")[1].replace("http://www.w3.org", "")
    path = run_report(store, tmp_path / "r.html", plots=False)
    text = path.read_text()
    assert text.count('type="application/json"') == 3  # the shared strings, browser, groups
    assert "cdn" not in text.lower() and "<link" not in text
    assert report_main([str(store.path), "-o", str(tmp_path / "cli.html"), "--no-plots"]) == 0
    state = text.split('id="ag-state-1">')[1].split("</script>")[0]
    assert len(json.loads(state)["_trajectories"]) == len(store.latest())


def test_compare_view_of_two_runs_heads_with_the_paired_statistics_and_lists_flips_first():
    from agent_gym.stats import paired_comparison

    before, after = sample_store("before_training").latest(), sample_store("after_training").latest()
    c = CompareView.runs(before, after, labels=("before", "after"))
    expected = paired_comparison(before, after)
    assert c.stats["gained"] == list(expected.gained) and c.stats["lost"] == list(expected.lost)
    assert c.stats["p_value"] == expected.p_value and "gained" in c.stats["text"]
    flips = [ch["flip"] for ch in c.choices]
    n = len(expected.gained) + len(expected.lost)
    assert n > 0 and flips[:n] == ["gained"] * len(expected.gained) + ["lost"] * len(expected.lost)
    assert None not in flips[:n] and set(flips[n:]) <= {None}
    assert c.choice == c.choices[0]["key"]  # it opens on a flipped task
    json.dumps(c.static_state())


def test_run_table_header_statistics_follow_the_filters(store):
    from agent_gym.stats import run_stats

    table = RunTable(store)
    [everything] = table.stats
    assert everything["episodes"] == len(store.latest()) == run_stats(store.latest()).episodes
    assert everything["success"]["value"] == pytest.approx(run_stats(store.latest()).success.value)
    table.query = {**table.query, "status": "error"}
    [errors] = table.stats
    assert errors["episodes"] == errors["errors"] == sum(t.error is not None for t in store.latest())
    before = table.stats
    table.query = {**table.query, "page": 1, "sort_by": "reward"}
    assert table.stats is before  # paging and sorting do not recompute
