"""The HTTP rules of OpenAI-compatible servers: the SDK's retry waits and error text (which
`OpenAIPolicy._post` follows), and the check before a run that a server is there at all."""

from __future__ import annotations

import difflib
import email.utils
import json
import math
import random
import time
from collections.abc import Mapping

import aiohttp

from agent_gym.errors import PolicyError

_MAX_RETRY_AFTER = 120.0


def retry_wait(status: int, headers: Mapping[str, str], retry: int) -> float | None:
    """Seconds to wait before retrying a reply with this status, or None not to retry (the SDK's rules)."""
    after = _retry_after(headers)
    if after is not None and math.isfinite(after) and after > _MAX_RETRY_AFTER:
        return None
    should = headers.get("x-should-retry")
    if should in ("true", "false"):
        retry_it = should == "true"
    else:
        retry_it = status in (408, 409, 429) or status >= 500
    if not retry_it:
        return None
    return after if after is not None and 0 < after <= _MAX_RETRY_AFTER else backoff(retry)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """`retry-after-ms`, else `Retry-After` (seconds or an HTTP date), in seconds."""
    for header, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        try:
            return float(headers[header]) / divisor
        except (KeyError, ValueError):
            continue
    try:
        return email.utils.mktime_tz(email.utils.parsedate_tz(headers["retry-after"])) - time.time()  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def backoff(retry: int) -> float:
    """The SDK's wait before retry number `retry`: 0.5 s × 2^retry, at most 8 s, less up to 25% jitter."""
    return min(0.5 * 2.0**retry, 8.0) * (1 - 0.25 * random.random())


def status_error(status: int, content: bytes) -> str:
    """The SDK's APIStatusError text: `Error code: 429 - <the body's error message>`."""
    try:
        body = json.loads(content)
        error = body.get("error", body) if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
    except ValueError:
        message = None
    return f"Error code: {status}" + (f" - {message}" if isinstance(message, str) and message else "")


async def check_server(base_url: str, model: str, api_key: str, *, timeout: float = 15.0) -> None:
    """PolicyError naming `base_url`, `model` and what to check when nothing answers at `base_url`, the key is
    refused, or the server's `/models` list does not hold `model` (with close matches). A server without
    `/models`, or one answering it with a server error, is let through: a run's own retries handle
    transient trouble."""
    url = f"{base_url.rstrip('/')}/models"
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout), trust_env=True) as session:
            async with session.get(url, headers=headers) as reply:
                status, content = reply.status, await reply.read()
    except aiohttp.ClientConnectorError as exc:
        raise PolicyError(f"Nothing answers at {base_url} ({exc.os_error or exc}) for model {model!r}: start the "
                          "server, or check --base-url / base_url (host, port, the /v1 suffix).") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise PolicyError(f"The model server at {base_url} did not answer a /models request "
                          f"({type(exc).__name__}: {exc or 'timed out'}); check that it is up and reachable.") from None
    if status in (401, 403):
        raise PolicyError(f"The model server at {base_url} refused the API key (HTTP {status}); check --api-key / "
                          "$OPENAI_API_KEY.")
    if status >= 400:
        return  # no /models here (404), or a transient error
    try:
        served = [m["id"] for m in json.loads(content)["data"] if isinstance(m, Mapping)]
    except (ValueError, KeyError, TypeError):
        return
    if served and model not in served:
        close = difflib.get_close_matches(model, served, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        shown = ", ".join(map(repr, served[:10])) + (" …" if len(served) > 10 else "")
        raise PolicyError(f"The model server at {base_url} does not serve model {model!r}; it serves {shown}."
                          f"{hint} Check --model / model.")
