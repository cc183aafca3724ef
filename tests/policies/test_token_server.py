"""ServerGenerator against the scripted server's vLLM-shaped /v1/completions on loopback: token-in/token-out
episodes through the engine, and which failures are retried.

The episodes use the embedded model's tokenizer (no weights); the server replies with scripted ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from agent_gym import Task, run_rollouts
from agent_gym.envs.calculator import CalculatorEnv, make_tasks
from agent_gym.errors import PolicyError
from agent_gym.policies.token_server import ServerGenerator
from agent_gym.policies.tokens import TokenPolicy
from agent_gym.testing.samples import THINK_ANSWER, THINK_CALL, odd_ids
from agent_gym.testing.scripted_server import (
    ScriptedServer,
    ScriptedServerConfig,
    scripted_token_completion,
    serve_scripted,
)

# Two different prompts with the same sum, so that both episodes succeed on the same scripted replies.
TASKS = [make_tasks(1)[0], Task(id="calc-sum", prompt="What is 51 + 99?", answer="150")]




@pytest.fixture(scope="module")
def turns(tokenizer) -> list[list[int]]:
    return [odd_ids(tokenizer, THINK_CALL), odd_ids(tokenizer, THINK_ANSWER)]


@pytest.fixture(scope="module")
def servers(tokenizer, turns) -> Iterator[dict[str, ScriptedServer]]:
    """Scripted servers replying with `turns` (real child processes, started in parallel)."""
    script = {"token_replies": turns, "eos_id": tokenizer.eos_token_id,
              "assistant_header": tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]}
    options: dict[str, dict[str, Any]] = {
        "tokens": script,
        "no_ids": {**script, "omit_token_ids": True},
        # seed 49 draws: 500, ok, disconnect, ok, ...: each of the two turns fails once first
        "flaky": {**script, "fault_rate": 0.5, "faults": ["429", "500", "disconnect"], "seed": 49},
        "down": {**script, "fault_rate": 1.0, "faults": ["500"]},
    }
    with ExitStack() as stack, ThreadPoolExecutor(len(options)) as pool:
        started = {name: pool.submit(stack.enter_context, serve_scripted(**kw)) for name, kw in options.items()}
        yield {name: future.result() for name, future in started.items()}


def play(server: ScriptedServer, tokenizer, **options: Any):
    generator = ServerGenerator(server.base_url, "scripted", **options)
    try:
        policy = TokenPolicy(generator, tokenizer, max_turn_tokens=200, max_completion_tokens=600)
        return run_rollouts(CalculatorEnv(), policy, TASKS, max_concurrency=2, progress=False)
    finally:
        generator.close()


def test_episodes_keep_the_servers_ids_exactly(servers, tokenizer, turns) -> None:
    assert tokenizer(tokenizer.decode(turns[0]), add_special_tokens=False)["input_ids"] != turns[0]  # re-encoding drifts
    server = servers["tokens"]
    server.reset_stats()
    run = play(server, tokenizer)
    for t in run:
        assert t.error is None and t.success and t.tokens is not None and t.policy_info["tokens"] is True
        ids, mask = t.tokens.completion_ids, t.tokens.env_mask
        assert [i for i, m in zip(ids, mask, strict=True) if m == 1] == turns[0] + turns[1]  # never re-encoded
        assert [lp for lp, m in zip(t.tokens.logprobs, mask, strict=True) if m == 1] == [-0.5] * len(turns[0] + turns[1])
        env_text = tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m == 0])
        assert env_text == "\n<|im_start|>user\n<tool_response>\n150\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
    assert run[0].tokens.prompt_ids != run[1].tokens.prompt_ids
    stats = server.stats()
    assert stats["requests"] == stats["completions"] == 2  # one batched call per turn for both episodes


def test_a_server_without_token_ids_gives_a_clear_error(servers, tokenizer) -> None:
    for t in play(servers["no_ids"], tokenizer):
        assert t.error is not None and t.error.kind == "PolicyError"
        assert "does not return token ids" in t.error.message and "vLLM >= 0.10.2" in t.error.message
        assert "OpenAIPolicy" in t.error.message


def test_transport_errors_429_and_5xx_are_retried(servers, tokenizer) -> None:
    server = servers["flaky"]
    server.reset_stats()
    assert all(t.success for t in play(server, tokenizer))
    stats = server.stats()
    assert stats["completions"] == 2 and stats["faults"]["500"] == stats["faults"]["disconnect"] == 1

    down = servers["down"]
    down.reset_stats()
    generator = ServerGenerator(down.base_url, "scripted", max_retries=2)
    with pytest.raises(PolicyError, match="failed 3 times; the last time it answered 500: injected fault"):
        generator.generate([[1, 2, 3]], 4)
    assert down.stats()["requests"] == 3


def test_a_rejected_request_fails_at_once_with_the_servers_message(servers) -> None:
    server = servers["tokens"]
    server.reset_stats()
    generator = ServerGenerator(server.base_url, "scripted", max_retries=3)
    with pytest.raises(PolicyError, match=r"rejected the request \(400\).*non-empty list of token ids"):
        generator.generate([[]], 4)
    stats = server.stats()
    assert stats["requests"] == stats["bad_requests"] == 1  # not retried


def test_a_server_that_re_tokenizes_the_prompt_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        choice = {"index": 0, "text": "hi", "token_ids": [5, 2], "prompt_token_ids": [1, 9],
                  "logprobs": {"token_logprobs": [-0.1, -0.2]}, "finish_reason": "stop"}
        return httpx.Response(200, json={"choices": [choice]})

    generator = ServerGenerator("http://server.invalid/v1", "m")
    generator._client = httpx.Client(transport=httpx.MockTransport(handler))
    with pytest.raises(PolicyError, match="re-tokenized the prompt"):
        generator.generate([[1, 2, 3]], 4)
    assert generator.sampling == {"model": "m", "temperature": 1.0, "top_p": 1.0} and not generator.keep_going(0)


def test_scripted_completions_pick_the_reply_of_each_prompts_turn() -> None:
    config = ScriptedServerConfig(token_replies=[[1, 2], [4, 5, 2]], assistant_header=[7, 8], eos_id=2)
    body = {"prompt": [[3, 7, 8], [7, 8, 1, 2, 7, 8], [7, 8, 7, 8, 7, 8]], "max_tokens": 2, "logprobs": 1,
            "return_token_ids": True}
    answer = scripted_token_completion(body, config)
    choices = sorted(answer["choices"], key=lambda c: c["index"])
    assert [c["index"] for c in answer["choices"]] == [2, 1, 0]  # clients must sort by index
    assert [c["token_ids"] for c in choices] == [[1, 2], [4, 5], [4, 5]]  # turns 0, 1 and 2 (clamped to the last)
    assert [c["finish_reason"] for c in choices] == ["stop", "length", "length"]
    assert [c["prompt_token_ids"] for c in choices] == body["prompt"] and choices[0]["logprobs"]["token_logprobs"] == [-0.5] * 2
    assert answer["usage"] == {"prompt_tokens": 15, "completion_tokens": 6, "total_tokens": 21}
    assert "token_ids" not in scripted_token_completion({**body, "return_token_ids": False}, config)["choices"][0]
    assert ScriptedServerConfig.from_argv(config.to_argv()) == (config, False)
