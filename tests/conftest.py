"""Fixtures shared by the whole suite. Tests mirror the packages (`tests/<package>/test_<module>.py`);
`browser/` (a real chromium) and `golden/` (outputs recorded before a refactor) stay apart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The embedded model's folder; the test is skipped when TRL is missing or the model is not prepared."""
    pytest.importorskip("trl")
    from agent_gym.local import is_prepared, local_model_dir

    if not is_prepared(local_model_dir()):
        pytest.skip("the embedded model is not prepared (make setup prepares it)")
    return local_model_dir()


@pytest.fixture(scope="module")
def scripted_server() -> Iterator[object]:
    """A real OpenAI-compatible server on loopback answering from a script (`agent_gym.testing`)."""
    from agent_gym.testing.scripted_server import serve_scripted

    with serve_scripted() as server:
        yield server


@pytest.fixture(scope="session")
def tokenizer():
    """The embedded model's tokenizer (no weights); skips when the model is not prepared."""
    from agent_gym.local.files import is_prepared, local_model_dir

    if not is_prepared(local_model_dir()):
        pytest.skip("the embedded model is not prepared (make setup prepares it)")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(local_model_dir())
