"""The in-process generator on the embedded model: the turn cache continues the last call's key/value cache
and gives the ids a whole re-run gives; through the one engine, episodes are the same with and without it."""

from __future__ import annotations

import pytest

from agent_gym import run_rollouts
from agent_gym.envs.calculator import CalculatorEnv, make_tasks
from agent_gym.policies.hf_generator import HFGenerator
from agent_gym.policies.tokens import TokenPolicy

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def model(model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()


def test_the_turn_cache_continues_the_last_call_and_generates_the_same_ids(model, tokenizer):
    def encode(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    prompts = [encode("<|im_start|>user\nCount to five.<|im_end|>\n<|im_start|>assistant\n"),
               encode("<|im_start|>user\nName three colours of the rainbow.<|im_end|>\n<|im_start|>assistant\n")]
    suffix = encode("\n<|im_start|>user\nAgain, shorter.<|im_end|>\n<|im_start|>assistant\n")
    runs = {}
    for cache in (False, True):
        generator, turn, calls = HFGenerator(model, tokenizer, temperature=0, turn_cache=cache), prompts, []
        for _ in range(3):
            outputs = generator.generate(turn, 16)
            calls.append(outputs)
            turn = [p + o.ids + suffix for p, o in zip(turn, outputs, strict=True)]
        runs[cache] = (calls, generator.cache_hits)
    (plain, no_hits), (cached, hits) = runs[False], runs[True]
    assert no_hits == 0 and hits == 2  # turns 2 and 3 ran only their new ids
    assert [[o.ids for o in call] for call in cached] == [[o.ids for o in call] for call in plain]
    for a, b in zip(cached, plain, strict=True):
        for x, y in zip(a, b, strict=True):
            assert x.logprobs == pytest.approx(y.logprobs, abs=1e-3)
    generator = HFGenerator(model, tokenizer, temperature=0, turn_cache=True)
    generator.generate(prompts, 4)
    generator.generate([encode("<|im_start|>user\nSomething else.<|im_end|>\n<|im_start|>assistant\n")], 4)
    assert generator.cache_hits == 0  # a prompt that continues no cached sequence runs whole


def test_episodes_through_the_engine_are_the_same_with_the_turn_cache(model, tokenizer):
    tasks = make_tasks(2)
    played = {}
    for cache in (False, True):
        generator = HFGenerator(model, tokenizer, temperature=0, turn_cache=cache)
        policy = TokenPolicy(generator, tokenizer, max_turn_tokens=48, max_completion_tokens=200)
        played[cache] = (run_rollouts(CalculatorEnv(), policy, tasks, max_turns=3, max_concurrency=2, progress=False),
                         generator.cache_hits, policy.generate_calls)
    (plain, _, calls), (cached, hits, _) = played[False], played[True]
    assert [t.tokens.completion_ids for t in cached] == [t.tokens.completion_ids for t in plain]
    assert [t.messages for t in cached] == [t.messages for t in plain]
    assert hits == calls - 1  # every turn after the first continued the cache
