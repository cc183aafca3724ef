"""LLM-as-judge over any `Policy`: a rubric, a score in [0, 1] and a rationale kept on the trajectory.

```python
judge = LLMJudge(policy, rubric="Did the agent resolve the request while following the policy?")
verdict = await judge.evaluate(task, messages)       # Verdict(score=0.8, rationale="...", ok=True)
env = JudgeWrapper(CustomerServiceEnv("retail"), judge, weight=0.5)
```

`JudgeWrapper` (any environment) scores the finished conversation: the verdict goes into the final
step's `info["judge"]` (score, rationale, attempts, error) and its score into the `judge` reward
component, so both are on the trajectory and in the viewer. As a plain reward function,
`weighted(task=(fn, 1.0), judge=(judge, 0.5))` works too, but keeps only the score.

Failures — a reply without valid JSON, a refusal, a score outside [0, 1], a timeout, a policy error —
are retried `max_attempts` times, then recorded on the verdict (`ok=False`, `error`) with
`failure_score`; they never raise.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from agent_gym.env import Environment, Wrapper
from agent_gym.errors import ConfigError
from agent_gym.policies.base import Policy
from agent_gym.types import Message, Record, StepResult, Task

DEFAULT_RUBRIC = (
    "Judge the AGENT (not the user). Score 1.0 when the agent resolved the user's request correctly, "
    "used the tools sensibly, gave accurate information, followed its policy, and was polite and concise; "
    "0.0 when it failed, invented facts, or broke the policy; partial credit in between."
)

SYSTEM = (
    "You are a strict, fair evaluator of conversations between a user and an AI agent. "
    "Read the rubric and the transcript, then reply with one JSON object and nothing else: "
    '{"rationale": "<one to three sentences>", "score": <a number from 0 to 1>}'
)

_REFUSAL = re.compile(r"\b(I can(?:no|')t|I am unable|I'm unable|I won't|as an AI)\b", re.IGNORECASE)


class Verdict(Record):
    """A judge's decision on one conversation."""

    score: float
    """Score in [0, 1] (`failure_score` when the judge failed)."""
    rationale: str = ""
    """Why, in the judge's words."""
    ok: bool = True
    """False when every attempt failed."""
    attempts: int = 1
    """Judge calls made."""
    error: str | None = None
    """The last failure (kind: detail), if any attempt failed."""
    errors: list[str] = Field(default_factory=list)
    """Every failed attempt's error."""
    model: str | None = None
    """The judge's model."""


class JudgeFailure(Exception):
    """One judge attempt failed (kind is `bad_json`, `refusal`, `bad_score`, `timeout` or `policy_error`)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


def render_transcript(messages: Sequence[Message], max_chars: int = 8000, tool_chars: int = 400) -> str:
    """The conversation as plain text for a judge (system prompt left out; tool output shortened)."""
    lines: list[str] = []
    for m in messages:
        if m.role == "system":
            continue
        if m.role == "user":
            lines.append(f"USER: {m.content}")
        elif m.role == "tool":
            text = m.content if len(m.content) <= tool_chars else m.content[:tool_chars] + " …"
            lines.append(f"TOOL {m.name or ''}: {text}")
        else:
            if m.content:
                lines.append(f"AGENT: {m.content}")
            for call in m.tool_calls:
                lines.append(f"AGENT CALLS {call.name}({json.dumps(call.arguments, ensure_ascii=False)})")
    text = "\n".join(lines)
    return text if len(text) <= max_chars else "… " + text[-max_chars:]


def parse_verdict(text: str) -> tuple[float, str]:
    """(score, rationale) from a judge reply; raises `JudgeFailure` on bad JSON, refusal or bad score."""
    match = _last_json_object(text)
    if match is None:
        kind = "refusal" if _REFUSAL.search(text) else "bad_json"
        raise JudgeFailure(kind, f"no JSON object in the reply {text[:200]!r}")
    data = match
    if "score" not in data:
        raise JudgeFailure("bad_json", f"the JSON has no 'score': {json.dumps(data)[:200]}")
    try:
        score = float(data["score"])
    except (TypeError, ValueError):
        raise JudgeFailure("bad_score", f"score is not a number: {data['score']!r}") from None
    if not 0.0 <= score <= 1.0:
        raise JudgeFailure("bad_score", f"score {score} is outside [0, 1]")
    return score, str(data.get("rationale") or data.get("reason") or "")


def _last_json_object(text: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    found = None
    for start in [i for i, ch in enumerate(text) if ch == "{"]:
        try:
            value, _ = decoder.raw_decode(text[start:])
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            found = value
            if "score" in value:
                return value
    return found


class LLMJudge:
    """Scores a conversation with any policy, following a rubric.

    Args:
        policy: The judge model (`LocalPolicy`, `OpenAIPolicy`, a `ScriptedPolicy` in tests …).
        rubric: What a good agent does; shown to the judge with the task and the transcript.
        max_attempts: Calls before giving up on a conversation.
        timeout: Seconds per call.
        failure_score: Score recorded when every attempt failed.
        retry_delay: Seconds before the first retry (doubles each time).
        max_chars: Transcript length cap (the end is kept).
    """

    name = "judge"

    def __init__(self, policy: Policy, rubric: str = DEFAULT_RUBRIC, *, max_attempts: int = 3,
                 timeout: float | None = 120.0, failure_score: float = 0.0, retry_delay: float = 0.5,
                 max_chars: int = 8000) -> None:
        if not isinstance(policy, Policy):
            raise ConfigError(f"LLMJudge needs a Policy (name, model, sampling, act), got {type(policy).__name__}.")
        if max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, got {max_attempts}.")
        if not 0.0 <= failure_score <= 1.0:
            raise ConfigError(f"failure_score must be in [0, 1], got {failure_score}.")
        self.policy = policy
        self.rubric = rubric
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.failure_score = failure_score
        self.retry_delay = retry_delay
        self.max_chars = max_chars
        self.__name__ = "judge"  # so as_rubric() names the component `judge`

    def __deepcopy__(self, memo: dict) -> LLMJudge:
        return self  # stateless; its policy may hold HTTP clients

    def config(self) -> dict[str, Any]:
        """What changes the verdicts: the judge's policy, model, sampling and rubric."""
        return {"policy": self.policy.name, "model": self.policy.model, "sampling": dict(self.policy.sampling),
                "rubric": self.rubric}

    def prompt(self, task: Task, messages: Sequence[Message]) -> list[Message]:
        """The judge's conversation: instructions, rubric, task and transcript."""
        goal = str(task.metadata.get("user_scenario") or task.prompt)
        extra = task.metadata.get("nl_assertions") or []
        checks = "".join(f"\n- {a}" for a in extra)
        body = (f"Rubric:\n{self.rubric}\n\nWhat the user wanted:\n{goal}\n"
                + (f"\nThe agent is expected to:{checks}\n" if checks else "")
                + f"\nTranscript:\n{render_transcript(messages, self.max_chars)}\n\n"
                'Reply with {"rationale": "...", "score": <0 to 1>} only.')
        return [Message(role="system", content=SYSTEM), Message(role="user", content=body)]

    async def evaluate(self, task: Task, messages: Sequence[Message]) -> Verdict:
        """Judge one conversation; never raises."""
        errors: list[str] = []
        prompt = self.prompt(task, messages)
        for attempt in range(1, self.max_attempts + 1):
            try:
                score, rationale = await self._attempt(prompt)
                return Verdict(score=score, rationale=rationale, attempts=attempt, errors=errors,
                               error=errors[-1] if errors else None, model=self.policy.model)
            except JudgeFailure as exc:
                errors.append(str(exc))
            if attempt < self.max_attempts and self.retry_delay > 0:
                await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))
        return Verdict(score=self.failure_score, ok=False, attempts=self.max_attempts, error=errors[-1],
                       errors=errors, model=self.policy.model)

    async def _attempt(self, prompt: list[Message]) -> tuple[float, str]:
        try:
            async with asyncio.timeout(self.timeout):
                output = await self.policy.act(prompt, [])
        except TimeoutError:
            raise JudgeFailure("timeout", f"no answer within {self.timeout} s") from None
        except Exception as exc:  # noqa: BLE001 - any policy failure is one failed attempt
            raise JudgeFailure("policy_error", f"{type(exc).__name__}: {exc}") from None
        message = output.message
        return parse_verdict(message.content if message.content.strip() else (message.reasoning or ""))

    async def __call__(self, task: Task, messages: Sequence[Message]) -> float:
        """The score alone, so a judge is a reward function: `weighted(judge=(judge, 0.5), ...)`."""
        return (await self.evaluate(task, messages)).score


class JudgeWrapper(Wrapper):
    """Adds an LLM judge's verdict to the end of every episode of any environment.

    At the final step (terminated; also truncated if `on_truncated`) the judge reads the whole
    conversation. `weight × score` is added to the step's reward, the score is the `judge` component,
    and the verdict (score, rationale, attempts, error) is `info["judge"]`.
    """

    def __init__(self, env: Environment, judge: LLMJudge, weight: float = 1.0, *, on_truncated: bool = False,
                 component: str = "judge") -> None:
        super().__init__(env)
        if not isinstance(judge, LLMJudge):
            raise ConfigError(f"JudgeWrapper takes an LLMJudge, got {type(judge).__name__}.")
        self.judge = judge
        self.weight = weight
        self.on_truncated = on_truncated
        self.component = component
        self.task: Task | None = None
        self.messages: list[Message] = []

    def clone(self) -> JudgeWrapper:
        return JudgeWrapper(self.env.clone(), self.judge, self.weight, on_truncated=self.on_truncated,
                            component=self.component)

    def config(self) -> dict[str, Any]:
        return {**self.env.config(), "judge": {**self.judge.config(), "weight": self.weight}}

    def tool_schemas(self) -> list[dict[str, Any]]:
        return self.env.tool_schemas()

    async def reset(self, task: Task) -> list[Message]:
        self.task = task
        opening = await self.env.reset(task)
        self.messages = list(opening)
        return opening

    async def step(self, action: Message) -> StepResult:
        result = await self.env.step(action)
        self.messages += [action, *result.observation]
        if not (result.terminated or (result.truncated and self.on_truncated)):
            return result
        assert self.task is not None
        verdict = await self.judge.evaluate(self.task, self.messages)
        return result.model_copy(update={
            "reward": result.reward + self.weight * verdict.score,
            "components": {**result.components, self.component: verdict.score},
            "info": {**result.info, self.component: verdict.to_dict()},
        })
