"""`TransformersPolicy`: generate in-process with transformers, no server (training-time evaluation).

It renders the conversation with the tokenizer's own chat template (the one the trainer uses),
generates greedily or with seeded sampling, and parses the text exactly as `OpenAIPolicy` parses a
server's raw text, so its outputs are comparable with the served model's.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agent_gym.errors import ConfigError
from agent_gym.formats import TOOL_FORMATS, ToolFormat, parse_assistant_text, to_text_conversation
from agent_gym.local.files import prepare_local_model
from agent_gym.policies.base import PolicyOutput
from agent_gym.policies.chat_render import template_messages
from agent_gym.types import Message, Usage


class TransformersPolicy:
    """A policy that runs a causal LM in this process.

    Args:
        model_dir: HF folder to load (default: the embedded model, materialized on first use).
            Ignored when `model` and `tokenizer` are given.
        model: An already loaded model (e.g. the one being trained), shared, not copied.
        tokenizer: Its tokenizer; its chat template renders the conversation.
        tool_format: `native` passes `tools` to the chat template; `text` puts them in the system prompt.
        max_new_tokens: Reply length cap.
        temperature: 0 for greedy; None uses the model's generation config (sampled for the embedded model).
        top_p: Nucleus sampling; None uses the generation config.
        parallel_tool_calls: Accept several `<tool_call>` blocks in one reply.
        dtype: Torch dtype name when loading from `model_dir` (default: as saved).
    """

    name = "transformers"

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        model: Any = None,
        tokenizer: Any = None,
        tool_format: ToolFormat = "native",
        max_new_tokens: int = 256,
        temperature: float | None = None,
        top_p: float | None = None,
        parallel_tool_calls: bool = False,
        dtype: str | None = None,
    ) -> None:
        if tool_format not in TOOL_FORMATS:
            raise ConfigError(f"tool_format must be one of {TOOL_FORMATS}, got {tool_format!r}.")
        if (model is None) != (tokenizer is None):
            raise ConfigError("Pass both model= and tokenizer= (or neither, to load model_dir).")
        if max_new_tokens < 1 or (temperature is not None and temperature < 0):
            raise ConfigError("max_new_tokens must be >= 1 and temperature >= 0.")
        if model is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            folder = Path(model_dir) if model_dir is not None else prepare_local_model()
            tokenizer = AutoTokenizer.from_pretrained(folder)
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype or "auto")
            model.eval()
        if tokenizer.chat_template is None:
            raise ConfigError("The tokenizer has no chat template; set tokenizer.chat_template first.")
        self.hf_model = model
        self.tokenizer = tokenizer
        self.model: str | None = str(model_dir) if model_dir is not None else getattr(model, "name_or_path", None)
        self.tool_format = tool_format
        self.parallel_tool_calls = parallel_tool_calls
        self.sampling: Mapping[str, Any] = {
            k: v for k, v in {"max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p}.items()
            if v is not None
        }
        self._lock = threading.Lock()  # one generation at a time: the model is shared

    def __repr__(self) -> str:
        return f"TransformersPolicy(model={self.model!r}, tool_format={self.tool_format!r}, sampling={dict(self.sampling)})"

    async def act(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *, seed: int | None = None
    ) -> PolicyOutput:
        """Generate the next assistant message (in a worker thread, so the event loop stays free)."""
        text, usage = await asyncio.to_thread(self.generate_text, messages, tools, seed)
        names = [t["function"]["name"] for t in tools]
        return PolicyOutput(parse_assistant_text(text, tool_names=names, allow_parallel=self.parallel_tool_calls), usage)

    def prompt(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]]) -> str:
        """The rendered prompt text (ends with the assistant header)."""
        chat, template_tools = self._chat(messages, tools)
        return self.tokenizer.apply_chat_template(chat, tools=template_tools, add_generation_prompt=True, tokenize=False)

    def generate_text(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], seed: int | None = None
    ) -> tuple[str, Usage]:
        """The raw reply text (special tokens removed) and its token counts. Blocking."""
        import torch

        chat, template_tools = self._chat(messages, tools)
        inputs = self.tokenizer.apply_chat_template(
            chat, tools=template_tools, add_generation_prompt=True, return_dict=True, return_tensors="pt"
        )
        device = getattr(self.hf_model, "device", torch.device("cpu"))
        inputs = {k: v.to(device) for k, v in inputs.items()}
        options = dict(self.sampling)
        if options.get("temperature") == 0:
            options.pop("temperature")
            options["do_sample"] = False
        elif "temperature" in options:
            options["do_sample"] = True
        devices = [device] if device.type == "cuda" else []
        with self._lock, torch.no_grad(), torch.random.fork_rng(devices=devices):  # keep the caller's RNG state
            if seed is not None:
                torch.manual_seed(seed)
            output = self.hf_model.generate(**inputs, **options, pad_token_id=self.tokenizer.pad_token_id)
        prompt_len = inputs["input_ids"].shape[-1]
        new_tokens = output[0, prompt_len:]
        text = self.tokenizer.decode(new_tokens, skip_special_tokens=True)
        return text, Usage(prompt_tokens=int(prompt_len), completion_tokens=int(new_tokens.shape[-1]), calls=1)

    def _chat(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
        """Messages as chat-template dicts, and the tools to hand the template (None in text format)."""
        if self.tool_format == "text":
            return to_text_conversation(messages, tools), None
        return template_messages(messages), (list(tools) or None)
