"""Typed records that flow through agent_gym: tasks, messages, steps and trajectories.

All are frozen pydantic models with an exact JSON round trip (`to_json` / `from_json`).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticSerializationError

SCHEMA_VERSION = 2
"""Version of the trajectory JSON layout; bumped when fields change (2: the task, tools offered, environment
and policy identity, token record, replay key). Older records still load: new fields take their defaults."""

Role = Literal["system", "user", "assistant", "tool"]
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class Record(BaseModel):
    """Base of all records: immutable, strict about unknown fields, JSON round trip."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    def to_json(self) -> str:
        """One-line JSON text. Any string is written losslessly: a lone surrogate (`'\\udcff'`, which text
        decoded with `surrogateescape` or a server's `"\\udcff"` escape can hold) becomes a JSON escape."""
        try:
            return self.model_dump_json()
        except PydanticSerializationError as exc:
            if "surrogates not allowed" not in str(exc):
                raise
        text = json.dumps(self.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
        return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)

    @classmethod
    def from_json(cls, text: str | bytes):  # noqa: ANN206 - returns cls
        """Parse what `to_json` wrote (pydantic's parser, or `json` for the lone surrogates and deep nesting it
        rejects)."""
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            if not any(("surrogate" in e["msg"] or "recursion limit" in e["msg"])
                       for e in exc.errors() if e["type"] == "json_invalid"):
                raise
        data = text.decode("utf-8", "surrogatepass") if isinstance(text, bytes) else text
        return cls.model_validate(json.loads(data))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict."""
        return self.model_dump(mode="json")


class Task(Record):
    """One problem an environment can pose."""

    id: str
    """Unique id within its task set."""
    prompt: str
    """What the user asks; the environment turns it into the first messages."""
    answer: Any = None
    """Ground truth for rewards (JSON-compatible), if any."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Free-form extra data (difficulty, source, checker settings …)."""


class ToolCall(Record):
    """A request by the model to run one tool."""

    name: str
    """Name of the tool."""
    arguments: dict[str, Any] = Field(default_factory=dict)
    """Decoded JSON arguments."""
    id: str = ""
    """Call id that the answering tool message refers to."""


class Message(Record):
    """One chat message, in the canonical (OpenAI-like) form stored on trajectories."""

    role: Role
    """Who speaks: system, user, assistant or tool."""
    content: str = ""
    """The visible text (for assistant messages: without `<think>` and `<tool_call>` blocks)."""
    reasoning: str | None = None
    """The assistant's reasoning (`<think>` content or a server's `reasoning_content`)."""
    tool_calls: tuple[ToolCall, ...] = ()
    """Tools the assistant asks to run."""
    tool_call_id: str | None = None
    """For tool messages: the call this answers."""
    name: str | None = None
    """For tool messages: the tool's name. For user messages: an optional speaker tag."""
    error: str | None = None
    """For assistant messages whose text could not be parsed: the model-visible parse error."""
    is_error: bool = False
    """For tool messages: the call failed (bad arguments, an exception, an unknown tool)."""

    def to_openai(self) -> dict[str, Any]:
        """As an OpenAI chat-completions message dict (reasoning dropped)."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
                for call in self.tool_calls
            ]
        if self.role == "tool":
            out["tool_call_id"] = self.tool_call_id or ""
            if self.name:
                out["name"] = self.name
        return out


def system(content: str) -> Message:
    """A system message."""
    return Message(role="system", content=content)


def user(content: str) -> Message:
    """A user message."""
    return Message(role="user", content=content)


def assistant(content: str = "", tool_calls: tuple[ToolCall, ...] = (), reasoning: str | None = None) -> Message:
    """An assistant message."""
    return Message(role="assistant", content=content, tool_calls=tool_calls, reasoning=reasoning)


class Usage(Record):
    """Token counts of model calls."""

    prompt_tokens: int = 0
    """Tokens sent to the model."""
    completion_tokens: int = 0
    """Tokens the model generated."""
    calls: int = 0
    """Number of model calls these counts cover."""

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            calls=self.calls + other.calls,
        )


class StepResult(Record):
    """What `Environment.step` returns."""

    observation: tuple[Message, ...] = ()
    """Messages the environment appends to the conversation (tool results, user replies)."""
    reward: float = 0.0
    """Reward for this step."""
    terminated: bool = False
    """The episode reached a natural end (an answer, a goal, a failure state)."""
    truncated: bool = False
    """The episode was cut short from outside (turn or time limit)."""
    info: dict[str, Any] = Field(default_factory=dict)
    """Diagnostics for this step (JSON-compatible)."""
    components: dict[str, float] = Field(default_factory=dict)
    """Named parts of `reward` (e.g. correctness, format), kept on the trajectory."""
    success: bool | None = None
    """Whether the task was solved, when the environment can tell."""


class Step(Record):
    """One policy turn and the environment's answer to it, as stored on a trajectory."""

    action_index: int
    """Index in `Trajectory.messages` of the assistant message of this turn."""
    observation_count: int
    """How many messages the environment appended right after it."""
    reward: float = 0.0
    """Reward the environment gave for this turn."""
    components: dict[str, float] = Field(default_factory=dict)
    """Named parts of `reward`."""
    terminated: bool = False
    """The episode ended naturally at this turn."""
    truncated: bool = False
    """The episode was cut short at this turn."""
    info: dict[str, Any] = Field(default_factory=dict)
    """The environment's diagnostics for this turn."""
    usage: Usage = Usage()
    """Tokens the policy used for this turn."""
    policy_seconds: float = 0.0
    """Wall time the policy took, less `queue_seconds`."""
    queue_seconds: float = 0.0
    """Wall time the policy's call waited for its model to be free (a local server answering one request at a
    time); 0 when the policy cannot tell."""
    env_seconds: float = 0.0
    """Wall time the environment's step took."""



class ErrorInfo(Record):
    """Why an episode failed; the run goes on and the error stays on the trajectory."""

    kind: str
    """Exception class name, e.g. `PolicyError`."""
    message: str
    """The exception's message."""
    traceback: str = ""
    """Formatted traceback, for debugging."""


class TokenRecord(Record):
    """An episode as the one token sequence a token-capable policy generated it in.

    `prompt_ids` are the opening messages rendered up to the first assistant header; `completion_ids` is
    everything after: the ids generated (`env_mask` 1), exactly as sampled, and the ids the environment's
    replies were rendered to (`env_mask` 0). A trainer can train on it token-exactly.
    """

    prompt_ids: tuple[int, ...] = ()
    """The rendered opening messages."""
    completion_ids: tuple[int, ...] = ()
    """Generated and environment ids, in order."""
    logprobs: tuple[float, ...] = ()
    """Log-probability of each completion id under the sampling distribution (0.0 on environment ids)."""
    env_mask: tuple[int, ...] = ()
    """1 for a generated id (trained on), 0 for an id the environment added."""

    @property
    def generated_tokens(self) -> int:
        """How many completion ids the model generated."""
        return sum(self.env_mask)


class Trajectory(Record):
    """One finished (or failed) episode: the whole conversation and everything measured on it."""

    id: str
    """Unique id of this trajectory."""
    task_id: str
    """Id of the task it attempted."""
    env: str
    """Name of the environment."""
    policy: str
    """Name of the policy (e.g. `openai`, `scripted`)."""
    model: str | None = None
    """Model behind the policy, if any."""
    sample_index: int = 0
    """Which of the n samples of this task it is."""
    job_key: str = ""
    """The job fingerprint: a hash of the environment's configuration and reward identity, the task's content,
    the policy and its sampling, the turn limit, the sample index and the seed. A re-run reuses a finished
    record only when this matches (`agent_gym.runner.keys.fingerprints`)."""
    replay_key: str = ""
    """The fingerprint without the reward identity: records that share it played the same interaction and
    differ only in how it was scored (a re-run may re-score them instead of replaying them)."""
    sampling: dict[str, Any] = Field(default_factory=dict)
    """Sampling settings the policy used."""
    messages: tuple[Message, ...] = ()
    """The whole conversation, starting with the environment's first messages."""
    steps: tuple[Step, ...] = ()
    """Per-turn records pointing into `messages`."""
    reward: float = 0.0
    """Total reward (sum of step rewards)."""
    reward_components: dict[str, float] = Field(default_factory=dict)
    """Sum of each named reward component over the steps."""
    success: bool | None = None
    """Whether the task was solved (last step's verdict), if known."""
    terminated: bool = False
    """Ended naturally."""
    truncated: bool = False
    """Cut short by a limit."""
    metrics: dict[str, float] = Field(default_factory=dict)
    """Extra numbers (tool calls, parse errors …)."""
    usage: Usage = Usage()
    """Total token usage."""
    started_at: float = 0.0
    """Unix time the episode started."""
    seconds: float = 0.0
    """Wall time of the episode."""
    error: ErrorInfo | None = None
    """Set when the episode failed; the conversation up to the failure is kept."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Free-form extra data (public task metadata under `task`, GRPO step data under `grpo` …)."""
    task: Task | None = None
    """The task as given: prompt, expected answer, metadata (None in records older than schema 2)."""
    tools: tuple[dict[str, Any], ...] = ()
    """The OpenAI tool schemas offered to the policy."""
    environment: dict[str, Any] = Field(default_factory=dict)
    """The environment's identity: name, class, version, configuration, reward functions (qualified name and
    a hash of the source of each), and the agent_gym version that ran it."""
    policy_info: dict[str, Any] = Field(default_factory=dict)
    """The policy's identity: class, name, model, sampling, and whether it records tokens (`tokens`)."""
    tokens: TokenRecord | None = None
    """The episode's token sequence, for token-capable policies; None for text-only ones (OpenAI-compatible
    chat servers, DeepSeek, scripted policies), which say so with `policy_info["tokens"] = False`."""
    schema_version: int = SCHEMA_VERSION
    """Layout version of this record."""

    @property
    def num_turns(self) -> int:
        """Number of policy turns."""
        return len(self.steps)

    @property
    def final_answer(self) -> str:
        """Content of the last assistant message ('' if none)."""
        return final_answer(self.messages)


def final_answer(messages: tuple[Message, ...] | list[Message]) -> str:
    """Content of the last assistant message in `messages` ('' if none)."""
    for message in reversed(messages):
        if message.role == "assistant":
            return message.content
    return ""
