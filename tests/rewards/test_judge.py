"""LLM-as-judge: rubric, score in [0, 1], rationale on the trajectory, failures retried and recorded."""

from __future__ import annotations

import asyncio

import pytest

from agent_gym import (
    Message,
    PolicyOutput,
    ScriptedPolicy,
    Task,
    ToolEnv,
    TrajectoryStore,
    assistant,
    exact_match,
    run_rollouts_async,
    user,
    weighted,
)
from agent_gym.errors import ConfigError, PolicyError
from agent_gym.rewards.judge import (
    JudgeFailure,
    JudgeWrapper,
    LLMJudge,
    Verdict,
    parse_verdict,
    render_transcript,
)

TASK = Task(id="t1", prompt="What is 2 + 3?", answer="5")
CONVERSATION = [Message(role="system", content="be brief"), user("What is 2 + 3?"), assistant("5")]
GOOD = '{"rationale": "Correct and concise.", "score": 0.9}'


def judge_of(*replies: str, **kwargs) -> LLMJudge:
    """A judge whose k-th call answers replies[k] (the last one repeats)."""
    calls = {"n": 0}

    def reply(messages, tools):
        calls["n"] += 1
        return replies[min(calls["n"], len(replies)) - 1]

    return LLMJudge(ScriptedPolicy(reply, name="judge-script"), retry_delay=0, **kwargs)


async def test_verdict_with_rationale():
    verdict = await judge_of(GOOD).evaluate(TASK, CONVERSATION)
    assert verdict == Verdict(score=0.9, rationale="Correct and concise.", attempts=1)
    assert Verdict.from_json(verdict.to_json()) == verdict


@pytest.mark.parametrize("reply, kind", [
    ("Looks good to me!", "bad_json"),
    ("I can't evaluate this conversation.", "refusal"),
    ('{"rationale": "great", "score": 7}', "bad_score"),
    ('{"rationale": "no score here"}', "bad_json"),
    ('{"score": "high"}', "bad_score"),
])
def test_parse_failures_have_kinds(reply, kind):
    with pytest.raises(JudgeFailure) as info:
        parse_verdict(reply)
    assert info.value.kind == kind


def test_parse_accepts_fenced_and_surrounded_json():
    assert parse_verdict('Sure.\n```json\n{"score": 1, "rationale": "ok"}\n```') == (1.0, "ok")
    assert parse_verdict('{"a": {"b": 1}} then {"score": 0.25, "reason": "meh"}') == (0.25, "meh")


async def test_bad_json_is_retried_then_succeeds():
    verdict = await judge_of("not json", '{"score": 1.5}', GOOD).evaluate(TASK, CONVERSATION)
    assert verdict.ok and verdict.score == 0.9 and verdict.attempts == 3
    assert [e.split(":")[0] for e in verdict.errors] == ["bad_json", "bad_score"]


async def test_persistent_failure_is_recorded_not_raised():
    verdict = await judge_of("I cannot do that.", max_attempts=2, failure_score=0.0).evaluate(TASK, CONVERSATION)
    assert not verdict.ok and verdict.score == 0.0 and verdict.attempts == 2
    assert verdict.error.startswith("refusal")


class Failing:
    name, model, sampling = "failing", "nope", {}

    def __init__(self, exc=None, delay=0.0):
        self.exc, self.delay = exc, delay

    async def act(self, messages, tools, *, seed=None):
        await asyncio.sleep(self.delay)
        if self.exc:
            raise self.exc
        return PolicyOutput(assistant(GOOD))


async def test_policy_errors_and_timeouts_are_failures():
    broken = await LLMJudge(Failing(PolicyError("server down")), max_attempts=2, retry_delay=0).evaluate(TASK, CONVERSATION)
    assert not broken.ok and broken.error.startswith("policy_error") and "server down" in broken.error
    slow = await LLMJudge(Failing(delay=5), max_attempts=1, timeout=0.05).evaluate(TASK, CONVERSATION)
    assert not slow.ok and slow.error.startswith("timeout") and slow.model == "nope"


async def test_prompt_holds_rubric_goal_and_transcript():
    judge = LLMJudge(ScriptedPolicy([GOOD]), rubric="Be exact.")
    prompt = judge.prompt(Task(id="x", prompt="sum", metadata={"nl_assertions": ["Say 5"]}), CONVERSATION)
    body = prompt[1].content
    assert "Be exact." in body and "sum" in body and "- Say 5" in body and "AGENT: 5" in body
    assert "be brief" not in body  # the system prompt is left out


def test_transcript_shows_tool_calls_and_shortens_tool_output():
    from agent_gym import ToolCall

    msgs = [user("hi"), assistant(tool_calls=(ToolCall(name="f", arguments={"x": 1}),)),
            Message(role="tool", name="f", content="y" * 1000)]
    text = render_transcript(msgs, tool_chars=10)
    assert 'AGENT CALLS f({"x": 1})' in text and "TOOL f: yyyyyyyyyy …" in text


def echo_env() -> ToolEnv:
    return ToolEnv(reward=exact_match, name="echo")


async def test_wrapper_puts_rationale_and_component_on_the_stored_trajectory(tmp_path):
    env = JudgeWrapper(echo_env(), judge_of(GOOD), weight=0.5)
    store = TrajectoryStore(tmp_path / "t.jsonl")
    out = await run_rollouts_async(env, ScriptedPolicy(["5"]), [TASK], store=store, progress=False)
    t = store.read()[0]
    assert t == out[0]
    assert t.reward == pytest.approx(1.0 + 0.5 * 0.9)
    assert t.reward_components == {"exact_match": 1.0, "judge": 0.9}
    assert t.steps[-1].info["judge"]["rationale"] == "Correct and concise."
    assert t.success is True
    assert "reward/judge" in store.to_pandas().columns
    view = pytest.importorskip("agent_gym.widgets.models.trajectory")
    last = view.trajectory_view(t)["turns"][-1]
    assert last["judge"] == "Correct and concise." and last["components"]["judge"] == 0.9


async def test_wrapper_records_a_failed_judge_and_the_run_goes_on():
    env = JudgeWrapper(echo_env(), judge_of("garbage", max_attempts=2), weight=1.0)
    out = await run_rollouts_async(env, ScriptedPolicy(["5"]), [TASK], progress=False)
    info = out[0].steps[-1].info["judge"]
    assert out[0].error is None and info["ok"] is False and info["attempts"] == 2
    assert out[0].reward_components["judge"] == 0.0


def test_wrapper_clone_and_config_share_the_judge():
    judge = judge_of(GOOD)
    env = JudgeWrapper(echo_env(), judge)
    clone = env.clone()
    assert clone.judge is judge and clone.env is not env.env
    assert env.config()["judge"]["rubric"] == judge.rubric


async def test_judge_is_a_reward_function():
    env = ToolEnv(reward=weighted(correct=(exact_match, 1.0), judge=(judge_of(GOOD), 0.5)))
    out = await run_rollouts_async(env, ScriptedPolicy(["5"]), [TASK], progress=False)
    assert out[0].reward_components == {"correct": 1.0, "judge": 0.9}


def test_config_errors():
    with pytest.raises(ConfigError):
        LLMJudge(object())
    with pytest.raises(ConfigError):
        LLMJudge(ScriptedPolicy([GOOD]), max_attempts=0)
    with pytest.raises(ConfigError):
        JudgeWrapper(echo_env(), "judge")
