"""Sample trajectory stores for the widgets' tests, docs and notebooks, made by real rollouts.

    python -m agent_gym.testing.samples data/samples

writes `calculator_runs.jsonl` (two toy models on two calculator variants, 4 samples per task:
successes, wrong answers, hedged answers, tool errors and failed episodes), `before_training.jsonl`
and `after_training.jsonl` (the same tasks by a weak and a stronger checkpoint) for comparisons.
`edge_cases()` makes the awkward records (a 200-turn episode, a 1 MB tool output, HTML and
non-ASCII text, missing fields) in memory.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent_gym.env import ToolEnv, Wrapper
from agent_gym.envs.calculator import (
    CalculatorEnv,
    CalculatorExpert,
    _expression_from,
    calculate,
    make_tasks,
)
from agent_gym.errors import PolicyError
from agent_gym.paths import data_dir
from agent_gym.policies.base import PolicyOutput
from agent_gym.policies.scripted import ScriptedPolicy
from agent_gym.runner.batch import run_rollouts
from agent_gym.store import TrajectoryStore
from agent_gym.tools.base import tool
from agent_gym.types import Message, StepResult, Task, ToolCall, Trajectory, Usage, assistant

SAMPLE_DIR = data_dir() / "samples"
"""`data/samples/` of the checkout."""


class ShapedCalculator(Wrapper):
    """The calculator with per-step shaping (+0.05 per working tool call, −0.05 per tool error)
    and a judge-style rationale on the final step, so that every viewer panel has something to show."""

    def __init__(self) -> None:
        super().__init__(CalculatorEnv())

    @property
    def name(self) -> str:  # type: ignore[override]
        return "calculator-shaped"

    def config(self) -> dict[str, Any]:
        return {"name": self.name}

    async def reset(self, task: Task) -> list[Message]:
        self.task = task
        return await self.env.reset(task)

    async def step(self, action: Message) -> StepResult:
        result = await self.env.step(action)
        if action.tool_calls:
            errors = int(result.info.get("tool_errors", 0))
            shaping = 0.05 * (len(action.tool_calls) - errors) - 0.05 * errors
            return result.model_copy(update={"reward": result.reward + shaping, "components": {"tool_use": shaping}})
        if result.terminated:
            got, want = action.content.strip(), str(self.task.answer)
            verdict = "matches" if result.components.get("correct") else "does not match"
            rationale = f"The final answer {got!r} {verdict} the reference {want!r}."
            return result.model_copy(update={"info": {**result.info, "judge": {"rationale": rationale}}})
        return result


class ToyModel:
    """A seeded stand-in for a sampled model: usually right, sometimes wrong, hedging, empty,
    mistyping the tool call, or failing outright. `skill` in [0, 1] sets how often it is right."""

    name = "toy"
    sampling: dict[str, Any] = {"temperature": 1.0}

    def __init__(self, model: str, skill: float) -> None:
        self.model = model
        self.skill = skill

    async def act(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *, seed: int | None = None) -> PolicyOutput:
        turn = sum(m.role == "assistant" for m in messages)
        rng = random.Random(f"{self.model}:{seed}:{turn}")
        prompt = next(m.content for m in messages if m.role == "user")
        expression = _expression_from(prompt)
        usage = Usage(prompt_tokens=sum(len(m.content) for m in messages) // 4 + 60, completion_tokens=0, calls=1)
        if turn == 0 and rng.random() < 0.06 * (1 - self.skill):
            raise PolicyError(f"{self.model}: the server answered 503 Service Unavailable (after 3 retries)")
        last = messages[-1]
        if last.role == "tool" and not last.content.startswith("Error"):
            message = self._answer(rng, last.content)
        elif last.role == "tool":
            message = assistant(reasoning="The expression had a typo; fixing it.",
                                tool_calls=(ToolCall(name="calculate", arguments={"expression": expression}, id=f"call_{turn}"),))
        elif rng.random() < 0.25 * (1 - self.skill):
            message = assistant(_wrong(rng, calculate(expression)), reasoning="I can do this in my head.")
        else:
            typo = rng.random() < 0.3 * (1 - self.skill)
            args = {"expression": expression.replace(" + ", " +* ") if typo and "+" in expression else expression}
            message = assistant(reasoning=f"I should compute {expression} with the tool.",
                                tool_calls=(ToolCall(name="calculate", arguments=args, id=f"call_{turn}"),))
        text = message.content + (message.reasoning or "") + "".join(str(c.arguments) for c in message.tool_calls)
        return PolicyOutput(message, usage.model_copy(update={"completion_tokens": len(text) // 3 + 5}))

    def _answer(self, rng: random.Random, value: str) -> Message:
        roll = rng.random()
        if roll < 0.15 * (1 - self.skill):
            return assistant("", reasoning="…")
        if roll < 0.45 * (1 - self.skill):
            return assistant(_wrong(rng, value), reasoning=f"The tool said {value}, but I will double-check… no, I trust myself.")
        if roll < 0.6 * (1 - self.skill):
            near = int(float(value))
            return assistant(f"I think it could be {near - 1}, {near + 1} or maybe {value}.", reasoning="Not sure, I will list a few.")
        if roll < 0.7 * (1 - self.skill):
            padding = " ".join(["Let me explain the computation step by step once more."] * 12)
            return assistant(f"{padding} The answer is {value}.", reasoning="A long answer looks careful.")
        return assistant(value, reasoning=f"The tool returned {value}.")


def _wrong(rng: random.Random, value: str) -> str:
    return str(int(float(value)) + rng.choice([-10, -2, -1, 1, 2, 10]))


def write_samples(directory: str | Path = SAMPLE_DIR, tasks: int = 5, samples: int = 4) -> dict[str, Path]:
    """Write the sample stores into `directory` (replacing them); return their paths by name."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.jsonl" for name in ("calculator_runs", "before_training", "after_training")}
    for path in paths.values():
        path.unlink(missing_ok=True)
    task_list = make_tasks(tasks, seed=7)
    runs = paths["calculator_runs"]
    for env in (CalculatorEnv(), ShapedCalculator()):
        for model in (ToyModel("toy-small", 0.35), ToyModel("toy-large", 0.8)):
            run_rollouts(env, model, task_list, n=samples, store=runs, seed=1, max_concurrency=1, progress=False)
    run_rollouts(ShapedCalculator(), CalculatorExpert(), task_list, store=runs, progress=False)
    compare_tasks = make_tasks(8, seed=11)
    run_rollouts(ShapedCalculator(), ToyModel("checkpoint-0", 0.2), compare_tasks, store=paths["before_training"], seed=3, progress=False)
    run_rollouts(ShapedCalculator(), ToyModel("checkpoint-200", 0.9), compare_tasks, store=paths["after_training"], seed=3, progress=False)
    return paths


def sample_store(name: str = "calculator_runs") -> TrajectoryStore:
    """One of the committed sample stores (`calculator_runs`, `before_training`, `after_training`)."""
    path = SAMPLE_DIR / f"{name}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; make it with: python -m agent_gym.testing.samples {SAMPLE_DIR}")
    return TrajectoryStore(path)


@tool
def dump(what: str) -> str:
    """Print a very large log.

    Args:
        what: Which log.
    """
    return f"log {what}: " + ("0123456789abcdef" * 65_536)  # a bit over 1 MB


@tool
def echo(text: str) -> str:
    """Echo the text back.

    Args:
        text: Anything.
    """
    return text


HOSTILE = '<script>window.__agPwned = 1</script><img src=x onerror="window.__agPwned = 2"> </pre></div> & &amp;'
UNICODE = "Ünïcödé ✓ 你好 🚀 مرحبا — \u202eRTL\u202c"


def edge_cases() -> dict[str, Any]:
    """Awkward records (made by real rollouts where possible): `long` (200 turns), `huge_output`
    (a 1 MB tool response), `hostile` (HTML/script and non-ASCII text in every role), `missing`
    (a dict without most fields), `dangling` (a step pointing past the messages)."""
    long_policy = ScriptedPolicy(lambda messages, tools: f'<tool_call>{{"name": "echo", "arguments": {{"text": "turn {len(messages)}"}}}}</tool_call>', name="looper")
    [long] = run_rollouts(ToolEnv(tools=[echo], name="echo"), long_policy, [Task(id="long", prompt="Loop.")], max_turns=200, progress=False)
    huge_policy = ScriptedPolicy(['<tool_call>{"name": "dump", "arguments": {"what": "all"}}</tool_call>', "done"], name="dumper")
    [huge] = run_rollouts(ToolEnv(tools=[dump], name="dump"), huge_policy, [Task(id="huge", prompt="Dump the logs.")], progress=False)
    hostile_policy = ScriptedPolicy([
        f"<think>{HOSTILE}</think><tool_call>{json.dumps({'name': 'echo', 'arguments': {'text': HOSTILE}})}</tool_call>",
        f"{HOSTILE} {UNICODE}",
    ], name="hostile")
    env = ToolEnv(tools=[echo], name="echo", system_prompt=f"System {UNICODE} {HOSTILE}")
    [hostile] = run_rollouts(env, hostile_policy, [Task(id=f"hostile {HOSTILE}", prompt=f"{UNICODE} {HOSTILE}")], progress=False)
    missing = {"id": "missing-fields", "messages": [{"role": "user", "content": "Only a user message."}, {"role": "wizard"}],
               "steps": [{"bogus": True}], "reward": "not a number"}
    dangling = Trajectory(id="dangling", task_id="t", env="echo", policy="p",
                          messages=(Message(role="user", content="hi"),),
                          steps=(long.steps[0].model_copy(update={"action_index": 5}),))
    return {"long": long, "huge_output": huge, "hostile": hostile, "missing": missing, "dangling": dangling}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    for name, path in write_samples(args[0] if args else SAMPLE_DIR).items():
        print(f"{name}: {len(TrajectoryStore(path).read())} trajectories, {path.stat().st_size:,} bytes -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


THINK_CALL = ('<think>\nThe shop sold 51 then 99; I add them.\n</think>\n\n<tool_call>\n'
              '{"name": "calculate", "arguments": {"expression": "51 + 99"}}\n</tool_call>')
"""A calculator turn with reasoning and a tool call (for `calc-000`, 51 + 99)."""
THINK_ANSWER = "<think>\nThe tool says 150.\n</think>\n\n150"
"""The answer turn that follows `THINK_CALL`."""


def odd_ids(tokenizer: Any, text: str) -> list[int]:
    """Ids of `text` split at every character of its first 40 characters, then an EOS: a valid but
    non-canonical tokenization that re-encoding the decoded text can never give back (for token-exactness
    tests)."""
    head = [i for ch in text[:40] for i in tokenizer(ch, add_special_tokens=False)["input_ids"]]
    return head + tokenizer(text[40:], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
