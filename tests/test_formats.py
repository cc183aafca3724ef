import pytest

from agent_gym import Message, ToolCall, assistant, user
from agent_gym.formats import (
    parse_assistant_text,
    parse_tool_responses,
    render_assistant_text,
    render_tool_response,
    split_reasoning,
    to_text_conversation,
)

CALL = '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>'


@pytest.mark.parametrize(
    "message",
    [
        assistant("just an answer"),
        assistant(reasoning="step 1\nstep 2", content="42"),
        assistant(reasoning="quick", tool_calls=(ToolCall(name="add", arguments={"a": 1, "b": [1, "ü"]}, id="call_0"),)),
        assistant(content="Let me check.", tool_calls=(ToolCall(name="add", arguments={}, id="call_0"), ToolCall(name="mul", arguments={"x": 2}, id="call_1"))),
    ],
)
def test_message_to_text_and_back_is_exact(message):
    text = render_assistant_text(message)
    parsed = parse_assistant_text(text, allow_parallel=True)
    assert parsed == message
    assert render_assistant_text(parsed) == text


def test_seed_style_think_with_attributes_parses():
    text = '<think type="quick">\nsimple file search\n</think>\n\n<tool_call>\n{"name": "execute_shell", "arguments": {"command": "ls"}}\n</tool_call>'
    msg = parse_assistant_text(text, tool_names=["execute_shell"])
    assert msg.error is None and msg.reasoning == "simple file search"
    assert msg.tool_calls[0].arguments == {"command": "ls"} and msg.content == ""


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('<tool_call>{"name": "add", "arguments": {"a": 1,}}</tool_call>', "not valid JSON"),
        ('<tool_call>{"name": "nope", "arguments": {}}</tool_call>', "Unknown tool 'nope'. Available tools: add"),
        (CALL + CALL, "2 tool calls in one turn"),
        ('<tool_call>{"name": "add", "arguments": {}}', "<tool_call> tag is not closed"),
        ("<think>never closed", "<think> block is not closed"),
        ('<tool_call>{"arguments": {}}</tool_call>', 'needs a "name"'),
        ('<tool_call>{"name": "add", "arguments": [1]}</tool_call>', "must be a JSON object"),
    ],
)
def test_malformed_calls_give_model_visible_errors_and_keep_the_text(text, fragment):
    msg = parse_assistant_text(text, tool_names=["add"])
    assert fragment in msg.error
    assert msg.content == text and msg.tool_calls == ()
    assert render_assistant_text(msg) == text  # nothing the model wrote is lost


def test_double_encoded_arguments_are_accepted():
    msg = parse_assistant_text('<tool_call>{"name": "add", "arguments": "{\\"a\\": 1}"}</tool_call>')
    assert msg.tool_calls[0].arguments == {"a": 1}


def test_tool_responses_render_and_parse():
    block = render_tool_response("execute_shell", "./a.py\n./b.py")
    assert block == '<tool_response name="execute_shell">./a.py\n./b.py</tool_response>'
    assert parse_tool_responses(block + "\n" + render_tool_response("x", "1")) == [("execute_shell", "./a.py\n./b.py"), ("x", "1")]


def test_split_reasoning():
    assert split_reasoning("<think>\nhm\n</think>\n\nAnswer") == ("hm", "Answer")
    assert split_reasoning("plain") == (None, "plain")


def test_text_conversation_puts_tools_in_system_and_results_in_user_turns():
    tools = [{"type": "function", "function": {"name": "add", "description": "Add.", "parameters": {}}}]
    call = ToolCall(name="add", arguments={"a": 1}, id="c")
    conv = to_text_conversation(
        [Message(role="system", content="Be brief."), user("1+1?"), assistant(tool_calls=(call,)),
         Message(role="tool", content="2", name="add", tool_call_id="c"), assistant("2")],
        tools,
    )
    assert [m["role"] for m in conv] == ["system", "user", "assistant", "user", "assistant"]
    assert conv[0]["content"].startswith("Be brief.") and '"name":"add"' in conv[0]["content"]
    assert conv[3]["content"] == '<tool_response name="add">2</tool_response>'
    assert conv[2]["content"] == '<tool_call>\n{"name": "add", "arguments": {"a": 1}}\n</tool_call>'
