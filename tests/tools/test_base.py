import asyncio

import pytest

from agent_gym import Tool, tool
from agent_gym.errors import ToolError


@tool
def add(a: int, b: float = 1.5) -> float:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


@tool
async def shout(text: str) -> dict:
    """Upper-case some text.

    Args:
        text: What to shout.
    """
    await asyncio.sleep(0)
    return {"loud": text.upper()}


@tool
def explode() -> str:
    """Always fails."""
    raise RuntimeError("kaboom")


def test_schema_is_derived_from_signature_and_docstring():
    assert isinstance(add, Tool)
    assert add.schema() == {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two numbers.",
            "parameters": {
                "type": "object",
                "properties": {
                    "a": {"type": "integer", "description": "The first number."},
                    "b": {"type": "number", "description": "The second number.", "default": 1.5},
                },
                "required": ["a"],
                "additionalProperties": False,
            },
        },
    }
    assert add(1, 2) == 3  # still callable as the function


async def test_sync_and_async_tools_run():
    assert (await add.run({"a": 2})).content == "3.5"
    result = await shout.run('{"text": "hi"}')
    assert result.content == '{"loud": "HI"}' and not result.is_error


@pytest.mark.parametrize(
    "arguments, fragment",
    [({"a": "x"}, "invalid arguments for add: a:"), ({}, "a: Field required"), ({"a": 1, "c": 2}, "c: Extra inputs"),
     ("{not json", "not valid JSON"), ("[1]", "must be a JSON object")],
)
async def test_bad_arguments_become_model_visible_errors(arguments, fragment):
    result = await add.run(arguments)
    assert result.is_error and fragment in result.content


async def test_exception_inside_tool_becomes_error_message():
    result = await explode.run({})
    assert result.is_error and result.content == "Error: RuntimeError: kaboom"


class Counter:
    def __init__(self) -> None:
        self.count = 0

    @tool
    def bump(self, by: int) -> int:
        """Increase the counter.

        Args:
            by: How much.
        """
        self.count += by
        return self.count


async def test_method_tools_bind_to_their_instance():
    one, two = Counter(), Counter()
    assert "self" not in Counter.bump.parameters["properties"]
    assert (await one.bump.run({"by": 2})).content == "2"
    assert (await two.bump.run({"by": 5})).content == "5"
    assert one.count == 2
    with pytest.raises(ToolError, match="from an instance"):
        await Counter.bump.run({"by": 1})


def test_unannotated_parameter_is_a_clear_definition_error():
    with pytest.raises(ToolError, match="no type annotation"):
        tool(lambda x: x)


def test_a_tool_without_a_docstring_is_accepted_with_a_warning_that_says_how_to_fix_it():
    from agent_gym.tools.base import ToolDefinitionWarning

    def bare(a: int) -> int:
        return a

    with pytest.warns(ToolDefinitionWarning, match=r"Tool bare has no docstring.*description="):
        t = tool(bare)
    assert t.description == "bare"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tool(bare, description="Echo a.").description == "Echo a."  # an explicit description: no warning


def test_args_entries_for_parameters_that_do_not_exist_are_refused_by_name():
    def mistyped(a: int, b: int) -> int:
        """Add.

        Args:
            a: first.
            c: the third, which is not a parameter.
            d: nor this.
        """
        return a + b

    with pytest.raises(ToolError, match=r"Tool mistyped: its docstring's Args describe 'c', 'd', which are not parameters \(the parameters are a, b\)"):
        tool(mistyped)


def test_a_partial_is_described_by_its_function_not_by_functools():
    import functools

    def scale(x: int, factor: int) -> int:
        """Multiply x by a factor.

        Args:
            x: the number.
            factor: the factor.
        """
        return x * factor

    t = tool(functools.partial(scale, factor=3), name="triple")
    assert t.description == "Multiply x by a factor."
