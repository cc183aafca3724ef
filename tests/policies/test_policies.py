"""OpenAIPolicy against a real OpenAI-compatible HTTP server on loopback (agent_gym.testing.scripted_server)."""

import pytest

from agent_gym import (
    ConfigError,
    Message,
    OpenAIPolicy,
    ScriptedPolicy,
    Task,
    ToolEnv,
    TrajectoryStore,
    numeric_match,
    run_rollouts_async,
    user,
)
from agent_gym.testing.scripted_server import serve_scripted
from agent_gym.testing.toys import add

ENV = ToolEnv(tools=[add], reward=numeric_match, name="adder")
TASKS = [Task(id=f"t{i}", prompt=f"What is {i} + {i + 1}?", answer=str(2 * i + 1)) for i in range(40)]


async def test_native_tool_calls_round_trip_through_a_real_server(scripted_server):
    policy = OpenAIPolicy("scripted", base_url=scripted_server.base_url, temperature=0.0)
    out = await run_rollouts_async(ENV, policy, TASKS[:3], progress=False)
    t = out[2]
    assert t.error is None and t.reward == 1.0 and t.success
    call = t.messages[1].tool_calls[0]
    assert (call.name, call.arguments) == ("add", {"a": 2, "b": 3}) and call.id.startswith("call")
    assert t.messages[2].tool_call_id == call.id and t.final_answer == "5"
    assert t.usage.calls == 2 and t.usage.prompt_tokens > 0 and t.model == "scripted"
    await policy.aclose()


async def test_text_format_and_reasoning_content():
    with serve_scripted(tool_format="text", reasoning=True) as s:
        policy = OpenAIPolicy("scripted", base_url=s.base_url, tool_format="text")
        t = (await run_rollouts_async(ENV, policy, TASKS[3:4], progress=False))[0]
    assert t.error is None and t.reward == 1.0
    assert t.messages[1].tool_calls[0].arguments == {"a": 3, "b": 4}
    assert t.messages[1].reasoning  # the server's reasoning_content became the turn's <think>
    body = policy.request(list(t.messages[:3]), ENV.tool_schemas())
    assert "tools" not in body and body["messages"][3]["content"] == '<tool_response name="add">7</tool_response>'


def test_accepted_params_drop_what_a_server_rejects():
    policy = OpenAIPolicy("m", base_url="http://127.0.0.1:1/v1", accepted_params={"temperature", "seed"},
                          temperature=0.5, logprobs=True, n=2)
    body = policy.request([user("hi")], [], seed=3)
    assert body == {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.5, "seed": 3}


def test_missing_key_and_bad_settings_are_clear(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIPolicy("gpt-x")
    with pytest.raises(ConfigError, match="tool_format"):
        OpenAIPolicy("m", base_url="http://x/v1", tool_format="xml")  # type: ignore[arg-type]


@pytest.mark.parametrize("fault", ["429", "500", "malformed", "timeout", "disconnect"])
async def test_persistent_faults_become_a_recorded_policy_error(fault):
    # The client's timeout leaves a busy machine time to deliver each request before giving up on it.
    with serve_scripted(fault_rate=1.0, faults=[fault], timeout_delay=6.0) as s:
        policy = OpenAIPolicy("scripted", base_url=s.base_url, max_retries=1, timeout=2.0)
        t = (await run_rollouts_async(ENV, policy, TASKS[:1], progress=False))[0]
        stats = s.stats()
    assert t.error is not None and t.error.kind == "PolicyError"
    assert stats["faults"][fault] == 2  # first try + one retry


async def test_200_episodes_with_20_percent_faults_all_stored_once(tmp_path):
    path = tmp_path / "faulty.jsonl"
    with serve_scripted(fault_rate=0.2, timeout_delay=3.0, seed=1) as s:
        policy = OpenAIPolicy("scripted", base_url=s.base_url, max_retries=6, timeout=1.0)
        tasks = [Task(id=f"t{i}", prompt=f"What is {i} + 7?", answer=str(i + 7)) for i in range(100)]
        out = await run_rollouts_async(ENV, policy, tasks, n=2, max_concurrency=32, store=path, progress=False)
        stats = s.stats()
        records = TrajectoryStore(path).read()
        assert len(out) == 200 and len(records) == 200 and len({r.job_key for r in records}) == 200
        assert sum(stats["faults"].values()) >= 60  # faults really happened (~20% of ~400+ calls)
        assert sum(r.error is None for r in records) >= 195 and all(r.reward == 1.0 for r in records if r.error is None)
        again = await run_rollouts_async(ENV, policy, tasks, n=2, max_concurrency=32, store=path, progress=False)
        assert len(again) == 200 and len(TrajectoryStore(path).read()) == 200
        assert s.stats()["requests"] == stats["requests"]  # the second run asked the model nothing
    print(f"\n200 episodes, {stats['requests']} requests, faults {stats['faults']}, "
          f"{sum(r.error is not None for r in records)} failed episodes recorded")


async def test_scripted_policy_runs_out_of_script_with_a_clear_error():
    policy = ScriptedPolicy(['<tool_call>{"name": "add", "arguments": {"a": 1, "b": 1}}</tool_call>'])
    t = (await run_rollouts_async(ENV, policy, TASKS[:1], progress=False))[0]
    assert t.error.kind == "PolicyError" and "script has 1 replies" in t.error.message
    reply = Message(role="assistant", content="x")
    assert (await ScriptedPolicy([reply]).act([user("q")], [])).message is reply
