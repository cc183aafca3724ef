"""Browser tests: Debian's chromium driven by Python playwright, one JupyterLab server per session
(it also serves Voila at /voila/render/…). Screenshots are kept in `runs/test-artifacts/browser/`
(or `$AGENT_GYM_ARTIFACTS`) for a person or CI to look at.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-gpu", "--disable-dev-shm-usage",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("AGENT_GYM_ARTIFACTS", ROOT / "runs" / "test-artifacts" / "browser"))


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")  # not session: playwright's sync API keeps an event loop running
def browser():                 # until it exits, which would break the async tests collected after it
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: `apt-get install chromium` (make setup does it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1300, "height": 950})
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.problems = problems  # type: ignore[attr-defined]
    yield page
    context.close()


WRITER = """
import sys, time
from agent_gym import TrajectoryStore
from agent_gym.testing.samples import sample_store
records = sample_store().latest()[:8]
out = TrajectoryStore(sys.argv[1])
for t in records:
    time.sleep(0.4)
    out.append(t)
"""


def write_lab_notebook(path: Path, live_store: Path) -> None:
    cells = [
        new_code_cell(
            "from agent_gym.widgets import CompareView, RunBrowser\n"
            "from agent_gym.testing.samples import sample_store\n"
            "browser = RunBrowser(sample_store(), page_size=8)\n"
            "browser"
        ),
        new_code_cell(
            "CompareView.runs(sample_store('before_training'), sample_store('after_training'), labels=('before', 'after'))"
        ),
        new_code_cell(
            "import subprocess, sys\n"
            f"live = RunBrowser({str(live_store)!r}, live=True, interval=0.3, follow=True, page_size=5)\n"
            f"writer = subprocess.Popen([sys.executable, '-c', {WRITER!r}, {str(live_store)!r}])\n"
            "live"
        ),
    ]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    def __init__(self, url: str, token: str, root: Path) -> None:
        self.url, self.token, self.root = url, token, root

    def lab(self, notebook: str) -> str:
        return f"{self.url}/lab/tree/{notebook}?token={self.token}&reset"

    def voila(self, notebook: str) -> str:
        return f"{self.url}/voila/render/{notebook}?token={self.token}"


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    """A JupyterLab server (as root: --allow-root) on loopback over a temporary notebook folder."""
    root = tmp_path_factory.mktemp("lab")
    notebooks = root / "notebooks"
    notebooks.mkdir()
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):  # a copy, as a user's checkout would have
        shutil.copy(notebook, notebooks)
    (root / "benchmarks").symlink_to(ROOT / "benchmarks")  # 07 finds `benchmarks/` beside its folder
    (root / "pyproject.toml").write_text("")  # a repository root: the notebooks write to <lab>/runs/, not the checkout's
    write_lab_notebook(notebooks / "lab_widgets.ipynb", root / "live.jsonl")
    settings = root / "settings"  # every cell stays in the DOM (no windowing); no news pop-up
    for name, value in {"notebook-extension/tracker": {"windowingMode": "none"},
                        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}}.items():
        target = settings / "@jupyterlab" / f"{name}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(value))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(root / "config"), JUPYTERLAB_WORKSPACES_DIR=str(root / "ws"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    log = (root / "lab.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--allow-root", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={notebooks}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         f"--LabApp.workspaces_dir={root / 'ws'}", f"--LabApp.user_settings_dir={settings}"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=notebooks,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"JupyterLab did not start:\n{(root / 'lab.log').read_text()[-3000:]}") from None
            time.sleep(0.5)
    yield Lab(url, token, root)
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
