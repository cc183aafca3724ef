"""`ChatRenderer`: conversations rendered to token ids with a tokenizer's chat template, turn by turn.

The prompt is the opening messages rendered up to the first assistant header. After a generated turn,
only what the environment adds is rendered and tokenized — its observation as the suffix after the
assistant turn, plus the next assistant header — so the ids the model generated are never decoded and
re-encoded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agent_gym.errors import ConfigError
from agent_gym.formats import ToolFormat, parse_assistant_text, to_text_conversation
from agent_gym.types import Message


class ChatRenderer:
    """Renders conversations to token ids with a tokenizer's chat template, turn by turn.

    Args:
        tokenizer: A tokenizer with a chat template and an end-of-turn (EOS) token.
        tools: OpenAI tool schemas offered to the model.
        tool_format: `native` hands `tools` and tool messages to the template; `text` puts the tool list
            in the system prompt and tool results in `<tool_response>` user messages.
        template_kwargs: Extra keyword arguments for `apply_chat_template` (e.g. `enable_thinking`).
    """

    def __init__(self, tokenizer: Any, tools: Sequence[dict[str, Any]] = (), *, tool_format: ToolFormat = "native",
                 template_kwargs: dict[str, Any] | None = None) -> None:
        if getattr(tokenizer, "chat_template", None) is None:
            raise ConfigError("The tokenizer has no chat template; set tokenizer.chat_template first.")
        if tool_format not in ("native", "text"):
            raise ConfigError(f"tool_format must be 'native' or 'text', got {tool_format!r}.")
        self.tokenizer = tokenizer
        self.tools = list(tools)
        self.tool_names = [t["function"]["name"] for t in self.tools]
        self.tool_format = tool_format
        self.template_kwargs = dict(template_kwargs or {})
        self.eos_text: str = tokenizer.eos_token
        self.eos_ids = end_of_turn_ids(tokenizer)

    def encode(self, text: str) -> list[int]:
        """Token ids of rendered text (the template writes any special tokens itself)."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def render(self, chat: list[dict[str, Any]], *, generation_prompt: bool, tools: bool = True) -> str:
        return self.tokenizer.apply_chat_template(
            chat, tools=(self.tools or None) if tools and self.tool_format == "native" else None,
            add_generation_prompt=generation_prompt, tokenize=False, **self.template_kwargs)

    def chat(self, messages: Sequence[Message], *, with_tools: bool = True) -> list[dict[str, Any]]:
        """Messages as chat-template dicts."""
        if self.tool_format == "text":
            return to_text_conversation(messages, self.tools if with_tools else [])
        return template_messages(messages)

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        """The opening messages, rendered up to the first assistant header."""
        return self.encode(self.render(self.chat(messages), generation_prompt=True))

    def observation_ids(self, action: Message, observation: Sequence[Message], ended_with_eos: bool) -> list[int]:
        """Ids that follow the generated turn: the rest of the template's end of turn, the observation,
        and the next assistant header — rendered on a minimal conversation, like TRL's tool loop."""
        calls = [{"type": "function", "function": {"name": c.name, "arguments": {}}} for c in action.tool_calls]
        dummy: list[dict[str, Any]] = [{"role": "user", "content": "dummy"}]
        if self.tool_format == "native" and calls:
            dummy.append({"role": "assistant", "content": "", "tool_calls": calls})
        else:
            dummy.append({"role": "assistant", "content": "dummy"})
        prefix = self.render(dummy, generation_prompt=False, tools=False)
        full = self.render(dummy + self.chat(observation, with_tools=False), generation_prompt=True, tools=False)
        end = prefix.rfind(self.eos_text) if self.eos_text else -1
        cut = prefix[: end + len(self.eos_text)] if end >= 0 else prefix
        if not full.startswith(cut):
            raise ConfigError("The chat template does not render a conversation as a prefix of its continuation; "
                              "token-in/token-out multi-turn rollouts need a prefix-stable template.")
        suffix = full[len(cut):]
        if end >= 0 and not ended_with_eos:
            suffix = self.eos_text + suffix  # close the turn the length cap cut short (masked: not generated)
        return self.encode(suffix)

    def parse(self, ids: Sequence[int]) -> Message:
        """The canonical assistant message of generated ids (tool calls parsed, reasoning split out)."""
        text = self.tokenizer.decode(list(ids), skip_special_tokens=True)
        return parse_assistant_text(text, tool_names=self.tool_names)


def template_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Messages as the dicts a chat template takes in the native tool format (tool-call arguments as
    mappings, which templates iterate)."""
    out = []
    for message in messages:
        entry = message.to_openai()
        for call in entry.get("tool_calls", []):
            call["function"]["arguments"] = json.loads(call["function"]["arguments"])
        out.append(entry)
    return out


def end_of_turn_ids(tokenizer: Any) -> list[int]:
    """The EOS id(s) that end an assistant turn."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    return sorted(ids)
