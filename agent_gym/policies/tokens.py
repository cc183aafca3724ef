"""Token-capable policies: `TokenPolicy` plays episodes token-in/token-out over any `Generator`.

An episode is one growing token sequence. Its prompt ids are the opening messages rendered with the
chat template; each turn the generator continues the sequence, and the ids it generated are kept exactly
as generated (never decoded and re-encoded) with `env_mask` 1. Only what the environment adds — its
reply, rendered as the suffix after the assistant turn, plus the next assistant header — is tokenized,
once, and appended with `env_mask` 0. The generated ids are also parsed into a canonical `Message` for
the environment and the stored `Trajectory`, whose `tokens` field holds the whole sequence.

Episodes that run at the same time share generation calls: when every open episode of the policy is
waiting for its next turn, one batched `generate` call serves them all (in the order they started).

Generators:

* `HFGenerator` (`hf_generator`) — a transformers model in this process.
* `TrainerGenerator` (`agent_gym.train.generation`) — the model a `trl.GRPOTrainer` trains (or its vLLM).
* `ServerGenerator` (`token_server`) — an OpenAI-compatible completions server that takes prompt ids and
  returns the generated ids (vLLM's OpenAI server).
* `ScriptedGenerator` (here) — fixed ids, for tests and tutorials.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent_gym.errors import ConfigError, ContextFull
from agent_gym.formats import ToolFormat
from agent_gym.policies.base import PolicyOutput
from agent_gym.policies.chat_render import ChatRenderer
from agent_gym.types import Message, TokenRecord, Usage


@dataclass(frozen=True)
class Generation:
    """What the model generated for one sequence in one turn."""

    ids: list[int]
    """Generated token ids (ending with an end-of-turn token unless cut by the length cap)."""
    logprobs: list[float]
    """Log-probability of each generated token under the sampling distribution."""


class Generator(Protocol):
    """Continues token sequences: one batched call per turn."""

    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        """One continuation per prompt (same order), at most `max_new_tokens` long."""
        ...

    def keep_going(self, active: int) -> bool:
        """Whether another generation call must run; `active` is how many of this process's episodes wait
        for one. Generators whose calls are collective across processes (vLLM server mode) agree here."""
        ...


class ScriptedGenerator:
    """Replies from fixed token ids (or texts, tokenized once): item k answers call k for every prompt.

    For tests and tutorials: it makes the token-level bookkeeping visible without a model.
    """

    def __init__(self, replies: Sequence[Sequence[int] | str], tokenizer: Any = None) -> None:
        if any(isinstance(r, str) for r in replies) and tokenizer is None:
            raise ConfigError("ScriptedGenerator needs tokenizer= to turn text replies into ids.")
        self.replies = [list(r) if not isinstance(r, str) else tokenizer(r, add_special_tokens=False)["input_ids"]
                        for r in replies]
        self.calls: list[list[list[int]]] = []
        """The prompts of every call, for inspection."""

    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        turn = len(self.calls)
        self.calls.append([list(p) for p in prompts])
        ids = self.replies[min(turn, len(self.replies) - 1)][:max_new_tokens]
        return [Generation(list(ids), [0.0] * len(ids)) for _ in prompts]

    def keep_going(self, active: int) -> bool:
        return active > 0


class TokenPolicy:
    """A `Policy` that generates token ids and records them (see the module docstring).

    Args:
        generator: What continues the token sequences (`HFGenerator`, `TrainerGenerator`, `ServerGenerator`…).
        tokenizer: The model's tokenizer; its chat template renders the conversation.
        name: Stored on trajectories as the policy's name.
        model: Stored on trajectories as the model's name.
        sampling: Sampling settings to record (and fingerprint); the generator applies its own.
        max_turn_tokens: Cap on the ids generated in one turn.
        max_completion_tokens: Cap on an episode's completion (generated plus environment ids); an episode
            whose next environment reply would not fit ends truncated.
        tool_format: `native` hands the tools to the chat template; `text` lists them in the system prompt.
        template_kwargs: Extra `apply_chat_template` arguments (e.g. `enable_thinking`).
    """

    records_tokens = True

    def __init__(self, generator: Generator, tokenizer: Any, *, name: str = "tokens", model: str | None = None,
                 sampling: Mapping[str, Any] | None = None, max_turn_tokens: int = 128,
                 max_completion_tokens: int = 1024, tool_format: ToolFormat = "native",
                 template_kwargs: dict[str, Any] | None = None) -> None:
        if max_turn_tokens < 1 or max_completion_tokens < 1:
            raise ConfigError("max_turn_tokens and max_completion_tokens must be at least 1.")
        self.generator = generator
        self.tokenizer = tokenizer
        self.name = name
        self.model = model
        self.sampling: Mapping[str, Any] = {
            **dict(sampling or {}), "max_turn_tokens": max_turn_tokens, "max_completion_tokens": max_completion_tokens}
        self.max_turn_tokens = max_turn_tokens
        self.max_completion_tokens = max_completion_tokens
        self.tool_format = tool_format
        self.template_kwargs = template_kwargs
        self.generate_calls = 0
        """How many batched generation calls this policy made."""
        self._renderers: dict[str, ChatRenderer] = {}
        self._order = itertools.count()
        self._open: set[int] = set()
        self._pending: dict[int, tuple[list[int], int, asyncio.Future[Generation]]] = {}
        self._batch: asyncio.Task[None] | None = None
        self._check_scheduled = False

    def __repr__(self) -> str:
        return f"TokenPolicy(generator={type(self.generator).__name__}, name={self.name!r}, model={self.model!r})"

    def renderer(self, tools: Sequence[dict[str, Any]]) -> ChatRenderer:
        """The chat renderer for this set of tools (built once per set)."""
        key = json.dumps(list(tools), sort_keys=True)
        if key not in self._renderers:
            self._renderers[key] = ChatRenderer(self.tokenizer, tools, tool_format=self.tool_format,
                                                template_kwargs=self.template_kwargs)
        return self._renderers[key]

    def start_episode(self) -> TokenSession:
        """A session for one episode; the runner calls this once per episode."""
        session = TokenSession(self, next(self._order))
        self._open.add(session.order)
        return session

    async def act(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *, seed: int | None = None
    ) -> PolicyOutput:
        """One turn outside an episode session: the conversation is rendered whole (no token record)."""
        session = self.start_episode()
        try:
            return await session.act(messages, tools, seed=seed)
        finally:
            session.finish()

    def drain(self) -> None:
        """Keep collective generation calls in step after this process's episodes ended: while another
        process still generates (`generator.keep_going(0)`), join its calls with an empty batch."""
        while self.generator.keep_going(0):
            self.generator.generate([], self.max_turn_tokens)
            self.generate_calls += 1

    async def _generate(self, order: int, context: list[int], remaining: int) -> Generation:
        future: asyncio.Future[Generation] = asyncio.get_running_loop().create_future()
        self._pending[order] = (context, remaining, future)
        self._maybe_start_batch()
        return await future

    def _close(self, order: int) -> None:
        self._open.discard(order)
        entry = self._pending.pop(order, None)
        if entry is not None and not entry[2].done():
            entry[2].cancel()
        self._maybe_start_batch()

    def _maybe_start_batch(self) -> None:
        """Start one generation call when every open episode waits for its turn.

        The check runs on the next turn of the event loop, so episodes started in the same tick (a
        `gather` of many) all register and join the first call.
        """
        if self._batch is not None or self._check_scheduled or not self._pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._check_scheduled = True
        loop.call_soon(self._start_if_ready, loop)

    def _start_if_ready(self, loop: asyncio.AbstractEventLoop) -> None:
        self._check_scheduled = False
        if self._batch is not None or not self._pending or set(self._pending) != self._open:
            return
        batch = sorted(self._pending.items())
        self._pending.clear()
        self._batch = loop.create_task(self._run_batch([entry for _, entry in batch]))

    async def _run_batch(self, batch: list[tuple[list[int], int, asyncio.Future[Generation]]]) -> None:
        prompts = [context for context, _, _ in batch]
        max_new = max(1, min(self.max_turn_tokens, max(remaining for _, remaining, _ in batch)))
        try:
            outputs = await asyncio.to_thread(self._call, prompts, max_new)
        except BaseException as exc:  # noqa: BLE001 - every waiting episode records it
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
        else:
            for (_, _, future), output in zip(batch, outputs, strict=True):
                if not future.done():
                    future.set_result(output)
        finally:
            self._batch = None
            self._maybe_start_batch()

    def _call(self, prompts: list[list[int]], max_new: int) -> list[Generation]:
        self.generator.keep_going(len(prompts))  # collective generators count the call; always true here
        self.generate_calls += 1
        outputs = self.generator.generate(prompts, max_new)
        if len(outputs) != len(prompts):
            raise ConfigError(f"{type(self.generator).__name__}.generate returned {len(outputs)} generations "
                              f"for {len(prompts)} prompts; it must return one per prompt, in order.")
        return outputs


@dataclass
class TokenSession:
    """One episode of a `TokenPolicy`: its token sequence so far."""

    policy: TokenPolicy
    order: int
    prompt_ids: list[int] = field(default_factory=list)
    completion_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)
    last_action: int = -1
    """Index in the conversation of the last generated message (-1: none yet)."""
    ended_with_eos: bool = True
    finished: bool = False

    async def act(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *, seed: int | None = None
    ) -> PolicyOutput:
        """Append the environment's reply to the sequence, generate the next turn, parse it."""
        policy = self.policy
        renderer = policy.renderer(tools)
        if self.last_action < 0:
            self.prompt_ids = renderer.prompt_ids(messages)
        else:
            suffix = renderer.observation_ids(messages[self.last_action], messages[self.last_action + 1:],
                                              self.ended_with_eos)
            if len(self.completion_ids) + len(suffix) >= policy.max_completion_tokens:
                raise ContextFull(f"{len(self.completion_ids)} completion ids plus a {len(suffix)}-id reply reach "
                                  f"max_completion_tokens={policy.max_completion_tokens}.")
            self._add(suffix, [], 0)
        context = self.prompt_ids + self.completion_ids
        remaining = policy.max_completion_tokens - len(self.completion_ids)
        output = await policy._generate(self.order, context, remaining)
        ids = list(output.ids[:remaining])
        self._add(ids, list(output.logprobs[: len(ids)]), 1)
        self.last_action = len(messages)
        self.ended_with_eos = bool(ids) and ids[-1] in renderer.eos_ids
        usage = Usage(prompt_tokens=len(context), completion_tokens=len(ids), calls=1)
        return PolicyOutput(renderer.parse(ids), usage)

    def finish(self) -> TokenRecord | None:
        """Leave the policy's batch; the token record of the episode (None if nothing was rendered)."""
        if not self.finished:
            self.finished = True
            self.policy._close(self.order)
        if not self.prompt_ids:
            return None
        return TokenRecord(prompt_ids=tuple(self.prompt_ids), completion_ids=tuple(self.completion_ids),
                           logprobs=tuple(self.logprobs), env_mask=tuple(self.env_mask))

    def _add(self, ids: Sequence[int], logprobs: Sequence[float], mask: int) -> None:
        self.completion_ids += list(ids)
        self.logprobs += list(logprobs) if mask else [0.0] * len(ids)
        self.env_mask += [mask] * len(ids)
