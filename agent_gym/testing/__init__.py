"""Test doubles and sample data, for the tests, the benchmarks and the tutorials.

* `scripted_server` — a real OpenAI-compatible HTTP server on loopback that answers from a script
  (needs the `dev` extra: starlette, uvicorn).
* `samples` — sample trajectory stores, made by running the calculator environment.
* `mcp_demo_server` — a small MCP server written with the mcp SDK (stdio, or streamable HTTP in a child
  process: `serve_demo_http()`).
"""
