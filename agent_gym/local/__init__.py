"""The embedded local model (SmolLM2-135M-Instruct from a PyPI wheel): its files, a real
OpenAI-compatible server on loopback, and the policy that talks to it.

* `files` — where the model folder lives and how `make setup` prepares it once.
* `server` — `serve_local_model()`: the server, as a context manager.
* `policy` — `LocalPolicy`: an `OpenAIPolicy` for that server.
* `__main__` — `python -m agent_gym.local prepare|serve`.
"""

from agent_gym.local.files import is_prepared, local_model_dir, prepare_local_model
from agent_gym.local.policy import LocalPolicy
from agent_gym.local.server import LocalServer, serve_local_model

__all__ = ["LocalPolicy", "LocalServer", "is_prepared", "local_model_dir", "prepare_local_model", "serve_local_model"]
