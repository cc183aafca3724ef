"""SGD-format folders: schema -> tools, dialogues -> tasks and a pre-filled replay cassette."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_gym import ScriptedPolicy, TrajectoryStore, run_rollouts_async
from agent_gym.envs.dialogue.customer_service import OraclePolicy, SimulatedUser
from agent_gym.envs.dialogue.sgd import (
    SGDEnv,
    calls_match,
    load_sgd,
    sgd_cassette,
    sgd_tasks,
    sgd_tools,
)
from agent_gym.errors import ConfigError
from agent_gym.tools.cassette import LLMFallback

FIXTURE = Path(__file__).resolve().parents[3] / "data" / "customer_service" / "sgd_fixture"


def test_load_schema_dialogues_and_tools():
    data = load_sgd(FIXTURE)
    assert sorted(data.schemas) == ["Restaurants_1", "Weather_1"] and len(data.dialogues) == 2
    tools = {t.name: t for t in sgd_tools(data.schemas)}
    assert sorted(tools) == ["Restaurants_1_FindRestaurants", "Restaurants_1_ReserveRestaurant", "Weather_1_GetWeather"]
    reserve = tools["Restaurants_1_ReserveRestaurant"].parameters
    assert reserve["required"] == ["restaurant_name", "city", "time"]
    assert reserve["properties"]["party_size"]["enum"][:2] == ["1", "2"]
    assert load_sgd(FIXTURE, limit=1).dialogues == data.dialogues[:1]
    with pytest.raises(ConfigError, match="schema.json"):
        load_sgd(FIXTURE, split="dev")


async def test_tools_have_no_backend_without_the_cassette():
    [weather] = [t for t in sgd_tools(load_sgd(FIXTURE).schemas) if t.name == "Weather_1_GetWeather"]
    result = await weather.run({"city": "Oslo"})
    assert result.is_error and "cassette" in result.content


def test_tasks_hold_goal_expected_calls_and_user_turns():
    first = sgd_tasks(load_sgd(FIXTURE))[0]
    assert first.id == "sgd-1_00000" and first.prompt.startswith("I'd like to find a Mexican place")
    assert [a["name"] for a in first.answer["actions"]] == ["Restaurants_1_FindRestaurants", "Restaurants_1_ReserveRestaurant"]
    assert "Reserve a table at a restaurant (city = San Jose, restaurant_name = Casa Vega" in first.metadata["user_scenario"]
    assert len(first.metadata["user_turns"]) == 3


async def test_cassette_answers_logged_calls_with_defaults_filled():
    cassette = sgd_cassette(load_sgd(FIXTURE))
    assert len(cassette) == 3 and cassette.mode == "replay"
    weather = cassette.wrap([t for t in sgd_tools(load_sgd(FIXTURE).schemas) if t.name == "Weather_1_GetWeather"][0])
    hit = await weather.run({"date": "today", "city": "Oslo"})  # the log omitted the default date
    assert json.loads(hit.content)[0]["temperature"] == "41"
    miss = await weather.run({"city": "Paris"})
    assert miss.is_error and cassette.report()["Weather_1_GetWeather"]["misses"] == 1


async def test_oracle_replays_the_logged_calls_through_the_mocker(tmp_path):
    env = SGDEnv(FIXTURE)
    store = TrajectoryStore(tmp_path / "sgd.jsonl")
    out = await run_rollouts_async(env, OraclePolicy(), env.default_tasks(), store=store, progress=False)
    assert [t.reward for t in out] == [1.0, 1.0] and all(t.success for t in out)
    assert env.cassette.report()["TOTAL"]["hits"] == 3 and env.cassette.report()["TOTAL"]["misses"] == 0
    first = out[0]
    assert "Casa Vega" in first.messages[3].content
    assert [m.content for m in first.messages if m.role == "user"][-1].endswith("###STOP###")
    assert len(store.read()) == 2


async def test_unseen_call_is_imitated_by_an_llm_fallback_and_scored():
    data = load_sgd(FIXTURE)
    fake = ScriptedPolicy(lambda m, t: '[{"city": "Paris", "date": "today", "temperature": "60"}]')
    env = SGDEnv(FIXTURE, cassette=sgd_cassette(data, fallback=LLMFallback(fake)))
    wrong = OraclePolicy(actions=lambda task: [{"name": "Weather_1_GetWeather", "arguments": {"city": "Paris"}}])
    [t] = await run_rollouts_async(env, wrong, env.default_tasks()[1:], progress=False)
    assert '"temperature": "60"' in t.messages[3].content
    assert t.reward == 0.0 and env.cassette.report()["TOTAL"]["misses"] == 1
    assert calls_match(env.default_tasks()[1], t.messages) == 0.0


async def test_a_simulated_user_policy_plays_the_goal():
    seen = []

    def customer(messages, tools):
        seen.append(messages[0].content)
        return "Weather in Oslo please. ###STOP###" if len(messages) > 2 else "Weather in Oslo please."

    env = SGDEnv(FIXTURE, user=SimulatedUser(ScriptedPolicy(customer)))
    [t] = await run_rollouts_async(env, OraclePolicy(), env.default_tasks()[1:], progress=False)
    assert t.terminated and "Get the weather of a certain location" in seen[0]
