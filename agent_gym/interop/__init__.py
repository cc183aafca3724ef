"""Interoperability with other agent frameworks' protocols.

* `openenv_server` — serve any agent_gym environment as an OpenEnv environment server (HTTP and
  WebSocket, one environment per session), for TRL, ART, SkyRL and other OpenEnv clients.
* `openenv_client` — any OpenEnv environment server (given its URL) as an agent_gym `Environment`.

MCP tool servers are in `agent_gym.tools.mcp`. Nothing here is imported by `import agent_gym`: these
modules import openenv-core (and FastAPI, uvicorn) when they are imported.
"""
