"""`TrainerGenerator`: generation for token-in/token-out episodes (a `policies.tokens.Generator`)
inside a running `trl.GRPOTrainer`: on CPU (or without vLLM) the
  trainer's model through `trl.models.unwrap_model_for_generation` (the context TRL's own generation
  uses: DeepSpeed ZeRO-3 gathering, gradient checkpointing off); with `use_vllm=True` the trainer's
  vLLM engine (`trainer.vllm_generation.generate`, the call TRL's own tool loop makes, colocate or
  server mode; TRL syncs the weights before calling a `rollout_func`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent_gym.policies.chat_render import end_of_turn_ids
from agent_gym.policies.hf_generator import HFGenerator
from agent_gym.policies.tokens import Generation


class TrainerGenerator:
    """Generation with the model a `GRPOTrainer` is training (see the module docstring).

    `turn_cache` (transformers path) keeps the key/value cache from one turn's call to the next
    (`HFGenerator(turn_cache=True)`); make one generator per rollout call, as `MultiTurnRollout` does,
    since the weights change between steps.
    """

    def __init__(self, trainer: Any, batch_size: int | None = None, *, turn_cache: bool = False) -> None:
        self.trainer = trainer
        self.turn_cache = turn_cache
        self._hf: HFGenerator | None = None
        args = trainer.args
        self.tokenizer = getattr(trainer.processing_class, "tokenizer", trainer.processing_class)
        self.sampling = {"temperature": args.temperature, "top_p": args.top_p, "top_k": args.top_k or 0,
                         "min_p": args.min_p, "repetition_penalty": args.repetition_penalty}
        self.batch_size = batch_size
        self.eos_ids = end_of_turn_ids(self.tokenizer)

    @property
    def collective(self) -> bool:
        """Whether generation calls must run in step on every process (several processes)."""
        return self.trainer.accelerator.num_processes > 1

    def keep_going(self, active: int) -> bool:
        if not self.collective:
            return active > 0
        import torch

        accelerator = self.trainer.accelerator
        total = accelerator.gather(torch.tensor([active], device=accelerator.device)).sum().item()
        return total > 0

    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        real = len(prompts)
        if real == 0 and self.collective:  # keep collective calls in step: a throwaway one-token prompt
            prompts = [self.eos_ids[:1] or [0]]
        if not prompts:
            return []
        if self.trainer.use_vllm:
            out = self._vllm(prompts, max_new_tokens)
        else:
            out = self._transformers(prompts, max_new_tokens)
        return out[:real]

    def _transformers(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        from trl.models import unwrap_model_for_generation

        trainer, args = self.trainer, self.trainer.args
        with unwrap_model_for_generation(
            trainer.model_wrapped, trainer.accelerator, gather_deepspeed3_params=args.ds3_gather_for_generation,
            gradient_checkpointing_kwargs=args.gradient_checkpointing_kwargs,
        ) as model:
            if self._hf is None or self._hf.model is not model:
                self._hf = HFGenerator(model, self.tokenizer, batch_size=self.batch_size, turn_cache=self.turn_cache,
                                       generation_kwargs=args.generation_kwargs, **self.sampling)
            return self._hf.generate(prompts, max_new_tokens)

    def _vllm(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        engine = self.trainer.vllm_generation
        saved = engine.max_completion_length
        engine.max_completion_length = max_new_tokens  # this turn's cap, not the whole completion's
        try:
            _, ids, logprobs, _ = engine.generate(prompts=[list(p) for p in prompts], images=None, num_generations=1)
        finally:
            engine.max_completion_length = saved
        out = []
        for seq, lps in zip(ids, logprobs or [None] * len(ids), strict=True):
            top1 = [float("nan") if not lp or lp[0] is None else float(lp[0]) for lp in lps] if lps else [0.0] * len(seq)
            out.append(Generation(list(seq), top1))
        return out
