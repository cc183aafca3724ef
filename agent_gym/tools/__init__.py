"""Tools: typed Python functions the model can call (`@tool` derives the schema), and cassettes that
record and replay a `ToolEnv`'s tool calls (`agent_gym.tools.cassette`), and tools from MCP servers
(`agent_gym.tools.mcp`)."""

from agent_gym.tools.base import Tool, ToolResult, as_tool, format_tool_output, tool

__all__ = ["Tool", "ToolResult", "as_tool", "format_tool_output", "tool"]
