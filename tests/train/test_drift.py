"""The drift check: recorded ids against the chat template's rendering of the same conversation.

A planted drift (a template that renders a tool response with other whitespace in context than when it
was appended after the generated turn) is found at the right token with a plain-words reason; episodes
played by the GRPO rollout (`MultiTurnRollout`) with the embedded model show none."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest

from agent_gym import run_rollouts
from agent_gym.envs.calculator import CalculatorEnv, make_tasks
from agent_gym.testing.samples import THINK_ANSWER, THINK_CALL, odd_ids
from agent_gym.train import ScriptedGenerator, TokenPolicy
from agent_gym.train.drift import check_drift, drift_metrics

TOOL_END = "{{- '\\n</tool_response>' }}"


def planted_template(tokenizer):
    """The tokenizer with a template that adds a newline after a tool response followed by more messages.

    When the reply was played, it was the last message rendered (`observation_ids`), so it had none."""
    planted = copy.deepcopy(tokenizer)
    assert TOOL_END in tokenizer.chat_template
    planted.chat_template = tokenizer.chat_template.replace(
        TOOL_END, TOOL_END + "{%- if not loop.last %}{{- '\\n' }}{%- endif %}")
    return planted


def canonical(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def play(tokenizer, replies, n=1):
    policy = TokenPolicy(ScriptedGenerator(replies), tokenizer, max_turn_tokens=200, max_completion_tokens=600)
    return list(run_rollouts(CalculatorEnv(), policy, make_tasks(n), max_turns=4, progress=False))


def test_a_planted_tool_response_drift_is_found_at_the_right_token(tokenizer, tmp_path):
    from agent_gym import TrajectoryStore

    planted = planted_template(tokenizer)
    [episode] = play(planted, [canonical(tokenizer, THINK_CALL), canonical(tokenizer, THINK_ANSWER)])
    store = TrajectoryStore(tmp_path / "run.jsonl")
    store.append(episode)
    report = check_drift(tmp_path / "run.jsonl", planted)
    assert report.checked == 1 and report.fraction == 1.0
    # the right token: the first id after the tool response's closing tag, in the environment's reply
    ids = [*episode.tokens.prompt_ids, *episode.tokens.completion_ids]
    expected = next(i for i in range(len(episode.tokens.prompt_ids), len(ids))
                    if planted.decode(ids[:i]).endswith("150\n</tool_response>"))
    drift = report.by_id(episode.id).divergence
    assert report.positions == [expected] and drift.position == expected
    assert drift.region == "environment" and drift.turn == 0
    assert drift.recorded_text.startswith("<|im_end|>") and drift.rendered_text.startswith("\n<|im_end|>")
    assert "whitespace after a tool response" in drift.reason and "'\\n'" in drift.reason
    assert "1 of 1 episodes" in report.summary() and f"token {expected}" in report.summary()
    # the same episode with the model's own template does not drift
    [clean] = play(tokenizer, [canonical(tokenizer, THINK_CALL), canonical(tokenizer, THINK_ANSWER)])
    assert check_drift([clean], tokenizer).fraction == 0.0


def test_reasons_for_dropped_think_blocks_and_non_canonical_ids(tokenizer):
    [episode] = play(tokenizer, [canonical(tokenizer, THINK_CALL), canonical(tokenizer, THINK_ANSWER)])
    parsed = check_drift([episode], tokenizer, assistant="parsed").episodes[0].divergence
    # a server re-rendering the parsed messages drops the reasoning the model generated
    assert parsed.region == "generated" and parsed.turn == 0 and "drops <think>" in parsed.reason
    assert parsed.position == len(episode.tokens.prompt_ids) + 1  # '<' is shared, 'think' is not
    [odd] = play(tokenizer, [odd_ids(tokenizer, THINK_CALL), odd_ids(tokenizer, THINK_ANSWER)])
    drift = check_drift([odd], tokenizer).episodes[0].divergence
    assert drift.position == len(odd.tokens.prompt_ids) + 1 and "same text, other token ids" in drift.reason
    assert drift.retokenized
    metrics = drift_metrics([episode, odd], tokenizer)
    assert metrics["drift/fraction"] == 0.5 and metrics["drift/episodes"] == metrics["drift/retokenized"] == 1.0
    assert metrics["drift/first_position"] == drift.position


def test_a_local_retokenization_is_told_apart_from_a_template_difference(tokenizer):
    from agent_gym.train.drift import _retokenized

    def ids(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    def decode(token_ids):
        return tokenizer.decode(list(token_ids), skip_special_tokens=False)

    # a sampled turn cut by its token cap: ' att' + 'endant' where re-encoding gives ' attendant', then the
    # template closes the turn the record left open (so the rest of the texts differ)
    sampled = ids(" the att") + ids("endant") + ids(" called")
    rendered = ids(" the attendant called") + [tokenizer.eos_token_id]
    assert sampled != rendered[:-1] and decode(sampled) == decode(rendered[:-1])
    first = next(i for i, (a, b) in enumerate(zip(sampled, rendered, strict=False)) if a != b)
    assert _retokenized(decode, sampled, rendered, first)
    # other text at the divergence (a newline the template adds) is not a re-tokenization
    spaced = ids("</tool_response>") + [tokenizer.eos_token_id]
    respaced = ids("</tool_response>\n") + [tokenizer.eos_token_id]
    at = next(i for i, (a, b) in enumerate(zip(spaced, respaced, strict=False)) if a != b)
    assert not _retokenized(decode, spaced, respaced, at)


@pytest.mark.model
@pytest.mark.timeout(600)
def test_the_grpo_rollout_with_the_embedded_model_shows_no_drift(model_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agent_gym.envs.games.textcraft.env import TextCraftEnv
    from agent_gym.envs.games.textcraft.env import make_tasks as textcraft_tasks
    from agent_gym.train import HFGenerator, MultiTurnRollout

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    trainer = SimpleNamespace(  # what MultiTurnRollout reads of a GRPOTrainer (TRL's CPU settings, tiny)
        state=SimpleNamespace(global_step=0), model=SimpleNamespace(training=True),
        args=SimpleNamespace(num_generations=2, max_completion_length=96, temperature=1.0, top_p=1.0),
        accelerator=SimpleNamespace(process_index=0, num_processes=1), processing_class=tokenizer)
    tasks = textcraft_tasks(depths=(1,), seeds=range(2), distractors=0)
    rollout = MultiTurnRollout(TextCraftEnv(), tasks, horizon=3, store=tmp_path / "grpo.jsonl", max_turn_tokens=24,
                               generator_factory=lambda _: HFGenerator(model, tokenizer, temperature=1.0))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # decoding is many small ops: spinning OpenMP threads on a shared CPU cost minutes
    try:
        out = rollout([t.id for t in tasks for _ in range(2)], trainer)
    finally:
        torch.set_num_threads(threads)
    episodes = out["trajectory"]
    assert len(episodes) == 4 and all(t.tokens is not None for t in episodes)
    assert any(0 in t.tokens.env_mask for t in episodes)  # multi-turn: environment replies in the sequence
    report = check_drift(tmp_path / "grpo.jsonl", tokenizer)
    assert report.checked == 4 and not report.skipped
    assert report.fraction == 0.0, report.summary()
    assert drift_metrics(episodes, tokenizer)["drift/fraction"] == 0.0
