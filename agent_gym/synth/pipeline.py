"""`synthesize`: teacher rollouts -> filters -> training files, resumable at any point.

The ledger is a `TrajectoryStore` (`trajectories.jsonl`) keyed by env, task, teacher model,
sampling settings and sample index, so a killed job run again finishes with no duplicate and no
lost example. The exported files are rebuilt from the ledger at the end of every run and written
atomically. The teacher's episodes can run on a Ray cluster (`executor="auto"`, or a `RayExecutor`;
give the environment and teacher as `EnvSpec`/`PolicySpec`); the ledger stays with this process.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from agent_gym.distributed.executor import Executor
from agent_gym.distributed.specs import EnvSpec, PolicySpec, build_env, build_policy
from agent_gym.env import Environment
from agent_gym.errors import ConfigError
from agent_gym.policies.base import Policy
from agent_gym.runner.batch import run_rollouts_async
from agent_gym.runner.keys import job_key
from agent_gym.runner.sync import closing_policy, run_sync
from agent_gym.store import TrajectoryStore
from agent_gym.synth.card import write_card
from agent_gym.synth.export import (
    grpo_prompt_row,
    hf_row,
    openai_row,
    sft_features,
    text_row,
    to_hf_dataset,
    write_jsonl,
    write_text,
)
from agent_gym.synth.filters import Filter, FilterReport, apply_filters, default_filters, passes
from agent_gym.types import Task, Trajectory

FORMATS = ("openai", "text", "hf", "parquet", "grpo")
"""Output formats: OpenAI fine-tuning JSONL, seed-000 text JSONL, HF/TRL JSONL, HF Parquet, GRPO prompts."""


@dataclass(frozen=True)
class SynthesisResult:
    """What a synthesis job produced."""

    out_dir: Path
    """Folder holding the ledger, the data files and the card."""
    seen: list[Trajectory]
    """Every trajectory of the job (the latest attempt of each)."""
    kept: list[Trajectory]
    """Those that passed every filter, in job order."""
    reports: list[FilterReport]
    """One report per filter."""
    files: dict[str, Path] = field(default_factory=dict)
    """Written files by kind (openai, text, hf, parquet, grpo, card, card_html, manifest)."""

    def dataset(self) -> Any:
        """The kept examples as a `datasets.Dataset` (messages + tools) for TRL's SFTTrainer."""
        from datasets import load_dataset

        return load_dataset("json", data_files=str(self.files["hf"]), features=sft_features(), split="train")


async def synthesize_async(
    env: Environment | EnvSpec,
    teacher: Policy | PolicySpec,
    tasks: Sequence[Task],
    *,
    out: str | Path,
    samples_per_task: int = 1,
    filters: Sequence[Filter] | None = None,
    formats: Sequence[str] = FORMATS,
    max_concurrency: int = 8,
    max_turns: int | None = None,
    seed: int | None = None,
    think_type: str | None = None,
    progress: bool = True,
    executor: Executor | str | None = None,
) -> SynthesisResult:
    """Async `synthesize`."""
    sources = (env, teacher)
    env, teacher = build_env(env), build_policy(teacher)  # here for the keys, names and files; workers build theirs
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ConfigError(f"Unknown formats {sorted(unknown)}; choose from {FORMATS}.")
    filters = default_filters() if filters is None else list(filters)
    out_dir = Path(out)
    ledger = TrajectoryStore(out_dir / "trajectories.jsonl")
    by_id = {t.id: t for t in tasks}
    done = ledger.latest_by_key()
    keys = [job_key(env, teacher, t, i, seed, max_turns=max_turns) for t in tasks for i in range(samples_per_task)]
    previous = [done[k] for k in keys if k in done and done[k].error is None]  # failed ones run again
    counts = {"seen": len(previous), "kept": sum(passes(t, filters, by_id) for t in previous),
              "tokens": sum(t.usage.total_tokens for t in previous)}
    bar = tqdm(total=len(keys), initial=len(previous), desc=f"synthesize {env.name}", disable=not progress)
    bar.set_postfix(kept=f"{counts['kept']}/{counts['seen']}", tokens=counts["tokens"])

    def count(trajectory: Trajectory) -> None:
        counts["seen"] += 1
        counts["kept"] += passes(trajectory, filters, by_id)
        counts["tokens"] += trajectory.usage.total_tokens
        bar.update(1)
        bar.set_postfix(kept=f"{counts['kept']}/{counts['seen']}", tokens=counts["tokens"], refresh=False)

    try:
        seen = await run_rollouts_async(
            *sources, tasks, n=samples_per_task, max_concurrency=max_concurrency, store=ledger,
            max_turns=max_turns, seed=seed, progress=False, on_result=count, executor=executor,
        )
    finally:
        bar.close()
    kept, reports = apply_filters(seen, filters, by_id)
    files = _export(out_dir, env, tasks, kept, formats, think_type)
    settings = {
        "env": env.config(), "teacher": teacher.name, "model": teacher.model, "sampling": dict(teacher.sampling),
        "samples_per_task": samples_per_task, "max_turns": max_turns, "seed": seed, "tasks": len(tasks),
        "filters": [f.name for f in filters],
    }
    manifest = {"settings": settings, "seen": len(seen), "kept": len(kept), "run": seen.counts,
                "filters": [{"name": r.name, "before": r.before, "after": r.after} for r in reports]}
    files["manifest"] = write_text(json.dumps(manifest, indent=2, default=str), out_dir / "manifest.json")
    files |= write_card(out_dir, f"{env.name} · {teacher.model or teacher.name}", seen, kept, reports, settings, files)
    return SynthesisResult(out_dir, seen, kept, reports, files)


def synthesize(
    env: Environment | EnvSpec,
    teacher: Policy | PolicySpec,
    tasks: Sequence[Task],
    *,
    out: str | Path,
    samples_per_task: int = 1,
    filters: Sequence[Filter] | None = None,
    formats: Sequence[str] = FORMATS,
    max_concurrency: int = 8,
    max_turns: int | None = None,
    seed: int | None = None,
    think_type: str | None = None,
    progress: bool = True,
    executor: Executor | str | None = None,
) -> SynthesisResult:
    """Run `teacher` on `tasks` (`samples_per_task` each), keep what passes `filters`, write the dataset.

    Works from scripts and notebook cells. Run it again after a crash or Ctrl-C: finished episodes
    are read from the ledger, the rest run, and the files are rebuilt. `executor` plays the episodes
    elsewhere: a Ray address such as `"auto"`, or a `RayExecutor` (see `run_rollouts_async`).
    """
    return run_sync(
        closing_policy(
            teacher,
            synthesize_async(
                env, teacher, tasks, out=out, samples_per_task=samples_per_task, filters=filters, formats=formats,
                max_concurrency=max_concurrency, max_turns=max_turns, seed=seed, think_type=think_type,
                progress=progress, executor=executor,
            ),
        )
    )


def _export(
    out_dir: Path, env: Environment, tasks: Sequence[Task], kept: Sequence[Trajectory], formats: Sequence[str],
    think_type: str | None,
) -> dict[str, Path]:
    tools = env.tool_schemas()
    files: dict[str, Path] = {}
    if "openai" in formats:
        files["openai"] = write_jsonl((openai_row(t, tools) for t in kept), out_dir / "openai.jsonl")
    if "text" in formats:
        files["text"] = write_jsonl((text_row(t, tools, think_type) for t in kept), out_dir / "text.jsonl")
    if "hf" in formats or "parquet" in formats:
        files["hf"] = write_jsonl((hf_row(t, tools) for t in kept), out_dir / "sft.jsonl")
    if "parquet" in formats:
        dataset = to_hf_dataset(hf_row(t, tools) for t in kept)
        tmp = out_dir / ".sft.parquet.tmp"
        dataset.to_parquet(str(tmp))
        files["parquet"] = tmp.replace(out_dir / "sft.parquet")
    if "grpo" in formats:
        files["grpo"] = write_jsonl((_grpo_row(env, task) for task in tasks), out_dir / "grpo_prompts.jsonl")
    return files


def _grpo_row(env: Environment, task: Task) -> dict[str, Any]:
    episode = env.clone()
    opening = run_sync(episode.reset(task))
    run_sync(episode.close())
    return grpo_prompt_row(task, env.name, opening)
