"""Branching replay: fork a recorded trajectory at a turn and play on from there with another choice.

    from agent_gym.runner.branch import branch
    fixed = branch(failed, at_turn=2, policy=env.expert())          # turns 0-1 replayed, then the expert
    edited = branch(failed, at_turn=2, policy=policy, edit='<tool_call>…</tool_call>')  # turn 2 rewritten
    CompareView.branches(failed, [fixed, edited])                    # side by side, with rewards

The prefix (the opening messages and turns `0 … at_turn - 1`) is replayed exactly: the policy reads the
recorded messages and the recorded environment replies — rewards, infos and observations are served from
the record, as a cassette serves recorded tool results. Behind that, a fresh environment is stepped with
the recorded assistant messages so its state (a game, a database) is where the parent's was; a reply that
comes out differently is listed in the branch's `metadata["branch"]["mismatches"]` (`strict=True` raises
instead). From turn `at_turn` on, the episode is live: played by `policy` (another model, another
sampling setting or seed) through the one episode engine (`runner.episodes.rollout`), after an optional
`Edit` of that turn's assistant message or of the environment's reply to it.

A branch is an ordinary `Trajectory`; `metadata["branch"]` links it to its parent: `parent` (id), `turn`
(`at_turn`), `edit` (what was edited), `policy`, `mismatches`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent_gym.env import Environment, Wrapper
from agent_gym.errors import ConfigError
from agent_gym.formats import parse_assistant_text
from agent_gym.policies.base import EpisodeSession, Policy, PolicyOutput
from agent_gym.runner.episodes import rollout
from agent_gym.runner.keys import policy_identity
from agent_gym.runner.record import store_trajectory
from agent_gym.runner.sync import run_sync
from agent_gym.store import TrajectoryStore
from agent_gym.types import Message, StepResult, Task, TokenRecord, Trajectory, Usage


@dataclass(frozen=True)
class Edit:
    """A change to turn `at_turn` of a branch.

    `assistant` replaces that turn's assistant message (a `Message`, or text parsed as the model's output:
    `<tool_call>` blocks become tool calls); the environment answers it live. `observation` replaces the
    environment's reply to that turn (messages, or a text that becomes the first reply message's content);
    the environment still plays the turn's action, so its state goes on from there. With only
    `observation`, the turn's recorded assistant message is kept.
    """

    assistant: Message | str | None = None
    observation: Sequence[Message] | str | None = None

    def describe(self) -> dict[str, Any]:
        return {"assistant": self.assistant is not None, "observation": self.observation is not None}


def branch(trajectory: Trajectory, at_turn: int, policy: Policy | None = None, *,
           edit: Edit | Message | str | None = None, env: Environment | None = None, max_turns: int | None = None,
           seed: int | None = None, store: TrajectoryStore | str | os.PathLike[str] | None = None, strict: bool = False) -> Trajectory:
    """Fork `trajectory` at turn `at_turn` (from 0: turns before it are replayed) and play on live.

    Args:
        trajectory: The parent (it needs its task: records of schema 2 or later).
        at_turn: The first turn that is not replayed (0 ≤ at_turn ≤ the parent's turns).
        policy: Plays from `at_turn` (or from the turn after an edited assistant message).
        edit: An `Edit`, or a `Message`/text replacing turn `at_turn`'s assistant message.
        env: The environment (default: the built-in one of the parent's name, with default settings; its
            configuration must match the parent's).
        max_turns: Turn limit of the whole branch, prefix included (default: the environment's).
        seed: Seed for the live turns.
        store: Where to append the branch (None: not stored).
        strict: Raise when the environment answers a replayed turn otherwise than the record says.
    """
    return run_sync(branch_async(trajectory, at_turn, policy, edit=edit, env=env, max_turns=max_turns, seed=seed,
                                 store=store, strict=strict))


async def branch_async(trajectory: Trajectory, at_turn: int, policy: Policy | None = None, *,
                       edit: Edit | Message | str | None = None, env: Environment | None = None,
                       max_turns: int | None = None, seed: int | None = None,
                       store: TrajectoryStore | str | os.PathLike[str] | None = None, strict: bool = False) -> Trajectory:
    """`branch`, on the running event loop."""
    parent = trajectory
    if isinstance(edit, Message | str):
        edit = Edit(assistant=edit)
    _check(parent, at_turn, policy, edit)
    task = parent.task
    assert task is not None
    env = env if env is not None else _default_env(parent)
    if _settings(parent.environment.get("config")) not in ({}, _settings(_jsonable(env.config()))):
        raise ConfigError(f"The environment's configuration {env.config()} is not the parent's "
                          f"{parent.environment['config']}; pass env= built with the parent's settings.")
    replay = RecordedPrefix(env.clone(), parent, at_turn, edit, strict)
    actor = PrefixPolicy(parent, at_turn, policy, edit, tools=[t["function"]["name"] for t in parent.tools])
    played = await rollout(replay, actor, task, sample_index=parent.sample_index, seed=seed,
                           max_turns=max_turns or env.max_turns, trajectory_id=f"{parent.id}~{uuid.uuid4().hex[:8]}")
    link = {"parent": parent.id, "turn": at_turn, "edit": edit.describe() if edit else None,
            "policy": actor.name, "model": actor.model, "mismatches": replay.mismatches}
    update: dict[str, Any] = {"metadata": {**parent.metadata, **played.metadata, "branch": link}}
    if policy is not None:
        update["policy_info"] = policy_identity(policy)
    child = played.model_copy(update=update)
    if store is not None:
        child = store_trajectory(store if isinstance(store, TrajectoryStore) else TrajectoryStore(store), child)
    return child


def branch_from_view(viewer: Any, policy: Policy | None = None, *, edit: Edit | Message | str | None = None,
                     env: Environment | None = None, at_turn: int | None = None, **options: Any) -> Trajectory:
    """Branch the trajectory a `TrajectoryViewer` shows from its current turn ("branch from here").

    `at_turn` defaults to the viewer's turn (that turn is played anew); `options` go to `branch`.
    """
    shown = getattr(viewer, "shown", None)
    if shown is None:
        raise ConfigError("The viewer shows no trajectory; viewer.show(trajectory) first.")
    turn = viewer.turn if at_turn is None else at_turn
    return branch(shown, min(turn, len(shown.steps)), policy, edit=edit, env=env, **options)


def branches_of(parent: Trajectory, records: Sequence[Trajectory]) -> list[Trajectory]:
    """The branches of `parent` among `records` (by `metadata["branch"]["parent"]`), in order."""
    return [t for t in records if isinstance(t.metadata.get("branch"), Mapping)
            and t.metadata["branch"].get("parent") == parent.id]


class RecordedPrefix(Wrapper):
    """The parent's environment replies for the replayed turns (the record), the live environment after.

    The wrapped environment is stepped with every replayed action too, so its state follows the parent's;
    `mismatches` lists the replayed turns whose live reply differs from the recorded one.
    """

    def __init__(self, env: Environment, parent: Trajectory, at_turn: int, edit: Edit | None, strict: bool) -> None:
        super().__init__(env)
        self.parent, self.at_turn, self.edit, self.strict = parent, at_turn, edit, strict
        self.turn = 0
        self.mismatches: list[int] = []

    async def reset(self, task: Task) -> list[Message]:
        opening = await self.env.reset(task)
        self.turn = 0
        recorded = list(self.parent.messages[: _first_action(self.parent)])
        if [m.content for m in opening] != [m.content for m in recorded]:
            self._mismatch(-1, "the opening messages")
        return recorded

    async def step(self, action: Message) -> StepResult:
        k, self.turn = self.turn, self.turn + 1
        result = await self.env.step(action)
        if k < self.at_turn:
            step = self.parent.steps[k]
            recorded = _observation(self.parent, k)
            if [m.content for m in result.observation] != [m.content for m in recorded] or result.reward != step.reward:
                self._mismatch(k, f"turn {k}")
            return StepResult(observation=tuple(recorded), reward=step.reward, terminated=step.terminated,
                              truncated=step.truncated, info=step.info, components=step.components,
                              success=result.success)
        if k == self.at_turn and self.edit is not None and self.edit.observation is not None:
            return result.model_copy(update={"observation": _edited_observation(self.edit.observation, result)})
        return result

    def _mismatch(self, turn: int, what: str) -> None:
        if self.strict:
            raise ConfigError(f"Replaying {what} of {self.parent.id}: the environment answered otherwise than the "
                              "record (a non-deterministic environment, or other settings). strict=False goes on "
                              "with the recorded replies.")
        self.mismatches.append(turn)

    def clone(self) -> RecordedPrefix:
        return RecordedPrefix(self.env.clone(), self.parent, self.at_turn, self.edit, self.strict)


class PrefixPolicy:
    """The parent's assistant messages for the replayed turns, then `live` (after an optional edit)."""

    def __init__(self, parent: Trajectory, at_turn: int, live: Policy | None, edit: Edit | None,
                 tools: Sequence[str] = ()) -> None:
        self.parent, self.at_turn, self.live, self.edit, self.tools = parent, at_turn, live, edit, list(tools)
        self.name = live.name if live is not None else "edit"
        self.model = live.model if live is not None else None
        self.sampling: Mapping[str, Any] = dict(live.sampling) if live is not None else {}
        self.records_tokens = bool(getattr(live, "records_tokens", False))

    def start_episode(self) -> PrefixSession:
        return PrefixSession(self)

    async def act(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *,
                  seed: int | None = None) -> PolicyOutput:
        return await self.start_episode().act(messages, tools, seed=seed)


class PrefixSession:
    """One branch episode of a `PrefixPolicy`: counts turns, opens the live policy's session when needed."""

    def __init__(self, policy: PrefixPolicy) -> None:
        self.policy = policy
        self.turn = 0
        self.session: EpisodeSession | None = None

    async def act(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *,
                  seed: int | None = None) -> PolicyOutput:
        p, k = self.policy, self.turn
        self.turn += 1
        if k < p.at_turn:
            return PolicyOutput(p.parent.messages[p.parent.steps[k].action_index], Usage())
        if k == p.at_turn and p.edit is not None:
            if p.edit.assistant is not None:
                edited = p.edit.assistant
                return PolicyOutput(edited if isinstance(edited, Message) else
                                    parse_assistant_text(edited, tool_names=p.tools), Usage())
            if k < len(p.parent.steps):  # only the reply is edited: the recorded action stands
                return PolicyOutput(p.parent.messages[p.parent.steps[k].action_index], Usage())
        if p.live is None:
            raise ConfigError("The branch goes on past the edited turn and no policy= was given to play it.")
        if self.session is None:
            start = getattr(p.live, "start_episode", None)
            self.session = start() if callable(start) else p.live
        return await self.session.act(messages, tools, seed=seed)

    def finish(self) -> TokenRecord | None:
        """The live session's token record (None for a text-only policy or when nothing was played live)."""
        if self.session is None or self.session is self.policy.live:
            return None
        return self.session.finish()


def _check(parent: Trajectory, at_turn: int, policy: Policy | None, edit: Edit | None) -> None:
    if parent.task is None:
        raise ConfigError(f"Trajectory {parent.id} has no task (a record older than schema 2); it cannot be replayed.")
    if not 0 <= at_turn <= len(parent.steps):
        raise ConfigError(f"at_turn must be between 0 and {len(parent.steps)} (the parent's turns), got {at_turn}.")
    ended = next((k for k, s in enumerate(parent.steps[:at_turn]) if s.terminated), None)
    if ended is not None:
        raise ConfigError(f"The parent ended at turn {ended}; branch at turn {ended} or earlier.")
    if policy is None and edit is None:
        raise ConfigError("Give policy= (who plays from the branch point), edit= (what changes there), or both.")
    if edit is not None and edit.observation is not None and edit.assistant is None and at_turn >= len(parent.steps):
        raise ConfigError(f"Turn {at_turn} has no recorded reply to edit; edit its assistant message instead.")


def _default_env(parent: Trajectory) -> Environment:
    from agent_gym.envs import BUILTIN_ENVS, make_env

    if parent.env not in BUILTIN_ENVS:
        raise ConfigError(f"{parent.env!r} is not a built-in environment; pass env= (an instance like the parent's).")
    return make_env(parent.env)


def _first_action(t: Trajectory) -> int:
    return t.steps[0].action_index if t.steps else len(t.messages)


def _observation(t: Trajectory, k: int) -> list[Message]:
    step = t.steps[k]
    return list(t.messages[step.action_index + 1: step.action_index + 1 + step.observation_count])


def _edited_observation(edit: Sequence[Message] | str, result: StepResult) -> tuple[Message, ...]:
    if not isinstance(edit, str):
        return tuple(edit)
    if not result.observation:
        return (Message(role="user", content=edit),)
    first = result.observation[0].model_copy(update={"content": edit})
    return (first, *result.observation[1:])


def _settings(config: Any) -> dict[str, Any]:
    """An environment's configuration without the turn limit (a run's setting, not the environment's)."""
    return {k: v for k, v in (config or {}).items() if k != "max_turns"}


def _jsonable(value: Any) -> Any:
    from agent_gym.runner.keys import _jsonable as jsonable

    return jsonable(value)
