"""Token-in/token-out multi-turn episodes: the engine under GRPO's `rollout_func` and `evaluate`.

An episode is one growing token sequence. The prompt ids are the environment's opening messages
rendered with the chat template. Each turn the model continues the sequence; the ids it generated
are kept exactly as generated (never decoded and re-encoded) with `env_mask` 1, and only the text the
environment adds — its observation, rendered with the chat template as the suffix after the
assistant turn, plus the header of the next assistant turn — is tokenized and appended with
`env_mask` 0, so it is excluded from the loss. The generated text is also parsed into a canonical
`Message` for the environment and for the stored `Trajectory`.

All episodes of a batch advance together: one batched generation call per turn over the episodes
still running, then every environment steps concurrently.
"""

from __future__ import annotations

import asyncio
import json
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tqdm.auto import tqdm

from agent_gym.env import Environment, TimeLimit
from agent_gym.errors import ConfigError
from agent_gym.formats import ToolFormat, parse_assistant_text, to_text_conversation
from agent_gym.types import ErrorInfo, Message, Step, Task, Trajectory, Usage


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
        """Whether another turn must run; `active` is how many of this process's episodes still run.
        Generators whose calls are collective across processes (vLLM server mode) agree here."""
        ...


class ScriptedGenerator:
    """Replies from fixed token ids (or texts, tokenized once): item k answers turn k of every episode.

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


class ChatRenderer:
    """Renders conversations to token ids with a tokenizer's chat template, turn by turn.

    Args:
        tokenizer: A tokenizer with a chat template and an end-of-turn (EOS) token.
        tools: OpenAI tool schemas offered to the model.
        tool_format: `native` hands `tools` and tool messages to the template; `text` puts the tool list
            in the system prompt and tool results in `<tool_response>` user messages.
        template_kwargs: Extra keyword arguments for `apply_chat_template` (e.g. `enable_thinking`).
    """

    def __init__(self, tokenizer: Any, tools: Sequence[dict[str, Any]] = (), *, tool_format: ToolFormat = "native",
                 template_kwargs: dict[str, Any] | None = None) -> None:
        if getattr(tokenizer, "chat_template", None) is None:
            raise ConfigError("The tokenizer has no chat template; set tokenizer.chat_template first.")
        if tool_format not in ("native", "text"):
            raise ConfigError(f"tool_format must be 'native' or 'text', got {tool_format!r}.")
        self.tokenizer = tokenizer
        self.tools = list(tools)
        self.tool_names = [t["function"]["name"] for t in self.tools]
        self.tool_format = tool_format
        self.template_kwargs = dict(template_kwargs or {})
        self.eos_text: str = tokenizer.eos_token
        self.eos_ids = end_of_turn_ids(tokenizer)

    def encode(self, text: str) -> list[int]:
        """Token ids of rendered text (the template writes any special tokens itself)."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def render(self, chat: list[dict[str, Any]], *, generation_prompt: bool, tools: bool = True) -> str:
        return self.tokenizer.apply_chat_template(
            chat, tools=(self.tools or None) if tools and self.tool_format == "native" else None,
            add_generation_prompt=generation_prompt, tokenize=False, **self.template_kwargs)

    def chat(self, messages: Sequence[Message], *, with_tools: bool = True) -> list[dict[str, Any]]:
        """Messages as chat-template dicts."""
        if self.tool_format == "text":
            return to_text_conversation(messages, self.tools if with_tools else [])
        out = []
        for message in messages:
            entry = message.to_openai()
            for call in entry.get("tool_calls", []):  # templates iterate the arguments as a mapping
                call["function"]["arguments"] = json.loads(call["function"]["arguments"])
            out.append(entry)
        return out

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        """The opening messages, rendered up to the first assistant header."""
        return self.encode(self.render(self.chat(messages), generation_prompt=True))

    def observation_ids(self, action: Message, observation: Sequence[Message], ended_with_eos: bool) -> list[int]:
        """Ids that follow the generated turn: the rest of the template's end of turn, the observation,
        and the next assistant header — rendered on a minimal conversation, like TRL's tool loop."""
        calls = [{"type": "function", "function": {"name": c.name, "arguments": {}}} for c in action.tool_calls]
        dummy: list[dict[str, Any]] = [{"role": "user", "content": "dummy"}]
        if self.tool_format == "native" and calls:
            dummy.append({"role": "assistant", "content": "", "tool_calls": calls})
        else:
            dummy.append({"role": "assistant", "content": "dummy"})
        prefix = self.render(dummy, generation_prompt=False, tools=False)
        full = self.render(dummy + self.chat(observation, with_tools=False), generation_prompt=True, tools=False)
        end = prefix.rfind(self.eos_text) if self.eos_text else -1
        cut = prefix[: end + len(self.eos_text)] if end >= 0 else prefix
        if not full.startswith(cut):
            raise ConfigError("The chat template does not render a conversation as a prefix of its continuation; "
                              "token-in/token-out multi-turn rollouts need a prefix-stable template.")
        suffix = full[len(cut):]
        if end >= 0 and not ended_with_eos:
            suffix = self.eos_text + suffix  # close the turn the length cap cut short (masked: not generated)
        return self.encode(suffix)

    def parse(self, ids: Sequence[int]) -> Message:
        """The canonical assistant message of generated ids (tool calls parsed, reasoning split out)."""
        text = self.tokenizer.decode(list(ids), skip_special_tokens=True)
        return parse_assistant_text(text, tool_names=self.tool_names)


def end_of_turn_ids(tokenizer: Any) -> list[int]:
    """The EOS id(s) that end an assistant turn."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    return sorted(ids)


@dataclass
class Episode:
    """One episode as a token sequence and as a conversation."""

    task: Task
    env: Environment
    sample_index: int = 0
    messages: list[Message] = field(default_factory=list)
    prompt_ids: list[int] = field(default_factory=list)
    completion_ids: list[int] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)
    """1 for generated tokens (trained on), 0 for tokens the environment added."""
    logprobs: list[float] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    success: bool | None = None
    truncated: bool = False
    terminated: bool = False
    error: ErrorInfo | None = None
    done: bool = False
    started_at: float = field(default_factory=time.time)
    t0: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0

    @property
    def context(self) -> list[int]:
        return self.prompt_ids + self.completion_ids

    @property
    def reward(self) -> float:
        return sum(s.reward for s in self.steps)

    def add(self, ids: Sequence[int], logprobs: Sequence[float], mask: int) -> None:
        self.completion_ids += list(ids)
        self.logprobs += list(logprobs) if mask else [0.0] * len(ids)
        self.env_mask += [mask] * len(ids)

    def fail(self, exc: BaseException) -> None:
        self.error = ErrorInfo(kind=type(exc).__name__, message=str(exc) or repr(exc), traceback=traceback.format_exc())
        self.done = True


async def play_episodes(
    env: Environment,
    tasks: Sequence[Task],
    generator: Generator,
    renderer: ChatRenderer,
    *,
    max_turns: int,
    max_completion_tokens: int,
    max_turn_tokens: int,
    sample_indices: Sequence[int] | None = None,
    max_concurrency: int = 64,
    progress: bool = False,
) -> list[Episode]:
    """Play one episode per task (repeats allowed), all advancing together; see the module docstring.

    An episode ends when the environment terminates it, after `max_turns` turns (truncated), or when
    its completion (generated plus environment tokens) would exceed `max_completion_tokens`. A failing
    environment ends only its own episode, recorded on `Episode.error`. `progress` shows a bar of
    finished episodes with the current turn.
    """
    if max_turns < 1 or max_turn_tokens < 1 or max_completion_tokens < 1:
        raise ConfigError("max_turns, max_turn_tokens and max_completion_tokens must be at least 1.")
    indices = list(sample_indices) if sample_indices is not None else [0] * len(tasks)
    episodes = [Episode(task, TimeLimit(env.clone(), max_turns), i) for task, i in zip(tasks, indices, strict=True)]
    gate = asyncio.Semaphore(max_concurrency)

    async def reset(e: Episode) -> None:
        async with gate:
            try:
                e.messages = list(await e.env.reset(e.task))
                e.prompt_ids = renderer.prompt_ids(e.messages)
            except Exception as exc:  # noqa: BLE001 - recorded on the episode
                e.prompt_ids = renderer.encode(e.task.prompt) or renderer.eos_ids[:1]
                e.fail(exc)

    await asyncio.gather(*(reset(e) for e in episodes))
    bar = tqdm(total=len(episodes), desc=f"{env.name} episodes", unit="episode", disable=not progress)
    turn = 0
    while True:
        active = [e for e in episodes if not e.done]
        bar.n = len(episodes) - len(active)
        bar.set_postfix(turn=turn)
        if not generator.keep_going(len(active)):
            break
        turn += 1
        budget = max((max_completion_tokens - len(e.completion_ids) for e in active), default=1)
        t0 = time.perf_counter()
        outputs = await asyncio.to_thread(generator.generate, [e.context for e in active], max(1, min(max_turn_tokens, budget)))
        seconds = (time.perf_counter() - t0) / max(len(active), 1)
        await asyncio.gather(*(_advance(e, out, renderer, max_completion_tokens, seconds, gate)
                               for e, out in zip(active, outputs, strict=True)))
    bar.close()
    for e in episodes:
        if not e.completion_ids:  # TRL needs at least one completion token; this one is not trained on
            e.add(renderer.eos_ids[:1] or [0], [0.0], 0)
        e.seconds = time.perf_counter() - e.t0
        try:
            await e.env.close()
        except Exception as exc:  # noqa: BLE001
            e.error = e.error or ErrorInfo(kind=type(exc).__name__, message=f"close() failed: {exc}")
    return episodes


async def _advance(e: Episode, out: Generation, renderer: ChatRenderer, max_completion_tokens: int,
                   policy_seconds: float, gate: asyncio.Semaphore) -> None:
    """Apply one generated turn to its episode: record it, step the environment, append the observation."""
    ids = out.ids[: max_completion_tokens - len(e.completion_ids)]
    context = len(e.context)
    e.add(ids, out.logprobs[: len(ids)], 1)
    action = renderer.parse(ids)
    e.messages.append(action)
    t0 = time.perf_counter()
    try:
        async with gate:
            result = await e.env.step(action)
    except Exception as exc:  # noqa: BLE001 - one broken episode must not stop the batch
        e.fail(exc)
        return
    e.messages.extend(result.observation)
    e.steps.append(Step(
        action_index=len(e.messages) - len(result.observation) - 1, observation_count=len(result.observation),
        reward=result.reward, components=result.components, terminated=result.terminated,
        truncated=result.truncated, info=result.info, usage=Usage(prompt_tokens=context, completion_tokens=len(ids), calls=1),
        policy_seconds=policy_seconds, env_seconds=time.perf_counter() - t0,
    ))
    e.success = result.success
    if result.terminated or result.truncated:
        e.terminated, e.truncated, e.done = result.terminated, result.truncated, True
        return
    try:
        suffix = renderer.observation_ids(action, result.observation, bool(ids) and ids[-1] in renderer.eos_ids)
    except Exception as exc:  # noqa: BLE001
        e.fail(exc)
        return
    if len(e.completion_ids) + len(suffix) >= max_completion_tokens:
        e.truncated, e.done = True, True  # no room for the observation and another turn
        return
    e.add(suffix, [], 0)


def to_trajectory(e: Episode, *, env_name: str, policy: str, model: str | None, trajectory_id: str,
                  key: str = "", sampling: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None) -> Trajectory:
    """The stored record of an episode (same fields `run_rollouts_async` fills)."""
    components: dict[str, float] = {}
    for step in e.steps:
        for name, value in step.components.items():
            components[name] = components.get(name, 0.0) + value
    actions = [e.messages[s.action_index] for s in e.steps]
    generated = sum(e.env_mask)
    return Trajectory(
        id=trajectory_id, task_id=e.task.id, env=env_name, policy=policy, model=model, sample_index=e.sample_index,
        job_key=key or trajectory_id, sampling=dict(sampling or {}), messages=tuple(e.messages), steps=tuple(e.steps),
        reward=e.reward, reward_components=components, success=e.success if e.error is None else None,
        terminated=e.terminated, truncated=e.truncated,
        metrics={
            "tool_calls": float(sum(len(m.tool_calls) for m in actions)),
            "parse_errors": float(sum(m.error is not None for m in actions)),
            "tool_errors": float(sum(s.info.get("tool_errors", 0) for s in e.steps)),
            "prompt_tokens": float(len(e.prompt_ids)),
            "generated_tokens": float(generated),
            "env_tokens": float(len(e.completion_ids) - generated),
        },
        usage=sum((s.usage for s in e.steps), Usage()), started_at=e.started_at, seconds=e.seconds, error=e.error,
        metadata={**({"task": e.task.metadata} if e.task.metadata else {}), **(metadata or {})},
    )


def mask_spans(ids: Sequence[int], mask: Sequence[int]) -> list[tuple[bool, list[int]]]:
    """Runs of equal mask: `[(trained?, ids), ...]` — the model's turns and the environment's in between."""
    spans: list[tuple[bool, list[int]]] = []
    for token, keep in zip(ids, mask, strict=True):
        if spans and spans[-1][0] == bool(keep):
            spans[-1][1].append(token)
        else:
            spans.append((bool(keep), [token]))
    return spans


def valid_tool_call(t: Trajectory, turn: int = 0) -> bool:
    """Whether assistant turn `turn` of `t` is a well-formed call of a known tool that ran without error."""
    if len(t.steps) <= turn:
        return False
    step = t.steps[turn]
    message = t.messages[step.action_index]
    bad = step.info.get("tool_errors", 0) or step.info.get("parse_error")  # a legal call of a bad move still counts
    return bool(message.tool_calls) and message.error is None and not bad
