"""`ServerGenerator`: token-in/token-out generation through an OpenAI-compatible completions server (a
`tokens.Generator`).

It sends prompt ids and reads back the generated ids, as vLLM's OpenAI server does from version 0.10.2 with
`return_token_ids`: one batched `POST {base_url}/completions` per turn, so the ids are never decoded and
re-encoded on either side. Transport errors, 429 and 5xx answers (and truncated bodies) are retried with
backoff; any other error fails at once with the server's message.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx

from agent_gym.errors import ConfigError, PolicyError
from agent_gym.policies.tokens import Generation

_NO_TOKEN_IDS = ("{url} does not return token ids (no `token_ids` in its completion choices). Serve the model "
                 "with vLLM >= 0.10.2, which returns them for `return_token_ids: true`, or play text "
                 "episodes with an OpenAIPolicy instead.")


class ServerGenerator:
    """Generation by an OpenAI-compatible completions server that takes and returns token ids.

    Args:
        base_url: The server's URL ending in `/v1` (e.g. `http://127.0.0.1:8000/v1`).
        model: The model name sent with each request.
        api_key: Sent as a bearer token when given.
        temperature, top_p: Sampling settings sent with each request.
        max_retries: Retries of a call after a transport error, a 429 or a 5xx answer.
        timeout: Seconds per HTTP request.
        extra_body: More request fields (e.g. `{"top_k": 20, "seed": 0}`); they override the ones above.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, temperature: float = 1.0,
                 top_p: float = 1.0, max_retries: int = 3, timeout: float = 120.0,
                 extra_body: dict[str, Any] | None = None) -> None:
        if max_retries < 0 or timeout <= 0:
            raise ConfigError("max_retries must be >= 0 and timeout > 0.")
        self.url = base_url.rstrip("/") + "/completions"
        self.model = model
        self.temperature = temperature
        self.top_p = top_p
        self.max_retries = max_retries
        self.extra_body = dict(extra_body or {})
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers)

    def __repr__(self) -> str:
        return f"ServerGenerator(url={self.url!r}, model={self.model!r})"

    @property
    def sampling(self) -> dict[str, Any]:
        """The sampling settings to record (pass them as `TokenPolicy(sampling=…)`)."""
        return {"model": self.model, "temperature": self.temperature, "top_p": self.top_p}

    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        if not prompts:
            return []
        sent = [list(p) for p in prompts]
        body = {"model": self.model, "prompt": sent, "max_tokens": max_new_tokens, "temperature": self.temperature,
                "top_p": self.top_p, "logprobs": 1, "return_token_ids": True, **self.extra_body}
        choices = sorted(self._post(body).get("choices") or [], key=lambda c: c.get("index", 0))
        if [c.get("index", 0) for c in choices] != list(range(len(sent))):
            raise PolicyError(f"{self.url} answered {len(choices)} choices for {len(sent)} prompts.")
        out = []
        for prompt, choice in zip(sent, choices, strict=True):
            ids = choice.get("token_ids")
            if ids is None or choice.get("prompt_token_ids") is None:
                raise PolicyError(_NO_TOKEN_IDS.format(url=self.url))
            if list(choice["prompt_token_ids"]) != prompt:
                raise PolicyError(f"{self.url} re-tokenized the prompt: the prompt ids it used differ from those "
                                  f"sent ({len(choice['prompt_token_ids'])} ids for {len(prompt)}).")
            logprobs = (choice.get("logprobs") or {}).get("token_logprobs")
            if logprobs is None or len(logprobs) != len(ids):
                raise PolicyError(f"{self.url} returned {len(logprobs or ())} logprobs for {len(ids)} token ids; "
                                  "it must honour `logprobs: 1`.")
            out.append(Generation(list(ids), [float(lp) for lp in logprobs]))
        return out

    def keep_going(self, active: int) -> bool:
        return active > 0

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        """The decoded answer to `body`, retrying what a later attempt can fix."""
        failure, delay = "", 0.0
        for attempt in range(self.max_retries + 1):
            time.sleep(delay)
            try:
                response = self._client.post(self.url, json=body)
            except httpx.TransportError as exc:
                failure, delay = f"could not be reached ({exc!r})", _delay(attempt, None)
                continue
            if response.status_code == 429 or response.status_code >= 500:
                failure, delay = f"answered {response.status_code}: {_message(response)}", _delay(attempt, response)
                continue
            if response.is_error:
                raise PolicyError(f"{self.url} rejected the request ({response.status_code}): {_message(response)}")
            try:
                answer = response.json()
            except ValueError as exc:  # a truncated body
                failure, delay = f"answered a malformed body ({exc!r})", _delay(attempt, None)
                continue
            if not isinstance(answer, dict):
                raise PolicyError(f"{self.url} answered {type(answer).__name__}, not a completion object.")
            return answer
        raise PolicyError(f"{self.url} failed {self.max_retries + 1} times; the last time it {failure}.")


def _message(response: httpx.Response) -> str:
    """The error message of an OpenAI-style error body, else the start of the body."""
    try:
        error = response.json().get("error")
        return str(error.get("message") if isinstance(error, dict) else error or response.text[:500])
    except (ValueError, AttributeError):
        return response.text[:500]


def _delay(attempt: int, response: httpx.Response | None) -> float:
    """Seconds to wait before retry `attempt + 1`: the server's `Retry-After` if it sent one, else exponential."""
    headers = response.headers if response is not None else {}
    for key, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return min(float(headers[key]) * scale, 60.0)
        except (KeyError, ValueError):
            pass
    return min(0.5 * 2**attempt, 8.0)
