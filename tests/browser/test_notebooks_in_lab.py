"""Every tutorial notebook as a new user meets it: opened in JupyterLab with a fresh kernel, "Run All
Cells" from the menu with the notebook's own defaults (no cell edited), then saved from the browser.
The saved file must hold an output for every code cell and no error; a screenshot of each is kept."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

NOTEBOOKS = sorted(p.name for p in (Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
ALL_DONE = """() => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')].map(e => e.innerText);
  return prompts.length > 0 && !prompts.some(t => t.includes('*')) && prompts.some(t => /\\d/.test(t));
}"""


def test_every_notebook_is_covered():
    assert len(NOTEBOOKS) >= 8 and NOTEBOOKS[0].startswith("00_")


@pytest.mark.model
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom_in_jupyterlab(name, page, lab_server, artifacts):
    page.goto(lab_server.lab(name), timeout=120_000)
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=120_000)
    page.get_by_text(re.compile(r"\| Idle")).first.wait_for(timeout=120_000)  # a fresh kernel is up
    shot = artifacts / f"lab_{Path(name).stem}.png"
    try:
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        page.wait_for_function(ALL_DONE, timeout=1_200_000, polling=1000)
        page.get_by_text(re.compile(r"\| Idle")).first.wait_for(timeout=120_000)
        page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
        page.keyboard.press("Control+s")
        page.wait_for_function("!document.querySelector('.lm-TabBar-tab.jp-mod-dirty')", timeout=60_000)
    finally:
        page.screenshot(path=shot)
        shut_down_kernels(lab_server)  # each notebook's kernel holds its models; free them for the next
    saved = json.loads((lab_server.root / "notebooks" / name).read_text())
    code = [c for c in saved["cells"] if c["cell_type"] == "code"]
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{name}: {errors[0]['ename']}: {errors[0]['evalue']} (screenshot {shot})"
    not_run = [i for i, c in enumerate(code) if c["execution_count"] is None]
    assert not not_run, f"{name}: code cells {not_run} did not run (screenshot {shot})"
    assert sum(bool(c["outputs"]) for c in code) >= 3, f"{name} showed almost nothing"
    assert not page.problems, page.problems


def shut_down_kernels(lab) -> None:
    """Stop every kernel of the lab server through its REST API."""
    with urllib.request.urlopen(f"{lab.url}/api/kernels?token={lab.token}", timeout=30) as response:
        kernels = json.load(response)
    for kernel in kernels:
        request = urllib.request.Request(f"{lab.url}/api/kernels/{kernel['id']}?token={lab.token}", method="DELETE")
        urllib.request.urlopen(request, timeout=30).close()
