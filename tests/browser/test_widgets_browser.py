"""The widgets in a real browser: the static report offline, notebook 02 in Voila, and JupyterLab
with a live store. Each test clicks through, asserts what is on screen and saves a screenshot."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from agent_gym.stats import paired_comparison, run_stats
from agent_gym.testing.samples import HOSTILE, edge_cases, sample_store
from agent_gym.widgets import (
    CompareView,
    Query,
    RunBrowser,
    TrajectoryViewer,
    apply_query,
    run_report,
)
from agent_gym.widgets.models.table import frame


def _turn_text(scope) -> str:
    return scope.locator(".ag-turn-count").first.inner_text()


def test_static_report_works_offline_and_shows_the_same_content(page, tmp_path, artifacts):
    store = sample_store()
    path = run_report({"before": sample_store("before_training"), "after": sample_store("after_training")}, tmp_path / "two.html")
    one = run_report(store, tmp_path / "one.html")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.context.set_offline(True)

    page.goto(one.as_uri())
    page.wait_for_selector("body[data-rendered=true]")
    table = page.locator(".ag-table-widget").first
    assert table.locator(".ag-count").inner_text() == f"{len(store.latest())} of {len(store.latest())} trajectories"
    stats = run_stats(store.latest())
    line = table.locator("[data-role=run-stats]").inner_text()
    assert f"{stats.episodes} episodes · {stats.tasks} tasks · {stats.errors} errors" in line
    assert f"success {stats.success.value:.3f}".rstrip("0") in line and "[" in line
    page.wait_for_selector("body[data-plots-rendered=true]")  # plotly.js is inlined (gzipped)
    assert page.locator(".js-plotly-plot").count() >= 6
    # the same filter as the kernel's: words, case-insensitive
    table.locator(".ag-search").fill("TOY-large")
    expected = apply_query(frame({"calculator_runs": store.latest()}), Query(text="toy-large"))[1]
    page.wait_for_function(f"document.querySelector('.ag-count').innerText.startsWith('{expected} of')")
    # a click on a row opens it in the viewer; next and the keyboard move through turns
    row = table.locator("tbody tr").nth(1)
    row_id = row.get_attribute("data-key").split("/")[-1]
    row.click()
    viewer = page.locator(".ag-browser-viewer .ag-viewer")
    expect(viewer.locator(".ag-header")).to_contain_text(row_id)  # waits for the viewer to show the clicked row
    assert _turn_text(viewer) == "turn 1 / 2" or _turn_text(viewer).startswith("turn 1 /")
    turn = viewer.locator(".ag-turn-count").first
    viewer.locator(".ag-next").click()
    expect(turn).to_have_text(re.compile(r"^turn 2 /"))
    viewer.locator(".ag-prev").click()
    expect(turn).to_have_text(re.compile(r"^turn 1 /"))
    viewer.press("ArrowRight")
    expect(turn).to_have_text(re.compile(r"^turn 2 /"))
    viewer.locator("[data-tab=scoring]").click()
    assert "final reward" in viewer.inner_text()
    page.screenshot(path=artifacts / "static_report.png", full_page=False)

    page.goto(path.as_uri())
    page.wait_for_selector("body[data-rendered=true]")
    compare = page.locator(".ag-compare")
    choice = next(c["key"] for c in CompareView.runs(sample_store("before_training"), sample_store("after_training")).choices
                  if c["reward"][0] != c["reward"][1])
    compare.locator(".ag-pair-select").select_option(choice)
    assert f"Compare · {choice.split('#')[0]}" in compare.locator(":scope > .ag-header").inner_text()
    paired = paired_comparison(sample_store("before_training").latest(), sample_store("after_training").latest())
    header = compare.locator("[data-role=paired-stats]").inner_text()
    assert f"▲ {len(paired.gained)} gained" in header and f"▼ {len(paired.lost)} lost" in header
    assert f"{paired.tasks} paired tasks" in header and "sign test p = " in header and "difference" in header
    flips = [o.inner_text() for o in compare.locator(".ag-pair-select option").all()]
    assert [f[0] for f in flips[: len(paired.gained) + len(paired.lost)]] == ["▲"] * len(paired.gained) + ["▼"] * len(paired.lost)
    assert compare.locator(".ag-compare-diff").count() >= 1 and "final answers differ" in compare.inner_text()
    compare.scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "static_compare.png")
    assert all(u.startswith(("file:", "data:", "blob:", "about:")) for u in requests), requests
    assert not page.problems


def test_hostile_and_huge_text_is_shown_not_run(page, tmp_path, artifacts):
    cases = edge_cases()
    hostile = TrajectoryViewer(cases["hostile"]).to_html(tmp_path / "hostile.html")
    page.goto(hostile.as_uri())
    page.wait_for_selector("body[data-rendered=true]")
    page.locator(".ag-viewer").press("a")  # all turns
    assert page.evaluate("window.__agPwned") is None
    assert page.locator("img").count() == 0
    assert HOSTILE.split("</pre>")[0] in page.locator(".ag-viewer").inner_text()
    assert "你好 🚀" in page.locator(".ag-viewer").inner_text()
    page.screenshot(path=artifacts / "hostile.png")
    huge = TrajectoryViewer(cases["huge_output"]).to_html(tmp_path / "huge.html")
    page.goto(huge.as_uri())
    page.wait_for_selector("body[data-rendered=true]")
    assert re.search(r"characters omitted \([\d,]+ in all\)", page.locator(".ag-truncated").inner_text())
    long = TrajectoryViewer(cases["long"]).to_html(tmp_path / "long.html")
    page.goto(long.as_uri())
    page.wait_for_selector("body[data-rendered=true]")
    page.locator(".ag-viewer").press("End")
    assert _turn_text(page) == "turn 200 / 200"
    assert not page.problems


def test_notebook_02_in_voila(page, lab_server, artifacts):
    page.goto(lab_server.voila("02_inspect_rollouts.ipynb"), timeout=180_000)
    page.wait_for_selector(".ag-runs tbody tr", timeout=180_000)
    page.wait_for_selector(".ag-groups .ag-card", timeout=120_000)
    browser = page.locator(".ag-root").filter(has=page.locator(".ag-browser-table")).first
    # the notebook filtered the table from Python (a pandas expression): the toolbar shows it
    assert browser.locator(".ag-search").input_value() == "=reward > 1 and turns >= 3"
    assert re.fullmatch(r"\d+ of 85 trajectories", browser.locator(".ag-count").inner_text())
    viewer = browser.locator(".ag-browser-viewer .ag-viewer")
    first_task = viewer.locator(".ag-title").inner_text()
    # clear it, keep the failed episodes; open one: the viewer follows
    browser.locator(".ag-search").fill("")
    page.wait_for_function("document.querySelector('.ag-count').innerText === '85 of 85 trajectories'")
    browser.locator(".ag-select-status").select_option("error")
    page.wait_for_function("document.querySelector('.ag-count').innerText.split(' ')[0] !== document.querySelector('.ag-count').innerText.split(' ')[2]")
    rows = browser.locator("tbody tr")
    assert rows.count() >= 1 and all(rows.nth(i).locator("td").nth(9).inner_text() for i in range(rows.count()))
    rows.first.click()
    page.wait_for_function("document.querySelector('.ag-browser-viewer .ag-tab-error') !== null")
    viewer.locator("[data-tab=error]").click()
    assert "PolicyError" in viewer.inner_text()
    assert first_task
    # the standalone viewer opened at the tool error; step with the buttons
    standalone = page.locator(".ag-root > .ag-viewer").first
    assert "tool error" in standalone.locator(".ag-turn-current").inner_text()
    before = _turn_text(standalone)
    standalone.locator(".ag-next").click()
    page.wait_for_function(f"document.querySelectorAll('.ag-root > .ag-viewer .ag-turn-count')[0].innerText !== {before!r}")
    compare = page.locator(".ag-compare").first  # notebook 02 also compares a branch with its parent
    assert "differ" in compare.locator(":scope > .ag-header").inner_text()
    assert page.locator(".js-plotly-plot").count() >= 6
    assert page.evaluate("window.__agPwned") is None
    # a 1 MB tool output is truncated; "Show all" asks the kernel for the full text
    expand = page.locator(".ag-expand").first
    expand.scroll_into_view_if_needed()
    expand.click()
    page.wait_for_function("document.querySelector('.ag-expanded') && document.querySelector('.ag-expanded').textContent.length > 1000000")
    page.screenshot(path=artifacts / "voila_02_expanded.png")
    page.locator(".ag-root > .ag-viewer").first.scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "voila_02_top.png")
    page.locator(".ag-groups").scroll_into_view_if_needed()
    page.locator(".ag-groups .ag-card").first.click()
    page.wait_for_selector(".ag-group-viewer .ag-header")
    page.screenshot(path=artifacts / "voila_02_groups.png")
    assert not page.problems


def test_jupyterlab_click_keys_table_and_live_store(page, lab_server, artifacts):
    page.goto(lab_server.lab("lab_widgets.ipynb"), timeout=120_000)
    page.wait_for_selector(".jp-Notebook", timeout=120_000)
    page.get_by_text(re.compile(r"\| Idle")).first.wait_for(timeout=120_000)  # the kernel is up
    try:
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        page.wait_for_selector(".ag-runs tbody tr", timeout=120_000)
    except Exception:
        page.screenshot(path=artifacts / "jupyterlab_failed.png")
        raise
    browser = page.locator(".ag-root").filter(has=page.locator(".ag-browser-table")).first

    # sort by reward, high to low: the first row holds the highest reward on the page
    browser.locator("th[data-col=reward]").click()
    page.wait_for_function("document.querySelector('th[data-col=reward]').innerText.includes('▼')")
    rewards = [float(x) for x in browser.locator("tbody td.ag-num .ag-reward").all_inner_texts()]
    assert rewards == sorted(rewards, reverse=True)

    # filter with a pandas expression (evaluated in the kernel), then open a row with several turns
    browser.locator(".ag-search").fill("=turns >= 3")
    table = RunBrowser(sample_store(), page_size=8)
    expected = table.filter(text="=turns >= 3", sort_by="reward", descending=True)
    page.wait_for_function(f"document.querySelector('.ag-count').innerText.startsWith('{len(expected)} of')")
    target = table.rows[0]
    browser.locator(f"tr[data-key='{target['key']}']").click()
    page.wait_for_function(f"document.querySelector('.ag-browser-viewer .ag-header').innerText.includes('{target['id']}')")
    # step with the keyboard (after a click on the viewer): → End Home
    browser.locator(".ag-browser-viewer .ag-header").click()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.querySelector('.ag-browser-viewer .ag-turn-count').innerText.startsWith('turn 2 /')")
    page.keyboard.press("End")
    page.wait_for_function(f"document.querySelector('.ag-browser-viewer .ag-turn-count').innerText === 'turn {target['turns']} / {target['turns']}'")
    page.keyboard.press("Home")
    page.wait_for_function("document.querySelector('.ag-browser-viewer .ag-turn-count').innerText.startsWith('turn 1 /')")
    # the slider moves it too, and the notebook's own shortcuts did not fire (still one cell selected, no new cells)
    assert page.locator(".jp-Notebook .jp-Cell").count() == 3

    # the selected row is highlighted; ↓/↑ in the table move the selection, and the viewer with it
    selected_row = browser.locator("tbody tr.ag-row-selected")
    expect(selected_row).to_have_count(1)
    expect(selected_row).to_have_attribute("data-key", target["key"])
    browser.locator(".ag-table-body").focus()
    page.keyboard.press("ArrowDown")
    second = table.rows[1]
    expect(browser.locator("tbody tr.ag-row-selected")).to_have_attribute("data-key", second["key"])
    page.wait_for_function(f"document.querySelector('.ag-browser-viewer .ag-header').innerText.includes('{second['id']}')")
    page.keyboard.press("ArrowUp")
    expect(browser.locator("tbody tr.ag-row-selected")).to_have_attribute("data-key", target["key"])
    page.screenshot(path=artifacts / "jupyterlab_selected_row.png")
    # a filter that hides the selected row: the viewer moves to the first row still shown, never a hidden one
    hidden_by = "=turns < 3"
    browser.locator(".ag-search").fill(hidden_by)
    shown = RunBrowser(sample_store(), page_size=8).filter(text=hidden_by, sort_by="reward", descending=True)
    page.wait_for_function(f"document.querySelector('.ag-count').innerText.startsWith('{len(shown)} of')")
    first_shown = shown.iloc[0]
    expect(browser.locator("tbody tr.ag-row-selected")).to_have_attribute("data-key", first_shown["key"])
    page.wait_for_function(f"document.querySelector('.ag-browser-viewer .ag-header').innerText.includes('{first_shown['id']}')")
    # a filter nothing matches: the viewer clears
    browser.locator(".ag-search").fill("no-such-task-anywhere")
    page.wait_for_function("document.querySelector('.ag-count').innerText.startsWith('0 of')")
    expect(browser.locator(".ag-browser-viewer")).to_contain_text("Click a row to open its trajectory.")

    # the compare view is there, with its differences marked
    assert page.locator(".ag-compare .ag-compare-row").count() >= 1

    # the live table grows while another process writes the store
    page.wait_for_function(
        "[...document.querySelectorAll('.ag-live')].length > 0 && "
        "[...document.querySelectorAll('.ag-count')].some(e => e.innerText === '8 of 8 trajectories')", timeout=60_000)
    live = page.locator(".ag-root").filter(has=page.locator(".ag-live")).first
    assert live.locator(".ag-browser-viewer .ag-header").inner_text()
    browser.scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "jupyterlab.png")
    live.scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "jupyterlab_live.png")
    assert not page.problems


def test_the_viewer_shows_the_expected_answer_and_the_tools_offered(page, tmp_path, artifacts):
    from agent_gym import TrajectoryStore, run_rollouts
    from agent_gym.envs.calculator import CalculatorEnv, CalculatorExpert, make_tasks

    store = TrajectoryStore(tmp_path / "run.jsonl")
    tasks = make_tasks(2)
    run_rollouts(CalculatorEnv(), CalculatorExpert(), tasks, store=store, progress=False)
    page.goto(run_report(store, tmp_path / "run.html").as_uri())
    page.wait_for_selector("body[data-rendered=true]")
    page.locator(".ag-table-widget tbody tr").first.click()
    viewer = page.locator(".ag-browser-viewer .ag-viewer")
    viewer.locator("[data-tab=task]").click()
    body = viewer.locator(".ag-tab-body")
    expect(body).to_contain_text("Expected answer")
    shown = body.inner_text()
    assert str(tasks[0].answer) in shown or str(tasks[1].answer) in shown
    assert "Tools offered (1)" in shown and "calculate" in shown and "agent_gym.envs.calculator.CalculatorEnv" in shown
    assert "not recorded (text-only policy)" in shown
    viewer.locator("[data-tab=scoring]").click()
    expect(viewer.locator(".ag-expected")).to_contain_text("Expected answer")
    page.screenshot(path=artifacts / "viewer_task_tab.png", full_page=False)
