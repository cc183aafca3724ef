"""Widget outputs that render without a kernel: the text/html in each widget's mime bundle, the plain
fallback inside it, the strings a page stores once, and numbers written for people."""

import json
import re

from agent_gym.testing.samples import HOSTILE, sample_store
from agent_gym.widgets import CompareView, GroupInspector, RunBrowser, RunTable, TrajectoryViewer
from agent_gym.widgets.export.fallback import fallback_html, fmt, fmt_seconds
from agent_gym.widgets.export.page import intern_strings, render_fragment


def test_every_widget_carries_a_static_copy_beside_the_live_view(monkeypatch):
    store = sample_store()
    widgets = [TrajectoryViewer(store.latest()[0]), RunTable(store, page_size=5), RunBrowser(store, page_size=5),
               CompareView.runs(sample_store("before_training"), sample_store("after_training")), GroupInspector(store)]
    for widget in widgets:
        data, _ = widget._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in data
        copy = data["text/html"]
        assert f'data-kind="{widget.kind}"' in copy and '<script type="module">' in copy
        assert f"{type(widget).__name__}</b> <i>(static copy" in copy  # the plain fallback is there
        state = json.loads(re.search(r'<script type="application/json" id="ag-data-\w+">(.*?)</script>', copy, re.S).group(1))
        assert state["state"]["kind"] == widget.kind
    monkeypatch.setenv("AGENT_GYM_STATIC_OUTPUT", "0")
    data, _ = widgets[0]._repr_mimebundle_()
    assert "text/html" not in data


def test_the_notebook_copy_of_a_big_browser_embeds_a_bounded_number_of_records():
    browser = RunBrowser(sample_store(), page_size=5)
    state = browser.notebook_static_state()
    assert len(state["_trajectories"]) <= 100 and len(state["_all_rows"]) == 85


def test_the_fallback_shows_text_as_text():
    from agent_gym.types import Trajectory, assistant, user

    viewer = TrajectoryViewer(Trajectory(id="x", task_id="t", env="e", policy="p", messages=(user(HOSTILE), assistant("ok"))))
    html = fallback_html(viewer.static_state(), "TrajectoryViewer")
    assert "<script" not in html and "<img" not in html and "&lt;" in html
    fragment = render_fragment(viewer.static_state())
    assert "<script" not in fragment.split("</div>")[0]  # the fallback part holds no markup from the model


def test_long_repeated_strings_are_stored_once_and_come_back():
    prompt = "You are a careful assistant. " * 5
    values = [{"a": prompt, "b": [prompt, "short"]}, {"c": prompt, "d": "x" * 70}]
    swapped, strings = intern_strings(values)
    assert strings == [prompt]
    assert swapped[0]["a"] == {"$ag-string": 0} and swapped[1]["d"] == "x" * 70  # once only: left as it is
    assert json.dumps(swapped).count("careful") == 0


def test_numbers_are_written_for_people():
    assert [fmt(x) for x in (19100.4, 0.000307, 0.5, 1.2345, 12, None, float("nan"), True)] == [
        "19,100", "0.000307", "0.5", "1.23", "12", "(none)", "(none)", "✓"]
    assert [fmt_seconds(x) for x in (0.0003, 0.25, 3.21, 725, None)] == ["<1 ms", "250 ms", "3.2 s", "12 min 5 s", "(none)"]
