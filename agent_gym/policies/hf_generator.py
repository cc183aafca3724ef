"""`HFGenerator`: batched generation with a transformers causal LM in this process (a `tokens.Generator`).

Left-padded batches, sampled or greedy, with the log-probability of every generated token.

CPU note: decoding is many small ops, and PyTorch's OpenMP threads spin while they wait. On a CPU shared
with other busy processes, set `OMP_WAIT_POLICY=PASSIVE` before torch is imported (the recorded-run script,
the benchmark and notebook 04 do): measured here, 40 tokens took 31-146 s with spinning threads against
another busy process, 8-9 s with passive ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent_gym.policies.chat_render import end_of_turn_ids
from agent_gym.policies.tokens import Generation


class HFGenerator:
    """Batched generation with a transformers causal LM.

    Args:
        model: The model (a `PeftModel` works too).
        tokenizer: Its tokenizer (pad and EOS tokens are taken from it).
        temperature: 0 decodes greedily.
        top_p, top_k, min_p, repetition_penalty: Sampling settings (`top_k=0` disables top-k).
        batch_size: Sequences per `generate` call (None: all at once).
        generation_kwargs: Extra `GenerationConfig` fields (e.g. `min_new_tokens`).
        turn_cache: Keep the key/value cache of the last call: when every prompt of the next call continues
            one of its sequences (the next turn of the same episodes), only the new ids are run through the
            model; the cached positions the batch padded stay masked. Off for calls split into several
            batches, and whenever a prompt does not continue a cached sequence (it then runs whole).
    """

    def __init__(self, model: Any, tokenizer: Any, *, temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0,
                 min_p: float | None = None, repetition_penalty: float = 1.0, batch_size: int | None = None,
                 generation_kwargs: dict[str, Any] | None = None, turn_cache: bool = False) -> None:
        self.model = model
        self.turn_cache = turn_cache
        self.cache_hits = 0
        """Calls that continued the cache (the turn cache's use, for tests and benchmarks)."""
        self._cached: _TurnCache | None = None
        self.tokenizer = tokenizer
        self.temperature = temperature
        self.sampling = {"top_p": top_p, "top_k": top_k, "min_p": min_p, "repetition_penalty": repetition_penalty}
        self.batch_size = batch_size
        self.generation_kwargs = dict(generation_kwargs or {})
        self.eos_ids = end_of_turn_ids(tokenizer) + [
            i for i in _as_list(getattr(getattr(model, "generation_config", None), "eos_token_id", None))
            if i not in end_of_turn_ids(tokenizer)]
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_ids[0]

    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        size = self.batch_size or max(len(prompts), 1)
        if len(prompts) > size:
            self._cached = None  # the cache follows one batch
        out: list[Generation] = []
        for start in range(0, len(prompts), size):
            out += self._generate(prompts[start:start + size], max_new_tokens)
        return out

    def keep_going(self, active: int) -> bool:
        return active > 0

    def _generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        import torch
        from transformers import GenerationConfig

        device = next(self.model.parameters()).device
        plan = self._cached.plan(prompts) if self.turn_cache and self._cached is not None else None
        past = None
        if plan is None:
            width = max(len(p) for p in prompts)
            rows = [[self.pad_id] * (width - len(p)) + list(p) for p in prompts]
            masks = [[0] * (width - len(p)) + [1] * len(p) for p in prompts]
        else:
            past, rows, masks = plan
            width = len(rows[0])
            self.cache_hits += 1
        input_ids = torch.tensor(rows, device=device)
        attention = torch.tensor(masks, device=device)
        greedy = self.temperature == 0
        # greedy: the neutral values override the model's sampling defaults (else transformers warns they are ignored)
        sampling = {"temperature": 1.0, "top_p": 1.0} if greedy else {
            "temperature": self.temperature, **{k: v for k, v in self.sampling.items() if v is not None}}
        extra = dict(self.generation_kwargs)
        if "min_new_tokens" in extra:
            extra["min_new_tokens"] = min(extra["min_new_tokens"], max_new_tokens)
        config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=not greedy, eos_token_id=self.eos_ids,
                                  pad_token_id=self.pad_id, output_logits=True, return_dict_in_generate=True,
                                  disable_compile=True, **sampling, **extra)
        training = self.model.training
        self.model.eval()  # no (LoRA) dropout while sampling
        try:
            with torch.no_grad():
                result = self.model.generate(input_ids=input_ids, attention_mask=attention, generation_config=config,
                                             past_key_values=past)
        finally:
            self.model.train(training)
        new = result.sequences[:, width:]
        scale = self.temperature if self.temperature > 0 else 1.0
        logprobs = torch.stack([
            torch.log_softmax(step.float() / scale, dim=-1).gather(1, new[:, t:t + 1]).squeeze(1)
            for t, step in enumerate(result.logits)
        ], dim=1) if result.logits else torch.zeros_like(new, dtype=torch.float)
        out = []
        for ids, lps in zip(new.tolist(), logprobs.tolist(), strict=True):
            end = next((i + 1 for i, token in enumerate(ids) if token in self.eos_ids), len(ids))
            out.append(Generation(ids[:end], lps[:end]))
        if self.turn_cache and getattr(result, "past_key_values", None) is not None:
            generated = [[1] * len(g.ids) + [0] * (new.shape[1] - len(g.ids)) for g in out]
            self._cached = _TurnCache(result.past_key_values, result.sequences.tolist(),
                                      [m + g for m, g in zip(masks, generated, strict=True)], self.pad_id)
        else:
            self._cached = None
        return out


class _TurnCache:
    """The key/value cache of the last call, with each row's ids and the mask of its real (unpadded) ids."""

    def __init__(self, cache: Any, sequences: list[list[int]], masks: list[list[int]], pad_id: int) -> None:
        self.cache, self.sequences, self.masks, self.pad_id = cache, sequences, masks, pad_id
        self.real = [[t for t, m in zip(seq, mask, strict=True) if m] for seq, mask in zip(sequences, masks, strict=True)]

    def plan(self, prompts: Sequence[Sequence[int]]) -> tuple[Any, list[list[int]], list[list[int]]] | None:
        """(cache of the matching rows, input rows, attention masks) when every prompt continues a cached
        row; None otherwise. The cache holds every position but the last; the rest of each prompt is
        left-padded after the cached positions (pads in the middle, masked; the model runs only the new ones)."""
        import torch

        chosen: list[int] = []
        for prompt in prompts:
            row = next((r for r, real in enumerate(self.real)
                        if r not in chosen and len(prompt) > len(real) and list(prompt[: len(real)]) == real), None)
            if row is None:
                return None
            chosen.append(row)
        cached = len(self.sequences[0]) - 1
        if self.cache.get_seq_length() != cached:
            return None
        tails = []
        for prompt, r in zip(prompts, chosen, strict=True):
            last = [self.sequences[r][-1]] if self.masks[r][-1] else []
            tails.append(last + list(prompt[len(self.real[r]):]))
        width = max(len(t) for t in tails)
        rows = [self.sequences[r][:cached] + [self.pad_id] * (width - len(t)) + t for r, t in zip(chosen, tails, strict=True)]
        masks = [self.masks[r][:cached] + [0] * (width - len(t)) + [1] * len(t) for r, t in zip(chosen, tails, strict=True)]
        self.cache.batch_select_indices(torch.tensor(chosen))
        return self.cache, rows, masks


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
