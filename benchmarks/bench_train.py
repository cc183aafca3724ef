"""Multi-turn GRPO step time against TRL's own single-turn GRPO step on equal token counts, and against
TRL's own agent API (`environment_factory`) on the same environment and budget.

    .venv/bin/python -m benchmarks --only train [--quick]
    .venv/bin/python benchmarks/bench_train.py --environment-factory [--quick]   # only those rows

Both sides train the embedded model with LoRA on CPU, in the same process, one step at a time,
alternating (A, B, A, B …), with the same prompt ids, the same number of sequences and the same
completion length per sequence:

* single-turn: a plain `trl.GRPOTrainer` generating L tokens per completion (`min_new_tokens = L`);
* multi-turn: `agent_gym.train` over an environment that always answers with the same observation,
  T turns of k generated tokens each, so L = T*k + (T-1)*e, with e the observation's tokens (masked).

A step is timed from `on_step_begin` to `on_step_end` (generation, environment, loss, backward,
optimizer). The row is the median ratio multi/single with its spread; the issue's target is <= 1.15.
The multi-turn side generates fewer tokens (T*k, the e environment tokens are prefilled) but calls
`generate` T times and re-reads the whole context each turn (no KV cache across turns). A second
single-turn trainer generates exactly T*k tokens (equal *generated* tokens, a shorter sequence to train
on): the ratio against it is the price of the turns themselves, the stricter comparison. A second
multi-turn trainer keeps the key/value cache across turns (`TrainerGenerator(turn_cache=True)`): its
ratio to the first is the turn cache's effect, measured in the same run.
"""

from __future__ import annotations

import json
import os

# before torch loads OpenMP: idle threads sleep instead of spinning (on a shared CPU, spinning threads made
# generation several times slower whenever another process was busy)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

try:
    from .common import row, summarize
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import row, summarize

from agent_gym import Environment, Message, StepResult, Task, system, user

BENCHMARK = "train"
OBSERVATION = "The tool ran. Result: 42. Go on."


class Echo(Environment):
    """Never ends on its own; every turn gets the same observation."""

    name = "echo"

    async def reset(self, task: Task) -> list[Message]:
        return [system("Think step by step."), user(task.prompt)]

    async def step(self, action: Message) -> StepResult:
        return StepResult(observation=(user(OBSERVATION),))


class StepTimer:
    """Wall seconds of each trainer step (a duck-typed TrainerCallback)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._t0 = 0.0

    def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
        self._t0 = time.perf_counter()

    def on_step_end(self, *args: Any, **kwargs: Any) -> None:
        self.seconds.append(time.perf_counter() - self._t0)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("on_"):
            return lambda *a, **k: None
        raise AttributeError(name)


def random_reward(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
    return [random.random() for _ in prompts]


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def turn_rows(quick: bool) -> list[dict[str, Any]]:
    """Multi-turn against single-turn GRPO (see the module docstring)."""
    import tempfile

    import torch
    from datasets import Dataset
    from trl import GRPOTrainer

    from agent_gym.local.files import prepare_local_model
    from agent_gym.train import (
        ChatRenderer,
        FixedHorizon,
        TrainerGenerator,
        build_grpo_trainer,
        grpo_config,
        load_tokenizer,
        lora_config,
    )

    turns, k = (2, 8) if quick else (3, 24)
    prompts, group = (1, 2) if quick else (2, 4)
    repeats = int(os.environ.get("AGENT_GYM_BENCH_REPEATS", "2" if quick else "4"))
    model_dir = str(prepare_local_model(quiet=True))
    tokenizer = load_tokenizer(model_dir)
    env = Echo()
    tasks = [Task(id=f"t{i}", prompt=f"Count the apples in basket {i}, using the tool.") for i in range(prompts)]
    renderer = ChatRenderer(tokenizer)
    from agent_gym.types import assistant

    e = len(renderer.observation_ids(assistant("x"), [user(OBSERVATION)], ended_with_eos=False))
    length = turns * k + (turns - 1) * e
    out = Path(tempfile.mkdtemp(prefix="bench-train-"))
    common = {"max_steps": 1, "num_generations": group, "per_device_train_batch_size": prompts * group,
              "gradient_accumulation_steps": 1, "seed": 0,
              "logging_steps": 1000, "beta": 0.0}
    multi_timer, cached_timer, single_timer, generated_timer = StepTimer(), StepTimer(), StepTimer(), StepTimer()

    def multi_turn(name: str, timer: StepTimer) -> tuple[Any, Any]:
        trainer, rollout, _ = build_grpo_trainer(
            env, model_dir, tasks, grpo_config(out / name, max_completion_length=length,
                                               generation_kwargs={"min_new_tokens": k}, **common),
            horizon=FixedHorizon(turns), peft_config=lora_config(), reward_funcs=[random_reward],
            store=out / f"{name}.jsonl", max_turn_tokens=k, callbacks=[timer], processing_class=tokenizer)
        return trainer, rollout

    multi, rollout = multi_turn("multi", multi_timer)
    cached, cached_rollout = multi_turn("multi_cached", cached_timer)
    cached_rollout.generator_factory = lambda trainer: TrainerGenerator(trainer, turn_cache=True)
    texts = [renderer.render(renderer.chat([system("Think step by step."), user(t.prompt)]), generation_prompt=True)
             for t in tasks]
    def single_turn(name: str, tokens: int, timer: StepTimer) -> Any:
        """TRL's own GRPOTrainer generating exactly `tokens` tokens per completion."""
        return GRPOTrainer(
            model=model_dir, reward_funcs=[random_reward], processing_class=tokenizer, peft_config=lora_config(),
            args=grpo_config(out / name, max_completion_length=tokens, generation_kwargs={"min_new_tokens": tokens}, **common),
            train_dataset=Dataset.from_dict({"prompt": texts}), callbacks=[timer])

    generated = turns * k
    single = single_turn("single", length, single_timer)
    same_generated = single_turn("single_gen", generated, generated_timer)
    print(f"bench_train: T={turns} turns x k={k} generated + e={e} env tokens = L={length}; "
          f"{prompts}x{group} sequences; {repeats} repeats + 1 warm-up; {_load()}", flush=True)
    torch.manual_seed(0)
    for _ in range(repeats + 1):  # the first round warms up
        multi.train()
        cached.train()
        single.train()
        same_generated.train()
    ratios = [m / s for m, s in zip(multi_timer.seconds[1:], single_timer.seconds[1:], strict=True)]
    generated_ratios = [m / s for m, s in zip(multi_timer.seconds[1:], generated_timer.seconds[1:], strict=True)]
    cached_generated = [c / s for c, s in zip(cached_timer.seconds[1:], generated_timer.seconds[1:], strict=True)]
    cache_effect = [c / m for c, m in zip(cached_timer.seconds[1:], multi_timer.seconds[1:], strict=True)]
    rollout_share = statistics.fmean(h["seconds"] for h in rollout.history[1:]) / statistics.median(multi_timer.seconds[1:])
    lengths = {len(t.messages) for t in rollout.store.read()} if rollout.store else set()
    params = {"turns": turns, "k": k, "env_tokens": e, "completion_tokens": length, "sequences": prompts * group}
    note = f"same prompt ids, L={length} tokens/seq ({turns}x{k} generated + {turns - 1}x{e} env), LoRA, CPU; {_load()}"
    return [
        row(BENCHMARK, f"multi-turn / single-turn GRPO step time (T={turns}, L={length})", unit="x", note=note,
            target="<= 1.15", params=params, **summarize(ratios)),
        row(BENCHMARK, f"multi-turn / single-turn GRPO step time, equal generated tokens ({generated})", unit="x",
            note=f"single-turn generates {generated} tokens/seq, multi-turn the same in {turns} turns plus "
            f"{(turns - 1) * e} env tokens; {_load()}", target="<= 1.15", params=params, **summarize(generated_ratios)),
        row(BENCHMARK, f"multi-turn with turn cache / single-turn, equal generated tokens ({generated})", unit="x",
            note=f"the multi-turn step keeping the key/value cache across its {turns} turns; {_load()}",
            target="<= 1.15", params=params, **summarize(cached_generated)),
        row(BENCHMARK, "turn cache: multi-turn step with / without it", unit="x",
            note=f"same trainer settings, same run, interleaved; {_load()}", params=params, **summarize(cache_effect)),
        row(BENCHMARK, "multi-turn GRPO step", unit="s", note=f"generation+env+loss+backward+optimizer; rollout is "
            f"{rollout_share:.0%} of it; {len(lengths) and max(lengths)} messages/episode", params=params,
            **summarize(multi_timer.seconds[1:])),
        row(BENCHMARK, "single-turn TRL GRPO step", unit="s", note=f"trl.GRPOTrainer, {length} generated tokens/seq",
            params=params, **summarize(single_timer.seconds[1:])),
        row(BENCHMARK, f"single-turn TRL GRPO step, {generated} tokens", unit="s",
            note=f"trl.GRPOTrainer, {generated} generated tokens/seq", params=params,
            **summarize(generated_timer.seconds[1:])),
    ]


def run(quick: bool) -> list[dict[str, Any]]:
    return [*turn_rows(quick), *environment_factory_rows(quick)]


def environment_factory_rows(quick: bool) -> list[dict[str, Any]]:
    """TRL's own agent API (`GRPOTrainer(environment_factory=as_trl_environment(env))`) against
    `agent_gym.train` (`rollout_func`) on the same environment (TextCraft), the same sequences, the same
    completion budget and the same number of model turns at most; steps alternate (A, B, A, B …).

    What each side generates is the model's own choice (a step ends when every episode stops calling tools
    or hits the budget), so the rows give the generated tokens and turns per sequence beside the step times.
    """
    import tempfile

    import torch
    from trl import GRPOTrainer

    from agent_gym.envs.games.textcraft.env import TextCraftEnv, make_tasks
    from agent_gym.local.files import prepare_local_model
    from agent_gym.train import (
        FixedHorizon,
        MetricsLogger,
        as_trl_environment,
        build_grpo_trainer,
        grpo_config,
        lora_config,
        trl_tokenizer,
    )

    # 2x4 sequences of 192 tokens took 120-200 s a step on the 2-core machine: the full run stays at a few minutes
    turns, budget = (2, 48) if quick else (3, 96)
    prompts, group = (1, 2) if quick else (1, 4)
    repeats = int(os.environ.get("AGENT_GYM_BENCH_REPEATS", "2" if quick else "3"))
    model_dir = str(prepare_local_model(quiet=True))
    tokenizer = trl_tokenizer(model_dir)
    env, tasks = TextCraftEnv(), make_tasks(depths=(1,), seeds=range(prompts), distractors=0)
    out = Path(tempfile.mkdtemp(prefix="bench-trl-env-"))
    common = {"max_steps": 1, "num_generations": group, "per_device_train_batch_size": prompts * group,
              "gradient_accumulation_steps": 1, "seed": 0, "beta": 0.0, "max_completion_length": budget}
    ours_timer, trl_timer = StepTimer(), StepTimer()
    ours_log, trl_log = MetricsLogger(out / "ours.jsonl"), MetricsLogger(out / "trl.jsonl")
    ours, rollout, _ = build_grpo_trainer(
        env, model_dir, tasks, grpo_config(out / "ours", **common), horizon=FixedHorizon(turns),
        peft_config=lora_config(), store=out / "ours_episodes.jsonl", max_turn_tokens=budget,
        callbacks=[ours_timer, ours_log], processing_class=tokenizer)
    Env = as_trl_environment(env, tasks)
    theirs = GRPOTrainer(model=model_dir, args=grpo_config(out / "trl", max_tool_calling_iterations=turns - 1, **common),
                         train_dataset=Env.dataset(), processing_class=tokenizer, environment_factory=Env,
                         reward_funcs=[Env.final_answer], peft_config=lora_config(), callbacks=[trl_timer, trl_log])
    print(f"bench_train (environment_factory): TextCraft, {prompts}x{group} sequences, <= {turns} turns, "
          f"{budget} completion tokens; {repeats} repeats + 1 warm-up; {_load()}", flush=True)
    torch.manual_seed(0)
    for _ in range(repeats + 1):
        ours.train()
        theirs.train()
    ratio = [t / o for t, o in zip(trl_timer.seconds[1:], ours_timer.seconds[1:], strict=True)]
    def logged(path: Path, key: str) -> float:
        """The mean of `key` over the timed steps (the warm-up step and the end-of-train lines left out)."""
        steps = [line for line in map(json.loads, path.read_text().splitlines()) if "loss" in line][1:]
        values = [line[key] for line in steps if line.get(key) is not None]
        return statistics.fmean(values) if values else float("nan")

    episodes = rollout.store.read()[prompts * group:] if rollout.store else []
    ours_calls = statistics.fmean(sum(len(m.tool_calls) for m in t.messages) for t in episodes) if episodes else 0.0
    trl_calls = logged(out / "trl.jsonl", "tools/call_frequency")
    params = {"turns": turns, "completion_tokens": budget, "sequences": prompts * group}
    note = (f"completion tokens/seq: environment_factory {logged(out / 'trl.jsonl', 'completions/mean_length'):.0f}, "
            f"agent_gym {logged(out / 'ours.jsonl', 'completions/mean_length'):.0f}; tool calls/seq "
            f"{trl_calls:.2f} vs {ours_calls:.2f}; LoRA, CPU; {_load()}")
    return [
        row(BENCHMARK, f"TRL environment_factory / agent_gym.train GRPO step time (TextCraft, <= {turns} turns)",
            unit="x", note=note, params=params, **summarize(ratio)),
        row(BENCHMARK, "TRL environment_factory GRPO step (TextCraft)", unit="s", note=note, params=params,
            **summarize(trl_timer.seconds[1:])),
        row(BENCHMARK, "agent_gym.train GRPO step (TextCraft)", unit="s", note=note, params=params,
            **summarize(ours_timer.seconds[1:])),
    ]


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    for r in environment_factory_rows(quick) if "--environment-factory" in sys.argv else run(quick):
        print(r)
