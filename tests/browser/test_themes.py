"""The widgets' colours in every theme: static pages in light and dark (`prefers-color-scheme`), and
JupyterLab's Dark and Dark High Contrast themes. Every visible text inside `.ag-root` must reach
WCAG's contrast ratio against what is behind it (4.5:1, or 3:1 for large text), and the viewer's
colours follow an episode's success and a judge's verdict, never the sign of a reward."""

from __future__ import annotations

import json
import re
import urllib.request

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from playwright.sync_api import expect

from agent_gym.testing.samples import edge_cases, sample_store
from agent_gym.widgets import GroupInspector, TrajectoryViewer, run_report

# Every element inside `.ag-root` with its own visible text (and every select or text input), its
# computed colour against its effective background: the first opaque background up its ancestors,
# with the translucent ones above it composited on top. Colours go through a canvas, so any CSS
# colour syntax (rgb(), color(srgb …), color-mix results) is read the same way. Plotly's SVG is
# left out: the plots draw their own backgrounds. Disabled controls are exempt (WCAG 1.4.3).
CONTRAST_JS = r"""
(selector) => {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 1;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const cache = new Map();
  const rgba = (css) => {
    if (cache.has(css)) return cache.get(css);
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = "#000"; ctx.fillStyle = css; ctx.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data;
    const out = [r, g, b, a / 255];
    cache.set(css, out);
    return out;
  };
  const over = (top, bottom) => {  // `top` composited over an opaque `bottom`
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  };
  const lum = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = (el) => {
    const layers = [];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const c = rgba(getComputedStyle(node).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let bg = [255, 255, 255, 1];  // the canvas behind an unpainted page
    for (const layer of layers.reverse()) bg = over(layer, bg);
    return bg;
  };
  const opacity = (el) => {
    let o = 1;
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) o *= Number(getComputedStyle(node).opacity);
    return o;
  };
  const path = (el) => {
    const parts = [];
    for (let node = el; node && !node.classList.contains("ag-root"); node = node.parentElement)
      parts.unshift(node.tagName.toLowerCase() + [...node.classList].map((c) => "." + c).join(""));
    return parts.slice(-4).join(" > ");
  };
  const results = [];
  const roots = [...document.querySelectorAll(selector)];
  const seen = new Set();
  for (const root of roots) {
    for (const el of [root, ...root.querySelectorAll("*")]) {
      if (seen.has(el)) continue;
      seen.add(el);
      if (el.closest("svg, .js-plotly-plot, .plotly, option")) continue;
      const control = el.matches("select, input[type=search], input[type=text]");
      const ownText = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
      if (!ownText && !control) continue;
      if (el.closest(":disabled")) continue;
      if (!el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
      const rect = el.getBoundingClientRect();
      if (rect.width === 0 || rect.height === 0) continue;
      const style = getComputedStyle(el);
      const bg = background(el);
      const fg = rgba(style.color);
      const shown = over([fg[0], fg[1], fg[2], fg[3] * opacity(el)], bg);
      const [l1, l2] = [lum(shown), lum(bg)].sort((x, y) => y - x);
      const ratio = (l1 + 0.05) / (l2 + 0.05);
      const size = parseFloat(style.fontSize);
      const weight = Number(style.fontWeight) || 400;
      const large = size >= 24 || (size >= 18.66 && weight >= 700);
      const text = control ? (el.value || el.tagName) : [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join("").trim();
      results.push({ path: path(el), text: text.slice(0, 40), color: style.color, background: `rgb(${bg.slice(0, 3).map(Math.round).join(",")})`,
                     ratio: Math.round(ratio * 100) / 100, need: large ? 3 : 4.5, bgLum: lum(bg) });
    }
  }
  return results;
}
"""


def contrast_failures(page, selector: str = ".ag-root") -> tuple[list[dict], list[dict]]:
    """(every checked text, those below their required ratio) on the page as it is now."""
    checked = page.evaluate(CONTRAST_JS, selector)
    return checked, [c for c in checked if c["ratio"] < c["need"]]


def describe(failures: list[dict], limit: int = 25) -> str:
    worst = sorted(failures, key=lambda c: c["ratio"])
    seen, lines = set(), []
    for c in worst:
        key = (c["path"], c["color"], c["background"])
        if key in seen:
            continue
        seen.add(key)
        lines.append(f"{c['ratio']:>5} < {c['need']}: {c['path']} {c['text']!r} {c['color']} on {c['background']}")
    return f"{len(failures)} texts below contrast:\n" + "\n".join(lines[:limit])


def failed_positive_with_judge():
    """A failed episode (✗) whose reward is positive and whose judge says the answer does not match."""
    return next(t for t in sample_store().latest()
                if t.success is False and t.reward > 0 and any("does not match" in json.dumps(s.info) for s in t.steps))


def passed_with_judge():
    return next(t for t in sample_store().latest()
                if t.success is True and any("matches" in json.dumps(s.info) for s in t.steps) and t.model)


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The static pages the theme tests open (written once)."""
    out = tmp_path_factory.mktemp("themes")
    failed, passed = failed_positive_with_judge(), passed_with_judge()
    cases = edge_cases()
    return {
        "report": run_report(sample_store(), out / "report.html"),
        "compare": run_report({"before": sample_store("before_training"), "after": sample_store("after_training")}, out / "compare.html",
                              plots=False, groups=False),
        "failed": TrajectoryViewer(failed, turn=len(failed.steps) - 1).to_html(out / "failed.html"),
        "passed": TrajectoryViewer(passed, turn=len(passed.steps) - 1).to_html(out / "passed.html"),
        "groups": GroupInspector(sample_store()).to_html(out / "groups.html"),
        **{name: TrajectoryViewer(cases[name]).to_html(out / f"{name}.html") for name in ("hostile", "missing", "dangling", "huge_output")},
    }


def _open(page, path) -> None:
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-rendered=true]")


def _search(table, trajectory_id: str) -> None:
    """Filter the run table down to one trajectory, and wait until it shows it."""
    table.locator(".ag-search").fill(trajectory_id)
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("tbody tr")).to_have_attribute("data-key", re.compile(re.escape(trajectory_id)))


def _check(page, where: str, problems: list[str], checked: list[int]) -> None:
    every, failures = contrast_failures(page)
    checked.append(len(every))
    if failures:
        problems.append(f"{where}: {describe(failures)}")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_static_pages_are_readable_in_light_and_dark(page, pages, artifacts, scheme):
    page.emulate_media(color_scheme=scheme)
    problems: list[str] = []
    checked: list[int] = []
    failed = failed_positive_with_judge()

    _open(page, pages["report"])
    _check(page, "report", problems, checked)
    page.screenshot(path=artifacts / f"theme_{scheme}_report.png")
    # open the failed episode in the browser (a selected row), every turn shown, then its scoring tab
    table = page.locator(".ag-table-widget").first
    _search(table, failed.id)
    table.locator("tbody tr").first.click()
    viewer = page.locator(".ag-browser-viewer .ag-viewer")
    expect(viewer.locator(".ag-header")).to_contain_text(failed.id)
    viewer.press("a")
    expect(viewer.locator(".ag-judge").first).to_be_visible()
    _check(page, "report, a failed episode open", problems, checked)
    table.scroll_into_view_if_needed()
    page.screenshot(path=artifacts / f"theme_{scheme}_report_viewer.png")
    viewer.locator("[data-tab=scoring]").click()
    _check(page, "report, scoring tab", problems, checked)
    # a group chosen in the list (a selected row) and a sample open
    groups = page.locator(".ag-groups").first
    groups.locator(".ag-group-item").nth(1).click()
    groups.locator(".ag-card").first.click()
    expect(groups.locator(".ag-group-viewer .ag-header")).to_be_visible()
    _check(page, "report, groups", problems, checked)
    groups.scroll_into_view_if_needed()
    page.screenshot(path=artifacts / f"theme_{scheme}_groups.png")

    _open(page, pages["compare"])  # diff marks, gained/lost badges
    _check(page, "compare", problems, checked)
    page.locator(".ag-compare").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / f"theme_{scheme}_compare.png")

    for name in ("failed", "passed", "hostile", "missing", "dangling", "huge_output"):
        _open(page, pages[name])
        viewer = page.locator(".ag-viewer").first
        viewer.press("a")  # every turn
        viewer.press("t")  # open thinking
        _check(page, f"viewer {name}", problems, checked)
        if name == "failed":
            page.screenshot(path=artifacts / f"theme_{scheme}_viewer.png", full_page=True)
        for tab in ("scoring", "task", "metadata", "error"):
            if viewer.locator(f"[data-tab={tab}]").count():
                viewer.locator(f"[data-tab={tab}]").click()
                _check(page, f"viewer {name}, {tab} tab", problems, checked)

    root_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    viewer_dark = page.evaluate(CONTRAST_JS, ".ag-viewer")[0]["bgLum"] < 0.2
    assert viewer_dark == (scheme == "dark"), f"the {scheme} page did not follow prefers-color-scheme (body {root_bg})"
    assert min(checked) > 10, checked  # each state had text to check
    assert not problems, "\n\n".join(problems)
    assert not page.problems


def test_outcome_colours_follow_success_and_the_judges_verdict(page, pages):
    failed = failed_positive_with_judge()
    assert failed.reward > 0 and failed.success is False
    _open(page, pages["failed"])
    viewer = page.locator(".ag-viewer")
    header = viewer.locator(".ag-header")
    reward = header.locator(".ag-badge", has_text="reward")
    assert "ag-badge-bad" in reward.get_attribute("class"), reward.get_attribute("class")
    judge = viewer.locator(".ag-judge")
    expect(judge).to_contain_text("does not match")
    assert "ag-judge-fail" in judge.get_attribute("class") and judge.get_attribute("data-verdict") == "fail"
    fail_line = judge.evaluate("e => getComputedStyle(e).borderLeftColor")
    bad_badge = header.locator(".ag-badge-bad").first.evaluate("e => getComputedStyle(e).borderColor")

    _open(page, pages["passed"])
    judge = page.locator(".ag-viewer .ag-judge")
    expect(judge).to_contain_text("matches")
    assert "ag-judge-pass" in judge.get_attribute("class") and judge.get_attribute("data-verdict") == "pass"
    assert "ag-badge-good" in page.locator(".ag-viewer .ag-header .ag-badge", has_text="reward").get_attribute("class")
    pass_line = judge.evaluate("e => getComputedStyle(e).borderLeftColor")
    assert fail_line != pass_line and fail_line == bad_badge, (fail_line, pass_line, bad_badge)

    # the table: the failed episode's reward is in the failure style although it is positive
    _open(page, pages["report"])
    table = page.locator(".ag-table-widget").first
    _search(table, failed.id)
    cell = table.locator("tbody tr .ag-reward")
    assert float(cell.inner_text()) > 0 and "ag-neg" in cell.get_attribute("class")
    # the failed sample's card in its GRPO group: its reward badge is the failure one too
    _open(page, pages["groups"])
    page.locator(f".ag-group-item[data-key='{failed.env}/{failed.task_id}/{failed.policy}/{failed.model or ''}']").click()
    card = page.locator(f".ag-card[data-id='{failed.id}']")
    assert "ag-badge-bad" in card.locator(".ag-badge", has_text="reward").get_attribute("class")
    assert not page.problems


def test_missing_values_are_shown_as_the_plots_show_them(page, pages):
    """Any missing value reads `(none)`, as a missing model does in the plots' legends and the model filter."""
    store = sample_store().latest()
    expert = next(t for t in store if t.model is None)
    _open(page, pages["report"])
    table = page.locator(".ag-table-widget").first
    _search(table, expert.id)
    assert table.locator("tbody tr td").nth(2).inner_text() == "(none)"
    assert "(none)" in [o.inner_text() for o in table.locator(".ag-select-model option").all()]
    table.locator("tbody tr").first.click()
    viewer = page.locator(".ag-browser-viewer .ag-viewer")
    viewer.locator("[data-tab=metadata]").click()
    assert re.search(r"model\s+\(none\)", viewer.locator(".ag-tab-body").inner_text())
    unjudged = next(t for t in store if t.success is None)  # an errored episode: no verdict
    _search(table, unjudged.id)
    assert table.locator("tbody tr td").nth(5).inner_text() == "(none)"
    assert "–" not in table.locator("tbody").inner_text()
    assert not page.problems


# ---------------------------------------------------------------- JupyterLab themes

THEMES = "@jupyterlab/apputils-extension:themes"


def _put_theme(lab, theme: str | None) -> None:
    """Write the user's theme setting through the server's settings API (None: back to the default)."""
    raw = json.dumps({"theme": theme}) if theme else "{}"
    request = urllib.request.Request(f"{lab.url}/lab/api/settings/{THEMES}", data=json.dumps({"raw": raw}).encode(),
                                     method="PUT", headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=30).close()


def _write_theme_notebook(lab) -> str:
    failed = failed_positive_with_judge()
    cells = [
        new_code_cell(
            "from agent_gym.testing.samples import sample_store\n"
            "from agent_gym.widgets import GroupInspector, RunBrowser, TrajectoryViewer\n"
            f"failed = sample_store().get({failed.id!r})\n"
            f"viewer = TrajectoryViewer(failed, turn={len(failed.steps) - 1})\n"
            "viewer"),
        new_code_cell("RunBrowser(sample_store(), page_size=6)"),
        new_code_cell("GroupInspector(sample_store())"),
        new_code_cell("from agent_gym.widgets import CompareView\n"
                      "CompareView.runs(sample_store('before_training'), sample_store('after_training'), labels=('before', 'after'))"),
    ]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, lab.root / "notebooks" / "themes.ipynb")
    return "themes.ipynb"


def _choose_theme(page, name: str) -> None:
    """Settings ▸ Theme ▸ `name`, as a user does; waits until JupyterLab has applied it."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Settings$")).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Theme$")).first.hover()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(name)}$")).first.click()
    page.wait_for_function(f"document.body.dataset.jpThemeName === {name!r}", timeout=60_000)
    page.wait_for_timeout(500)  # the theme's stylesheet applies after the attribute


@pytest.mark.timeout(900)
def test_jupyterlab_dark_and_high_contrast_themes_are_readable(page, lab_server, artifacts):
    notebook = _write_theme_notebook(lab_server)
    failed = failed_positive_with_judge()
    assert sample_store().get(failed.id) is not None
    _put_theme(lab_server, "JupyterLab Dark")  # before the page loads: JupyterLab starts in Dark
    page.emulate_media(color_scheme="dark")  # the system's preference must not override JupyterLab Light below
    problems: list[str] = []
    try:
        page.goto(lab_server.lab(notebook), timeout=120_000)
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        page.wait_for_function("document.body.dataset.jpThemeName === 'JupyterLab Dark'", timeout=60_000)
        page.get_by_text(re.compile(r"\| Idle")).first.wait_for(timeout=120_000)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        page.wait_for_selector(".ag-groups .ag-card", timeout=180_000)
        page.wait_for_selector(".ag-compare [data-role=paired-stats]", timeout=60_000)
        page.wait_for_selector(".ag-runs tbody tr", timeout=60_000)
        viewer = page.locator(".ag-root > .ag-viewer").first
        expect(viewer.locator(".ag-judge")).to_contain_text("does not match")
        verdict = viewer.locator(".ag-judge").get_attribute("class")
        browser = page.locator(".ag-root").filter(has=page.locator(".ag-browser-table")).first
        browser.locator("tbody tr").nth(1).click()
        expect(browser.locator(".ag-browser-viewer .ag-header")).to_be_visible()
        groups = page.locator(".ag-groups").first
        groups.locator(".ag-group-item").nth(1).click()
        groups.locator(".ag-card").first.click()
        expect(groups.locator(".ag-group-viewer .ag-header")).to_be_visible()
        for theme, shot in (("JupyterLab Dark", "theme_lab_dark"), ("JupyterLab Dark High Contrast", "theme_lab_high_contrast"),
                            ("JupyterLab Light", "theme_lab_light")):
            if theme != "JupyterLab Dark":
                _choose_theme(page, theme)
            every, failures = contrast_failures(page)
            assert len(every) > 100, len(every)
            if failures:
                problems.append(f"{theme}: {describe(failures)}")
            viewer.scroll_into_view_if_needed()
            page.screenshot(path=artifacts / f"{shot}.png")
            groups.scroll_into_view_if_needed()
            page.screenshot(path=artifacts / f"{shot}_groups.png")
            page.locator(".ag-compare").first.scroll_into_view_if_needed()
            page.screenshot(path=artifacts / f"{shot}_compare.png")
            if theme == "JupyterLab Dark":
                bg = page.evaluate(CONTRAST_JS, ".ag-viewer")[0]["bgLum"]
                assert bg < 0.2, "the viewer did not follow JupyterLab's Dark theme"
    finally:
        _put_theme(lab_server, None)  # other tests meet JupyterLab as it was
    assert not problems, "\n\n".join(problems)
    assert "ag-judge-fail" in verdict, verdict  # the judge said "does not match"
    assert not page.problems
