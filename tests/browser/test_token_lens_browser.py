"""The token lens in chromium: a static page (light and dark) and JupyterLab (Light and Dark), with the
planted drift of `tests/train/test_drift.py` marked at its token, every text at WCAG contrast, screenshots
kept (`token_lens_*.png` in the artifacts folder)."""

from __future__ import annotations

import inspect
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from playwright.sync_api import expect
from test_themes import _choose_theme, _put_theme, contrast_failures, describe


def planted_episode():
    """A calculator episode played with a template that renders its tool response otherwise in context,
    its lens (drift marked, an advantage given) and the drift's position."""
    import copy

    from transformers import AutoTokenizer

    from agent_gym import run_rollouts
    from agent_gym.envs.calculator import CalculatorEnv, make_tasks
    from agent_gym.local.files import local_model_dir
    from agent_gym.testing.samples import THINK_ANSWER, THINK_CALL
    from agent_gym.train import ScriptedGenerator, TokenPolicy
    from agent_gym.train.drift import check_drift

    tokenizer = AutoTokenizer.from_pretrained(local_model_dir())
    planted = copy.deepcopy(tokenizer)
    end = "{{- '\\n</tool_response>' }}"
    planted.chat_template = tokenizer.chat_template.replace(end, end + "{%- if not loop.last %}{{- '\\n' }}{%- endif %}")
    replies = [tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for t in (THINK_CALL, THINK_ANSWER)]
    policy = TokenPolicy(ScriptedGenerator(replies), planted, max_turn_tokens=200, max_completion_tokens=600)
    [episode] = run_rollouts(CalculatorEnv(), policy, make_tasks(1), max_turns=4, progress=False)
    drift = check_drift([episode], planted).episodes[0]
    return episode, planted, drift


@pytest.fixture(scope="module")
def planted():
    return planted_episode()


def _check_modes(page, where: str, problems: list[str]) -> int:
    """Contrast in each colouring of the lens; returns how many texts were checked."""
    checked = 0
    lens = page.locator(".ag-lens").first
    for mode in ("mask", "lp", "adv"):
        lens.locator(f"[data-mode={mode}]").click()
        expect(lens).to_have_class(re.compile(f"ag-lens-mode-{mode}"))
        every, failures = contrast_failures(page)
        checked += len(every)
        if failures:
            problems.append(f"{where}, {mode}: {describe(failures)}")
    lens.locator("[data-mode=mask]").click()
    return checked


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_lens_on_a_static_page_marks_the_drift_and_is_readable(page, planted, tmp_path, artifacts, scheme):
    from agent_gym.widgets.export.page import write_page
    from agent_gym.widgets.ui.token_lens import lens_section

    episode, tokenizer, drift = planted
    path = write_page([lens_section(episode, tokenizer, drift=drift, advantage=0.8)], tmp_path / "lens.html", title="Token lens")
    page.emulate_media(color_scheme=scheme)
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-rendered=true]")
    lens = page.locator(".ag-lens")
    marked = lens.locator(".ag-tok-drift")
    expect(marked).to_have_count(1)
    assert int(marked.get_attribute("data-i")) == drift.divergence.position  # the right token
    assert marked.inner_text() == "<|im_end|>"
    expect(lens.locator("[data-role=drift]")).to_contain_text("whitespace after a tool response")
    lens.locator(".ag-lens-jump-drift").click()
    expect(lens.locator(".ag-lens-inspect")).to_contain_text(f"#{drift.divergence.position} · id ")
    expect(lens.locator(".ag-tok-pinned")).to_have_attribute("data-i", str(drift.divergence.position))
    lens.locator(".ag-tok-call").first.hover()
    expect(lens.locator(".ag-lens-inspect")).to_contain_text("tool call calculate(expression='51 + 99')")
    problems: list[str] = []
    checked = _check_modes(page, f"static page ({scheme})", problems)
    lens.locator(".ag-lens-jump-drift").click()
    shown = page.evaluate("""() => { const s = document.querySelector('.ag-lens-seq').getBoundingClientRect();
        const t = document.querySelector('.ag-tok-drift').getBoundingClientRect();
        return t.top >= s.top && t.bottom <= s.bottom; }""")
    assert shown, "the jump did not bring the divergence into the sequence's view"
    page.screenshot(path=artifacts / f"token_lens_static_{scheme}.png", full_page=True)
    dark = page.evaluate("getComputedStyle(document.querySelector('.ag-lens')).backgroundColor")
    assert (dark == "rgb(13, 17, 23)") == (scheme == "dark"), dark
    assert checked > 300 and not problems, "\n\n".join(problems)
    assert not page.problems


@pytest.mark.timeout(600)
def test_the_lens_in_jupyterlab_light_and_dark(page, lab_server, artifacts):
    source = inspect.getsource(planted_episode)
    cell = (source + "\nfrom agent_gym.widgets.ui.token_lens import TokenLens\n"
            "episode, planted, drift = planted_episode()\nTokenLens(episode, planted, drift=drift, advantage=0.8)")
    nb = new_notebook(cells=[new_code_cell(cell)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, lab_server.root / "notebooks" / "token_lens.ipynb")
    _put_theme(lab_server, None)  # JupyterLab Light
    page.emulate_media(color_scheme="dark")  # the system's preference must not override JupyterLab's theme
    problems: list[str] = []
    try:
        page.goto(lab_server.lab("token_lens.ipynb"), timeout=120_000)
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        page.get_by_text(re.compile(r"\| Idle")).first.wait_for(timeout=120_000)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        lens = page.locator(".ag-root .ag-lens").first
        lens.wait_for(timeout=180_000)
        expect(lens.locator(".ag-tok-drift")).to_have_count(1)
        for theme, shot in (("JupyterLab Light", "light"), ("JupyterLab Dark", "dark")):
            if theme != "JupyterLab Light":
                _choose_theme(page, theme)
            else:
                page.wait_for_function("document.body.dataset.jpThemeName === 'JupyterLab Light'", timeout=60_000)
            _check_modes(page, theme, problems)
            lens.locator(".ag-lens-jump-drift").click()
            lens.screenshot(path=artifacts / f"token_lens_lab_{shot}.png")
            bg = lens.evaluate("e => getComputedStyle(e).backgroundColor")
            assert (bg in ("rgb(255, 255, 255)",)) == (shot == "light"), (theme, bg)
    finally:
        _put_theme(lab_server, None)
    assert not problems, "\n\n".join(problems)
    assert not page.problems
