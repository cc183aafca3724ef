"""The token lens's view model and widget: the exact sequence the trainer sees, id by id, with its loss mask,
log-probs, turns, tool calls, GRPO advantage and the drift check's first divergence."""

from __future__ import annotations

import pytest

from agent_gym import run_rollouts
from agent_gym.envs.calculator import CalculatorEnv, make_tasks
from agent_gym.testing.samples import THINK_ANSWER, THINK_CALL
from agent_gym.train import Generation, ScriptedGenerator, TokenPolicy
from agent_gym.widgets.models.tokens import (
    ROLE_ENV,
    ROLE_GENERATED,
    ROLE_PROMPT,
    lens_view,
    token_pieces,
)
from agent_gym.widgets.ui.token_lens import TokenLens, lens_section


class WithLogprobs(ScriptedGenerator):
    def generate(self, prompts, max_new_tokens):
        return [Generation(g.ids, [-0.01 * (i % 7) for i in range(len(g.ids))]) for g in super().generate(prompts, max_new_tokens)]


@pytest.fixture(scope="module")
def episode(tokenizer):
    replies = [tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for t in (THINK_CALL, THINK_ANSWER)]
    policy = TokenPolicy(WithLogprobs(replies), tokenizer, max_turn_tokens=200, max_completion_tokens=600)
    [t] = run_rollouts(CalculatorEnv(), policy, make_tasks(1), max_turns=4, progress=False)
    assert t.success and t.tokens is not None
    return t


def test_the_view_is_the_trainers_sequence_id_by_id(episode, tokenizer):
    v = lens_view(episode, tokenizer)
    tokens = episode.tokens
    assert v["ids"] == [*tokens.prompt_ids, *tokens.completion_ids] and v["n"] == len(v["ids"])
    assert v["prompt_len"] == len(tokens.prompt_ids)
    assert v["roles"] == [ROLE_PROMPT] * len(tokens.prompt_ids) + [ROLE_GENERATED if m else ROLE_ENV for m in tokens.env_mask]
    assert "".join(v["pieces"]) == tokenizer.decode(v["ids"])  # pieces join to the text, id by id
    assert all(lp is None for lp, r in zip(v["logprobs"], v["roles"], strict=True) if r != ROLE_GENERATED)
    generated = [lp for lp in v["logprobs"] if lp is not None]
    assert len(generated) == sum(tokens.env_mask) and min(generated) == pytest.approx(-0.06)
    assert v["stats"] == {"prompt": len(tokens.prompt_ids), "generated": sum(tokens.env_mask),
                          "environment": tokens.env_mask.count(0), "mean_logprob": pytest.approx(sum(generated) / len(generated)),
                          "min_logprob": pytest.approx(-0.06)}
    # turns and the environment's reply between them
    assert [(s["role"], s["label"]) for s in v["spans"]] == [
        (ROLE_PROMPT, "prompt"), (ROLE_GENERATED, "turn 1"), (ROLE_ENV, "environment: tool · calculate"), (ROLE_GENERATED, "turn 2")]
    assert v["spans"][3]["reward"] == episode.steps[1].reward
    # the tool call the model wrote, located in its ids and named as parsed
    [call] = v["calls"]
    text = "".join(v["pieces"][call["start"]:call["end"]])
    assert text.strip().startswith("<tool_call>") and text.strip().endswith("</tool_call>")
    assert call["label"] == "calculate(expression='51 + 99')" and call["turn"] == 0
    assert v["advantage"] is None and v["drift"] is None


def test_pieces_of_characters_split_over_ids(tokenizer):
    ids = tokenizer("naïve 漢字 🙂 done", add_special_tokens=False)["input_ids"]
    pieces = token_pieces(tokenizer, ids)
    assert len(pieces) == len(ids) and "".join(pieces) == "naïve 漢字 🙂 done"


def test_advantage_and_drift_marks(episode, tokenizer):
    other = episode.model_copy(update={"id": "other", "reward": 0.0})
    v = lens_view(episode, tokenizer, group=[episode, other])
    assert v["advantage"] == pytest.approx((episode.reward - (episode.reward / 2)) / (abs(episode.reward) / 2 ** 0.5 + 1e-4), rel=1e-3)
    assert lens_view(episode, tokenizer, advantage=-1.5)["advantage"] == -1.5
    recorded = episode.model_copy(update={"metadata": {"grpo": {"advantage": 0.25}}})
    assert lens_view(recorded, tokenizer)["advantage"] == 0.25
    drift = {"divergence": {"position": 300, "region": "environment", "turn": 0, "recorded_text": "<|im_end|>",
                            "rendered_text": "\n<|im_end|>", "before": "</tool_response>", "reason": "whitespace",
                            "recorded_ids": [2], "rendered_ids": [198, 2]}, "rendered_tokens": 10}
    marked = lens_view(episode, tokenizer, drift=drift)["drift"]
    assert marked["drift"] and marked["mark"] == 300 and marked["reason"] == "whitespace"
    assert lens_view(episode, tokenizer, drift={"divergence": None})["drift"] == {"drift": False, "rendered_tokens": None}


def test_the_widget_its_static_state_and_a_report_section(episode, tokenizer):
    from agent_gym.widgets._assets import css_text, esm_text

    lens = TokenLens(episode, tokenizer)
    state = lens.static_state()
    assert state["kind"] == "lens" and state["lens"]["id"] == episode.id
    assert "function mountLens(" in esm_text() and "function renderLensInto(" in esm_text()
    assert ".ag-lens-seq" in css_text() and ".ag-root" in css_text() and lens._css == css_text()
    section = lens_section(episode, tokenizer, title="Tokens")
    assert section.state == {"kind": "lens", "lens": state["lens"]} and section.title == "Tokens"
    assert "ag-data" in lens._repr_mimebundle_()[0]["text/html"]  # the offline copy in notebook outputs
    with pytest.raises(ValueError, match="no token record"):
        TokenLens(episode.model_copy(update={"tokens": None}), tokenizer)
    with pytest.raises(TypeError, match="tokenizer"):
        TokenLens(episode, None)


def test_the_viewer_has_a_tokens_tab_when_given_a_tokenizer(episode, tokenizer):
    from agent_gym.widgets import TrajectoryViewer

    viewer = TrajectoryViewer(episode, tokenizer=tokenizer)
    assert viewer.lens["ids"] == lens_view(episode, tokenizer)["ids"]
    assert viewer.static_state()["lens"]["n"] == viewer.lens["n"]  # the static copy carries it too
    assert TrajectoryViewer(episode).lens == {}  # no tokenizer: no tab
    viewer.show(None)
    assert viewer.lens == {}
