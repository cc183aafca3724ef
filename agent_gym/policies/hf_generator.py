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
    """

    def __init__(self, model: Any, tokenizer: Any, *, temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0,
                 min_p: float | None = None, repetition_penalty: float = 1.0, batch_size: int | None = None,
                 generation_kwargs: dict[str, Any] | None = None) -> None:
        self.model = model
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
        out: list[Generation] = []
        for start in range(0, len(prompts), size):
            out += self._generate(prompts[start:start + size], max_new_tokens)
        return out

    def keep_going(self, active: int) -> bool:
        return active > 0

    def _generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        import torch
        from transformers import GenerationConfig

        width = max(len(p) for p in prompts)
        device = next(self.model.parameters()).device
        input_ids = torch.tensor([[self.pad_id] * (width - len(p)) + list(p) for p in prompts], device=device)
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
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
                result = self.model.generate(input_ids=input_ids, attention_mask=attention, generation_config=config)
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
        return out


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
