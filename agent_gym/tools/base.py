"""Tools: typed Python functions whose OpenAI schema is derived from signature and docstring.

```python
@tool
def add(a: float, b: float) -> float:
    '''Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    '''
    return a + b
```

A tool's exception or bad arguments never crash an episode: `Tool.run` turns them into a
`ToolResult` with `is_error=True` whose text the model reads.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import inspect
import json
import types
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from typing import Any, get_type_hints

import docstring_parser
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from agent_gym.errors import ToolError
from agent_gym.formats import ModelJSONError, loads_model_json


@dataclass(frozen=True)
class ToolResult:
    """What a tool call produced, as the text the model will read."""

    content: str
    """The tool's output (or the error explanation)."""
    is_error: bool = False
    """True when the call failed (bad arguments, exception, unknown tool)."""


@dataclass(frozen=True)
class Tool:
    """A callable the model can use. Build one with `@tool`; it stays callable like the function."""

    fn: Callable[..., Any]
    """The wrapped function (bound to its object when the tool is a method)."""
    name: str
    """Name the model calls it by."""
    description: str
    """What the tool does, from the docstring."""
    parameters: dict[str, Any]
    """JSON schema of the arguments."""
    args_model: type[BaseModel] = field(repr=False)
    """Pydantic model that validates arguments."""
    blocking: bool = True
    """Run a sync function in a worker thread so it does not stall other episodes."""
    needs_self: bool = False
    """Defined as a method and not yet bound to an object."""

    def __get__(self, obj: Any, objtype: type | None = None) -> Tool:
        if obj is None or not self.needs_self:
            return self
        return replace(self, fn=functools.partial(self.fn, obj), needs_self=False)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __deepcopy__(self, memo: dict[int, Any]) -> Tool:
        """Clones of an environment share a tool of a plain function (it is frozen and its function holds
        no state a copy would isolate: deepcopy would copy only its schema); any other tool (a method's,
        bound to its object) is copied field by field, as deepcopy does, so it stays bound to the copy."""
        if isinstance(self.fn, (types.FunctionType, types.BuiltinFunctionType)):
            return self
        twin = object.__new__(type(self))
        memo[id(self)] = twin
        for f in fields(self):
            object.__setattr__(twin, f.name, copy.deepcopy(getattr(self, f.name), memo))
        return twin

    def schema(self) -> dict[str, Any]:
        """The OpenAI tool schema: `{"type": "function", "function": {...}}`."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    async def run(self, arguments: dict[str, Any] | str) -> ToolResult:
        """Validate `arguments` and call the tool; every failure becomes an error result."""
        if self.needs_self:
            raise ToolError(
                f"Tool {self.name!r} is a method used through its class; "
                "use it from an instance (self.tools) so it is bound."
            )
        arguments = parse_arguments(self.name, arguments)
        if isinstance(arguments, ToolResult):
            return arguments
        try:
            validated = self.args_model.model_validate(arguments)
        except ValidationError as exc:
            return ToolResult(_explain_validation(self, exc), True)
        kwargs = {name: getattr(validated, name) for name in type(validated).model_fields}
        try:
            if inspect.iscoroutinefunction(_unwrap(self.fn)):
                value = await self.fn(**kwargs)
            elif self.blocking:
                call = functools.partial(self.fn, **kwargs)
                value = await asyncio.get_running_loop().run_in_executor(_tool_executor(), call)
            else:
                value = self.fn(**kwargs)
        except Exception as exc:  # noqa: BLE001 - the model must see any tool failure
            return ToolResult(f"Error: {type(exc).__name__}: {exc}", True)
        return ToolResult(format_tool_output(value))


TOOL_THREADS = 64
"""Worker threads for blocking tools, shared by all episodes (asyncio's default pool has only cores + 4)."""
_executor: ThreadPoolExecutor | None = None


def _tool_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=TOOL_THREADS, thread_name_prefix="agent-gym-tool")
    return _executor


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    blocking: bool = True,
) -> Any:
    """Turn a typed function (sync or async, plain or method) into a `Tool`.

    Every parameter needs a type annotation; descriptions come from a Google, NumPy or
    reST docstring. Use as `@tool` or `@tool(name=..., blocking=False)`.
    """

    def build(func: Callable[..., Any]) -> Tool:
        return _build_tool(func, name=name, description=description, blocking=blocking)

    return build(fn) if fn is not None else build


def as_tool(obj: Tool | Callable[..., Any]) -> Tool:
    """Return `obj` if it already is a Tool, else wrap the function with `tool`."""
    return obj if isinstance(obj, Tool) else tool(obj)


def format_tool_output(value: Any) -> str:
    """Text the model sees for a tool's return value."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _build_tool(func: Callable[..., Any], *, name: str | None, description: str | None, blocking: bool) -> Tool:
    if not callable(func):
        raise ToolError(f"@tool needs a function, got {type(func).__name__}.")
    signature = inspect.signature(func)
    params = list(signature.parameters.values())
    needs_self = bool(params) and params[0].name == "self"
    if needs_self:
        params = params[1:]
    tool_name = name or func.__name__
    doc = docstring_parser.parse(inspect.getdoc(_unwrap(func)) or "")
    param_docs = {p.arg_name: p.description or "" for p in doc.params if p.args[0] in _ARG_SECTIONS}
    stray = sorted(set(param_docs) - {p.name for p in params} - {"self"})
    if stray:
        raise ToolError(
            f"Tool {tool_name}: its docstring's Args describe {', '.join(map(repr, stray))}, which "
            f"{'is not a parameter' if len(stray) == 1 else 'are not parameters'} (the parameters are "
            f"{', '.join(p.name for p in params) or 'none'}); rename or remove the entry so the model is not misled."
        )
    hints = get_type_hints(_unwrap(func))
    fields: dict[str, Any] = {}
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolError(f"Tool {func.__name__}: *args/**kwargs cannot be described to a model; name each parameter.")
        if param.name not in hints:
            raise ToolError(
                f"Tool {func.__name__}: parameter {param.name!r} has no type annotation; "
                "annotate it (e.g. `x: int`) so its JSON schema can be derived."
            )
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (hints[param.name], Field(default, description=param_docs.get(param.name) or None))
    args_model = create_model(f"{tool_name}_args", __config__=ConfigDict(extra="forbid"), **fields)
    summary = "\n\n".join(part for part in (doc.short_description, doc.long_description) if part)
    if not (description or summary):
        warnings.warn(f"Tool {tool_name} has no docstring, so the model sees only its name. Give it a docstring "
                      "(a line on what it does, then `Args:` with a line per parameter) or pass "
                      "@tool(description=...).", ToolDefinitionWarning, stacklevel=4)
    return Tool(
        fn=func,
        name=tool_name,
        description=description or summary or tool_name,
        parameters={"properties": {}, **_clean_schema(args_model.model_json_schema())},
        args_model=args_model,
        blocking=blocking,
        needs_self=needs_self,
    )


_ARG_SECTIONS = frozenset({"param", "parameter", "arg", "argument", "key", "keyword"})
"""docstring_parser's names of parameter sections (`Attributes:` entries are not parameters)."""


class ToolDefinitionWarning(UserWarning):
    """A tool is usable but described poorly to the model (e.g. no docstring)."""


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's auto-generated titles, which only add tokens to the prompt."""
    cleaned = {k: v for k, v in schema.items() if k != "title"}
    if "properties" in cleaned:
        cleaned["properties"] = {k: _clean_schema(v) for k, v in cleaned["properties"].items()}
    if "$defs" in cleaned:
        cleaned["$defs"] = {k: _clean_schema(v) for k, v in cleaned["$defs"].items()}
    return cleaned


def _explain_validation(tool_: Tool, exc: ValidationError) -> str:
    problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
    expected = json.dumps(tool_.parameters.get("properties", {}))
    return f"Error: invalid arguments for {tool_.name}: {problems}. Expected parameters: {expected}"


def _unwrap(func: Callable[..., Any]) -> Callable[..., Any]:
    while isinstance(func, functools.partial):
        func = func.func
    return func


def parse_arguments(name: str, arguments: dict[str, Any] | str) -> dict[str, Any] | ToolResult:
    """A tool call's arguments as a dict (model-written JSON text parsed), or the error the model is shown."""
    if isinstance(arguments, str):
        try:
            arguments = loads_model_json(arguments) if arguments.strip() else {}
        except ModelJSONError as exc:
            return ToolResult(f"Error: arguments of {name} are {exc}.", True)
    if not isinstance(arguments, dict):
        return ToolResult(f"Error: arguments of {name} must be a JSON object.", True)
    return arguments
