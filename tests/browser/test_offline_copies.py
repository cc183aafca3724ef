"""Executed notebooks keep their widgets: the HTML copy a headless run writes shows every agent_gym widget
with the network off, and JupyterLab opening the executed `.ipynb` (untrusted, as every notebook written elsewhere is) shows the plain
copy instead of `<… object at 0x…>`; trusted, the widgets rebuilt from the state the run saved.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from playwright.sync_api import expect

from agent_gym.cli.notebook_run import run_notebook

KINDS = ("viewer", "table", "browser", "compare", "groups")
CELLS = (
    "from agent_gym.widgets import CompareView, GroupInspector, RunBrowser, RunTable, TrajectoryViewer\n"
    "from agent_gym.testing.samples import sample_store\nstore = sample_store()",
    "TrajectoryViewer(store.latest()[0])",
    "RunTable(store, page_size=5)",
    "RunBrowser(store, page_size=5)",
    "CompareView.runs(sample_store('before_training'), sample_store('after_training'), labels=('before', 'after'))",
    "GroupInspector(store)",
)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """A notebook showing every widget kind, run headlessly as `agent-gym run` does."""
    folder = tmp_path_factory.mktemp("offline")
    source = folder / "widgets.ipynb"
    nb = new_notebook(cells=[new_code_cell(c) for c in CELLS],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, source)
    run_dir = run_notebook(source, out_root=folder / "runs", progress=False)
    return run_dir / "widgets.ipynb", run_dir / "widgets.html"


def test_the_html_copy_shows_every_widget_with_the_network_off(browser, executed, artifacts):
    _, html_file = executed
    text = html_file.read_text(encoding="utf-8")
    assert "<script src=" not in text and "cdn" not in text.lower().replace("cdnjs", "cdn"), "the copy loads scripts"
    context = browser.new_context(viewport={"width": 1300, "height": 950}, offline=True)
    asked: list[str] = []

    def route(r):
        asked.append(r.request.url)
        return r.continue_() if r.request.url.startswith("file:") else r.abort()

    context.route("**/*", route)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(html_file.as_uri())
    for kind in KINDS:
        output = page.locator(f".ag-static-output[data-kind={kind}]")
        expect(output).to_have_attribute("data-rendered", "true")
    expect(page.locator(".ag-static-output[data-kind=viewer] .ag-header")).to_contain_text("calc-000")
    expect(page.locator(".ag-static-output[data-kind=table] tbody tr")).to_have_count(5)
    browser_view = page.locator(".ag-static-output[data-kind=browser]")
    browser_view.locator("tbody tr").nth(2).click()  # the embedded records open without a kernel
    expect(browser_view.locator(".ag-browser-viewer .ag-header")).to_contain_text("sample 2")
    expect(page.locator(".ag-static-output[data-kind=compare]")).to_contain_text("gained")
    expect(page.locator(".ag-static-output[data-kind=groups] .ag-group-item").first).to_be_visible()
    page.screenshot(path=artifacts / "offline_html_copy.png", full_page=True)
    context.close()
    assert not errors, errors
    assert [u for u in asked if not u.startswith("file:")] == []


def _open_in_lab(page, lab_server, notebook: str) -> None:
    page.goto(lab_server.lab(notebook), timeout=120_000)
    page.wait_for_selector(".jp-Notebook .jp-OutputArea-output", timeout=120_000)


@pytest.mark.timeout(600)
def test_jupyterlab_shows_the_executed_notebooks_widgets_without_running_it(page, lab_server, executed, artifacts):
    executed_nb, _ = executed
    untrusted = lab_server.root / "notebooks" / "executed_widgets.ipynb"
    shutil.copy(executed_nb, untrusted)
    _open_in_lab(page, lab_server, untrusted.name)
    outputs = page.locator(".jp-Notebook .jp-OutputArea-output")
    expect(outputs.filter(has_text="calc-000").first).to_be_visible()
    text = page.locator(".jp-Notebook").inner_text()
    assert "object at 0x" not in text
    assert "85 episodes" in text or "85 trajectories" in text or "calculator_runs" in text
    for needle in ("TrajectoryViewer", "RunTable", "RunBrowser", "CompareView", "GroupInspector"):
        assert f"{needle} (static copy" in text, needle
    assert "gained" in text  # the paired statistics of CompareView
    page.screenshot(path=artifacts / "lab_executed_untrusted.png", full_page=True)

    trusted = lab_server.root / "notebooks" / "executed_widgets_trusted.ipynb"
    shutil.copy(executed_nb, trusted)
    subprocess.run([sys.executable, "-m", "jupyter", "trust", str(trusted)], check=True, capture_output=True)
    _open_in_lab(page, lab_server, trusted.name)
    # trusted, JupyterLab's widget manager rebuilds the widgets from the state saved in the notebook
    expect(page.locator(".jp-OutputArea-output .ag-viewer .ag-header").first).to_contain_text("calc-000", timeout=60_000)
    expect(page.locator(".jp-OutputArea-output .ag-groups .ag-group-item").first).to_be_visible()
    assert "object at 0x" not in page.locator(".jp-Notebook").inner_text()
    page.screenshot(path=artifacts / "lab_executed_trusted.png", full_page=True)
