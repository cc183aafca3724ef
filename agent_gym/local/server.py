"""Serve the embedded model (or any saved HF folder) behind an OpenAI-compatible server on loopback.

`serve_local_model()` runs `transformers serve` as a child process in its own process group on a
free 127.0.0.1 port, waits until it is healthy and stops the whole group when the block exits —
normally, on an exception, or on KeyboardInterrupt (an interrupted notebook cell). A watchdog in the
child also ends it if this process dies without cleaning up (e.g. a killed kernel).

The folder is exposed to the server through a throwaway Hugging Face hub-cache view (symlinks), with
`HF_HUB_OFFLINE=1`, so the server loads it offline under a clean model id that `/v1/models` lists.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from agent_gym.errors import ConfigError
from agent_gym.local.files import SERVED_MODEL_ID, local_model_dir, prepare_local_model

LOCAL_SERVER_ACCEPTED_PARAMS: frozenset[str] = frozenset({
    "max_tokens", "max_completion_tokens", "temperature", "top_p", "seed", "stop",
    "frequency_penalty", "logit_bias", "tools", "stream", "chat_template_kwargs", "generation_config",
})
"""Chat-completion request fields (besides `model` and `messages`) that `transformers serve` (5.23)
honours. Checked against the live server in tests. Notes: `temperature=0` means greedy; `seed`
re-seeds torch globally; `frequency_penalty` becomes `repetition_penalty = 1 + value`."""

LOCAL_SERVER_IGNORED_PARAMS: frozenset[str] = frozenset({
    "audio", "function_call", "functions", "logprobs", "metadata", "modalities", "n",
    "parallel_tool_calls", "prediction", "presence_penalty", "reasoning_effort", "response_format",
    "service_tier", "store", "stream_options", "tool_choice", "top_logprobs", "user", "web_search_options",
})
"""OpenAI fields the server accepts but silently ignores (one warning in its log): `n=4` returns ONE
choice, `logprobs=True` returns none. Send n requests instead. Any field outside the OpenAI schema
(`top_k`, `min_p`, `repetition_penalty`, …) is rejected with HTTP 422."""

# Runs in the child: if our parent dies (reparenting changes getppid), remove the work dir and kill
# the server's process group; meanwhile run the transformers CLI.
_CHILD_CODE = """
import os, shutil, signal, sys, threading, time
parent = int(sys.argv[1])
def watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    shutil.rmtree(os.path.dirname(os.environ["HF_HUB_CACHE"]), ignore_errors=True)
    os.killpg(0, signal.SIGKILL)
threading.Thread(target=watch, daemon=True).start()
sys.argv = ["transformers", *sys.argv[2:]]
from transformers.cli.transformers import main
sys.exit(main())
"""

_LIVE: dict[int, subprocess.Popen[bytes]] = {}
"""Servers started by this process, stopped at interpreter exit if a block never ended."""


@dataclass(frozen=True)
class LocalServer:
    """A running local OpenAI-compatible server."""

    base_url: str
    """Base URL for OpenAI clients, e.g. `http://127.0.0.1:38211/v1`."""
    model: str
    """Model name to put in requests."""
    port: int
    """The loopback port it listens on."""
    pid: int
    """Process id of the server; also its process-group id."""
    model_dir: Path
    """The HF folder being served."""
    log_path: Path
    """The server's combined stdout/stderr (deleted when the server stops)."""
    accepted_params: frozenset[str] = LOCAL_SERVER_ACCEPTED_PARAMS
    """Request fields the server honours (pass to `OpenAIPolicy(accepted_params=...)`)."""
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    def alive(self) -> bool:
        """True while the server process runs."""
        return self._process is not None and self._process.poll() is None

    def logs(self, lines: int = 40) -> str:
        """The last `lines` lines of the server's log."""
        return _tail(self.log_path, lines)


@contextlib.contextmanager
def serve_local_model(
    model_dir: str | os.PathLike[str] | None = None,
    port: int | None = None,
    *,
    model_name: str | None = None,
    native_tool_calls: bool = False,
    threads: int | None = 1,
    startup_timeout: float = 180.0,
    log_level: str = "warning",
) -> Iterator[LocalServer]:
    """Serve a model folder with `transformers serve` on 127.0.0.1 for the duration of a `with` block.

    Args:
        model_dir: HF model folder (default: the embedded model, materialized on first use).
            A fine-tuned checkpoint folder works too.
        port: Port to listen on (default: a free one).
        model_name: Model id for requests, `org/name` (default: `agent-gym/smollm2-135m-instruct`
            for the embedded model, `local/<folder name>` otherwise).
        native_tool_calls: Let the server parse `<tool_call>` blocks into OpenAI `tool_calls`. Off by
            default: transformers serve answers HTTP 500 when a call's JSON is malformed (weak models
            often write such calls); with it off the raw text comes back and `OpenAIPolicy` parses it,
            turning a malformed call into an error message the model can read.
        threads: CPU threads for the server's torch (None: torch's default, one per core). One
            thread is the default because two-thread OpenMP collapses when anything else uses the
            CPU (measured here: 20-70 s instead of 1.5 s for a 32-token reply on a busy 2-core box).
        startup_timeout: Seconds to wait for the server to become healthy.
        log_level: The server's log level (`info` logs every request).
    """
    folder = Path(model_dir).expanduser().resolve() if model_dir is not None else prepare_local_model()
    if not (folder / "config.json").is_file():
        raise ConfigError(f"{folder} is not a Hugging Face model folder (no config.json); "
                          "pass a folder written by save_pretrained, or None for the embedded model.")
    name = model_name or (SERVED_MODEL_ID if folder == local_model_dir().resolve() else _default_name(folder))
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", name) or "--" in name or ".." in name:
        raise ConfigError(f"model_name must look like 'org/name' (letters, digits, . _ -; no '--' or '..'), "
                          f"got {name!r}.")
    workdir = Path(tempfile.mkdtemp(prefix="agent_gym_serve_"))
    process: subprocess.Popen[bytes] | None = None
    try:
        _make_hub_view(workdir / "hub", name, folder, native_tool_calls)
        for attempt in range(3):
            chosen = port or _free_port()
            log_path = workdir / f"server-{chosen}.log"
            process = _launch(workdir / "hub", name, chosen, log_path, log_level, threads)
            if _wait_healthy(process, chosen, log_path, startup_timeout, retry_on_port_clash=port is None and attempt < 2):
                break
            _stop(process)  # lost a race for the port: try another
        assert process is not None
        yield LocalServer(f"http://127.0.0.1:{chosen}/v1", name, chosen, process.pid, folder, log_path,
                          _process=process)
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


def _default_name(folder: Path) -> str:
    """`local/<folder name>`, made a valid hub repo id."""
    stem = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9_.]+", "-", folder.name)).strip("-.")[:64]
    return "local/" + (stem or "model")


def _make_hub_view(hub: Path, name: str, folder: Path, native_tool_calls: bool) -> None:
    """A hub-cache layout (`models--org--name/{refs,snapshots}`) whose files link into `folder`."""
    revision = hashlib.sha1(str(folder).encode()).hexdigest()
    repo = hub / ("models--" + name.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    for item in folder.iterdir():
        if item.name.startswith("."):
            continue
        if item.name == "tokenizer_config.json" and not native_tool_calls:
            config = json.loads(item.read_text())
            config.pop("response_template", None)  # the server parses tool calls only if it is set
            (snapshot / item.name).write_text(json.dumps(config, indent=2))
        else:
            (snapshot / item.name).symlink_to(item)


def _launch(hub: Path, name: str, port: int, log_path: Path, log_level: str,
            threads: int | None) -> subprocess.Popen[bytes]:
    """Start `transformers serve` in a new session (so its own process group)."""
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "HF_HUB_DISABLE_UPDATE_CHECK": "1", "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    if threads is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    args = [sys.executable, "-c", _CHILD_CODE, str(os.getpid()), "serve", name, "--host", "127.0.0.1",
            "--port", str(port), "--log-level", log_level]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   env=env, start_new_session=True)
    _LIVE[process.pid] = process
    return process


def _wait_healthy(process: subprocess.Popen[bytes], port: int, log_path: Path, timeout: float,
                  retry_on_port_clash: bool) -> bool:
    """Poll `/health` until it answers 200. False if the port was taken and a retry is allowed."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/health"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = _tail(log_path, 30)
            if retry_on_port_clash and "address already in use" in log.lower():
                return False
            raise ConfigError(f"The local model server exited with code {process.returncode} before it was "
                              f"ready. Its last log lines:\n{log}")
        try:
            with opener.open(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"The local model server was not healthy after {timeout:.0f} s (raise startup_timeout "
                       f"if the machine is busy). Its last log lines:\n{_tail(log_path, 30)}")


def _stop(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the server's process group, SIGKILL it after `grace` s; a Ctrl-C here skips to SIGKILL."""
    interrupted = None
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt as exc:  # finish the cleanup first, then re-raise
            interrupted = exc
    _LIVE.pop(process.pid, None)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # stragglers in the group, if any
    if interrupted is not None:
        raise interrupted


def _stop_all() -> None:
    for process in list(_LIVE.values()):
        _stop(process, grace=2.0)


atexit.register(_stop_all)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_bytes().decode(errors="replace")
    except OSError:
        return "(no log)"
    # progress bars rewrite one line with \r; keep the last state of each line
    rows = [row.rsplit("\r", 1)[-1] for row in text.splitlines()]
    return "\n".join(rows[-lines:])
