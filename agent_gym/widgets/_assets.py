"""Where the front-end files are: `widgets/` of the checkout, or `static/` inside an installed package."""

from __future__ import annotations

from functools import cache
from pathlib import Path

ESM_NAME = "agent_gym.js"
CSS_NAME = "agent_gym.css"
# Script files of plain function declarations (no imports or exports), prepended to the module so its
# views can call them: each view that grows large keeps its own file.
ESM_PARTS: tuple[str, ...] = ("token_lens.js",)
# Stylesheets of those views, appended to `agent_gym.css` (they use its `--ag-*` theme variables).
CSS_PARTS: tuple[str, ...] = ("token_lens.css",)


@cache
def assets_dir() -> Path:
    """The folder holding `agent_gym.js` and `agent_gym.css`."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "static", here.parent.parent / "widgets"):
        if (candidate / ESM_NAME).is_file():
            return candidate
    raise FileNotFoundError(
        f"agent_gym's widget front-end ({ESM_NAME}) is missing: looked in {here / 'static'} and "
        f"{here.parent.parent / 'widgets'}. Reinstall agent_gym from a checkout."
    )


def esm_path() -> Path:
    return assets_dir() / ESM_NAME


def css_path() -> Path:
    return assets_dir() / CSS_NAME


def esm_text() -> str:
    """The widgets' ES module: the parts in `ESM_PARTS` that exist, then `agent_gym.js`."""
    parts = [assets_dir() / name for name in ESM_PARTS]
    texts = [p.read_text(encoding="utf-8") for p in parts if p.is_file()]
    return "\n".join([*texts, esm_path().read_text(encoding="utf-8")])


def css_text() -> str:
    """The widgets' stylesheet: `agent_gym.css`, then the parts in `CSS_PARTS` that exist."""
    parts = [assets_dir() / name for name in CSS_PARTS]
    texts = [p.read_text(encoding="utf-8") for p in parts if p.is_file()]
    return "\n".join([css_path().read_text(encoding="utf-8"), *texts])
