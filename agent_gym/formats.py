"""The two tool-call formats users train on, and conversions between them.

* **native**: OpenAI `tool_calls` on assistant messages, answered by `role="tool"` messages.
* **text**: one assistant string with `<think>…</think>` and
  `<tool_call>{"name": …, "arguments": {…}}</tool_call>` blocks, answered by a user message holding
  `<tool_response name="…">…</tool_response>` blocks (the format of seed 000 / Hermes / Qwen).

Trajectories always store the canonical `Message` form; these functions parse model text into it and
render it back. For a message whose content is stripped text, `parse_assistant_text(render_assistant_text(m))`
equals `m`, and rendering a parsed canonical text gives the same text back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agent_gym.types import Message, ToolCall

ToolFormat = Literal["native", "text"]
TOOL_FORMATS: tuple[str, ...] = ("native", "text")

_CALL_HINT = 'Write each call as <tool_call>{"name": "<tool name>", "arguments": {<JSON object>}}</tool_call>.'
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects accepted in JSON a model writes (records nested far deeper can be
neither written nor read back by pydantic's JSON parser)."""


class ModelJSONError(ValueError):
    """JSON a model wrote that cannot be used; the message is written for the model to read."""


def loads_model_json(text: str | bytes) -> Any:
    """Parse JSON a model wrote, whatever it holds: ModelJSONError (never another exception) when it is not
    valid JSON, uses NaN/Infinity, has an integer too long to convert, or nests deeper than MAX_JSON_DEPTH."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ModelJSONError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
    except RecursionError:
        raise ModelJSONError(f"nested too deeply (at most {MAX_JSON_DEPTH} levels of arrays and objects)") from None
    except (ValueError, TypeError) as exc:  # e.g. "Exceeds the limit (4300 digits) for integer string conversion"
        raise ModelJSONError(f"not usable JSON ({str(exc).split(';')[0]})") from None
    if _depth_exceeds(value, MAX_JSON_DEPTH):
        raise ModelJSONError(f"nested too deeply (at most {MAX_JSON_DEPTH} levels of arrays and objects)")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value; write a number or a string")


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def parse_assistant_text(
    text: str,
    *,
    tool_names: Collection[str] | None = None,
    allow_parallel: bool = False,
    call_id_prefix: str = "call_",
) -> Message:
    """Parse a model's raw text into an assistant `Message`.

    On a problem (malformed JSON, unknown tool, several calls when `allow_parallel` is False,
    unclosed tags) the message keeps the raw text as content, has no tool calls, and carries
    `error`: an explanation written for the model, so the environment can show it and go on.
    """
    reasoning, rest, error = _take_think(text)
    calls: list[ToolCall] = []
    if error is None:
        calls, rest, error = _take_tool_calls(rest, call_id_prefix)
    if error is None and calls and tool_names is not None:
        unknown = [c.name for c in calls if c.name not in tool_names]
        if unknown:
            error = f"Unknown tool {unknown[0]!r}. Available tools: {', '.join(sorted(tool_names)) or 'none'}."
    if error is None and len(calls) > 1 and not allow_parallel:
        error = f"You made {len(calls)} tool calls in one turn; make exactly one call per turn. {_CALL_HINT}"
    if error is not None:
        return Message(role="assistant", content=text, error=error)
    return Message(role="assistant", content=rest.strip(), reasoning=reasoning, tool_calls=tuple(calls))


def render_assistant_text(message: Message, *, think_type: str | None = None) -> str:
    """Render an assistant message as text with `<think>` and `<tool_call>` blocks.

    `think_type` writes `<think type="…">` (seed 000 marks reasoning as `quick` or deeper).
    """
    if message.error is not None:
        return message.content
    parts: list[str] = []
    if message.reasoning:
        opening = "<think>" if think_type is None else f'<think type="{think_type}">'
        parts.append(f"{opening}\n{message.reasoning}\n</think>")
    if message.content:
        parts.append(message.content)
    for call in message.tool_calls:
        body = json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False)
        parts.append(f"<tool_call>\n{body}\n</tool_call>")
    return "\n\n".join(parts)


def render_tool_response(name: str, content: str) -> str:
    """One `<tool_response name="…">…</tool_response>` block."""
    return f'<tool_response name="{name}">{content}</tool_response>'


def parse_tool_responses(text: str) -> list[tuple[str, str]]:
    """The (tool name, content) pairs of the `<tool_response>` blocks in a user message."""
    return [(text[b.tag_start + len(_RESPONSE_OPEN):b.body_start - 2], b.body) for b in _blocks(text, _response_tag, "</tool_response>")]


def split_reasoning(text: str) -> tuple[str | None, str]:
    """Take a leading `<think>` block out of `text`: (reasoning or None, the rest, stripped)."""
    reasoning, rest, error = _take_think(text)
    return (None, text) if error else (reasoning, rest.strip())


def render_tools_json(tools: Sequence[dict[str, Any]]) -> str:
    """The tool list as compact JSON, as seed 000 puts it in the system message."""
    return json.dumps(list(tools), ensure_ascii=False, separators=(",", ":"))


def text_system_prompt(system_prompt: str, tools: Sequence[dict[str, Any]], *, instructions: bool = True) -> str:
    """A system prompt for text-format models: the prompt, the tool list and how to call tools."""
    if not tools:
        return system_prompt
    parts = [system_prompt] if system_prompt else []
    if instructions:
        parts.append("You can call these tools:")
    parts.append(render_tools_json(tools))
    if instructions:
        parts.append(
            f"{_CALL_HINT} Tool results come back as <tool_response name=\"…\">…</tool_response>. "
            "When you are done, answer without a tool call."
        )
    return "\n\n".join(parts)


def to_text_conversation(
    messages: Sequence[Message],
    tools: Sequence[dict[str, Any]],
    *,
    instructions: bool = True,
    think_type: str | None = None,
) -> list[dict[str, str]]:
    """Render a canonical conversation as plain role/content dicts in the text format.

    Tool messages become `<tool_response>` blocks in one user message per run of tool results;
    the tool list goes into the system message (added if the conversation has none).
    """
    out: list[dict[str, str]] = []
    if not messages or messages[0].role != "system":
        if tools:
            out.append({"role": "system", "content": text_system_prompt("", tools, instructions=instructions)})
    for message in messages:
        if message.role == "system":
            out.append({"role": "system", "content": text_system_prompt(message.content, tools, instructions=instructions)})
        elif message.role == "assistant":
            out.append({"role": "assistant", "content": render_assistant_text(message, think_type=think_type)})
        elif message.role == "tool":
            block = render_tool_response(message.name or "", message.content)
            if out and out[-1]["role"] == "user" and out[-1]["content"].endswith("</tool_response>"):
                out[-1]["content"] += "\n" + block
            else:
                out.append({"role": "user", "content": block})
        else:
            out.append({"role": "user", "content": message.content})
    return out


def to_openai_conversation(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Render a canonical conversation as OpenAI chat-completions messages (native tool calls)."""
    return [message.to_openai() for message in messages]


def _take_think(text: str) -> tuple[str | None, str, str | None]:
    """(reasoning, text without the think block, error)."""
    block = next(_blocks(text, _think_tag, "</think>"), None)
    if block is None:
        if _think_tag(text, 0) is not None:
            return None, text, "Your <think> block is not closed; end your reasoning with </think>."
        return None, text, None
    reasoning = block.body.strip("\n")
    rest = text[: block.tag_start] + text[block.end :]
    if next(_blocks(rest, _think_tag, "</think>"), None) is not None:
        return None, text, "Write at most one <think>…</think> block per turn."
    return reasoning, rest, None


def _take_tool_calls(text: str, id_prefix: str) -> tuple[list[ToolCall], str, str | None]:
    """(calls, text without the call blocks, error)."""
    calls: list[ToolCall] = []
    blocks = list(_blocks(text, _call_tag, "</tool_call>"))
    for index, block in enumerate(blocks):
        body = block.body.strip()
        try:
            payload = loads_model_json(body)
        except ModelJSONError as exc:
            return [], text, f"Your tool call is {exc}. {_CALL_HINT}"
        if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
            return [], text, f'Your tool call needs a "name" string. {_CALL_HINT}'
        arguments = payload.get("arguments", {})
        if isinstance(arguments, str):  # some models double-encode the arguments
            try:
                arguments = loads_model_json(arguments)
            except ModelJSONError:
                pass
        if not isinstance(arguments, dict):
            return [], text, f'The "arguments" of your tool call must be a JSON object. {_CALL_HINT}'
        calls.append(ToolCall(name=payload["name"], arguments=arguments, id=f"{id_prefix}{index}"))
    kept = zip([0] + [b.end for b in blocks], [b.tag_start for b in blocks] + [len(text)], strict=True)
    rest = "".join(text[start:end] for start, end in kept)
    if "<tool_call>" in rest:
        return [], text, f"Your <tool_call> tag is not closed. {_CALL_HINT}"
    if "</tool_call>" in rest:
        return [], text, f"Found </tool_call> without a matching <tool_call>. {_CALL_HINT}"
    return calls, rest, None


# Tag scanning in linear time (a lazy regex such as `<think>(.*?)</think>` is quadratic in the number of
# unclosed tags, and a model can write thousands). Each `*_tag(text, pos)` finds the next valid opening
# tag at or after `pos` as (tag_start, body_start); None means no valid opening tag follows at all.
_RESPONSE_OPEN = '<tool_response name="'


@dataclass(frozen=True)
class _Block:
    tag_start: int
    body_start: int
    body_end: int
    end: int
    text: str

    @property
    def body(self) -> str:
        return self.text[self.body_start:self.body_end]


def _blocks(text: str, opening: Callable[[str, int], tuple[int, int] | None], closing: str) -> Iterator[_Block]:
    """Non-overlapping `opening … closing` blocks, leftmost first, each ending at the first `closing`
    after its opening tag: what `re.finditer(open + "(.*?)" + close, re.DOTALL)` finds."""
    pos = 0
    while (tag := opening(text, pos)) is not None:
        end = text.find(closing, tag[1])
        if end < 0:
            return
        yield _Block(tag[0], tag[1], end, end + len(closing), text)
        pos = end + len(closing)


def _think_tag(text: str, pos: int) -> tuple[int, int] | None:
    """`<think>` or `<think …attributes>`."""
    while (start := text.find("<think", pos)) >= 0:
        after = start + len("<think")
        if after < len(text) and text[after] == ">":
            return start, after + 1
        if after < len(text) and text[after].isspace():
            close = text.find(">", after)
            return None if close < 0 else (start, close + 1)  # no '>' later: no later tag closes either
        pos = after
    return None


def _call_tag(text: str, pos: int) -> tuple[int, int] | None:
    start = text.find("<tool_call>", pos)
    return None if start < 0 else (start, start + len("<tool_call>"))


def _response_tag(text: str, pos: int) -> tuple[int, int] | None:
    """`<tool_response name="…">` (a name without quotes)."""
    while (start := text.find(_RESPONSE_OPEN, pos)) >= 0:
        quote = text.find('"', start + len(_RESPONSE_OPEN))
        if quote < 0:
            return None
        if text.startswith('">', quote):
            return start, quote + 2
        pos = start + 1
    return None
