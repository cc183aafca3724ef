"""Tools from an MCP server: its tool list becomes agent_gym tools, and their calls go to the server.

```python
server = MCPServer(["python", "my_server.py"])            # stdio: the command is started as a child
server = MCPServer(url="http://127.0.0.1:8000/mcp")       # streamable HTTP: a running server
env = ToolEnv(mcp_servers=[server], reward=exact_match)   # the env starts it; `await env.close()` stops it
with MCPServer(["python", "my_server.py"]) as server:      # or hold it yourself, for any environment
    tools = server.tools()                                 # typed Tools, schemas as the server gives them
```

The connection (the `mcp` SDK's `Client`) lives on a private event loop in a daemon thread, so a server
started from a notebook cell serves every later cell, every episode and every `run_sync` loop; its
context is entered and left in one task, as the SDK requires. A server's tool error (`isError`, an
unknown tool, bad arguments) comes back to the model as an error tool message; a server that stops
answering raises `ToolError`, which ends (and records) the episode. The child process is stopped on
`stop()`, by the environment that started it, or at interpreter exit; clones of an environment share it.
A cassette (`Cassette.attach(env)`) records and replays these tools like any other.
"""

from agent_gym.tools.mcp.server import MCPServer, MCPServers, MCPTool, mcp_tool

__all__ = ["MCPServer", "MCPServers", "MCPTool", "mcp_tool"]
