"""Dataset synthesis: a teacher's filtered trajectories as training data (OpenAI messages, seed-000
`<think>`/`<tool_call>` text, HF/TRL datasets, GRPO prompts), with a resumable ledger and a card."""

from agent_gym.synth.export import (
    grpo_prompt_row,
    hf_row,
    openai_row,
    sft_features,
    text_row,
    to_hf_dataset,
)
from agent_gym.synth.filters import (
    Filter,
    FilterReport,
    apply_filters,
    best_of_n,
    dedupe,
    default_filters,
    keep_if,
    length_bounds,
    min_reward,
    no_errors,
    no_leakage,
    normalize_text,
    successful,
    valid_format,
)
from agent_gym.synth.pipeline import FORMATS, SynthesisResult, synthesize, synthesize_async

__all__ = [
    "FORMATS", "Filter", "FilterReport", "SynthesisResult", "apply_filters", "best_of_n", "dedupe", "default_filters",
    "grpo_prompt_row", "hf_row", "keep_if", "length_bounds", "min_reward", "no_errors", "no_leakage", "normalize_text",
    "openai_row", "sft_features", "successful", "synthesize", "synthesize_async", "text_row", "to_hf_dataset",
    "valid_format",
]
