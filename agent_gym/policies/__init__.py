"""Policies: what produces the assistant's next message.

* `Policy` (`base`) — the protocol: `async act(messages, tools, seed=None) -> PolicyOutput`.
* `OpenAIPolicy` (`openai`) — any OpenAI-compatible server (OpenAI, DeepSeek, vLLM, the embedded model).
* `ScriptedPolicy` (`scripted`) — fixed replies or a function; `TaskExpert` (`experts`) — the base of
  the environments' scripted experts.
* `TransformersPolicy` (`in_process`) — a transformers model in this process (no server); loaded lazily.
* `ServerGenerator` (`token_server`) — token ids from a completions server (vLLM), for `TokenPolicy`; lazy.
"""

from agent_gym.policies.base import Policy, PolicyOutput
from agent_gym.policies.experts import TaskExpert
from agent_gym.policies.openai import OpenAIPolicy
from agent_gym.policies.scripted import ScriptedPolicy

__all__ = ["OpenAIPolicy", "Policy", "PolicyOutput", "ScriptedPolicy", "TaskExpert", "TransformersPolicy"]


def __getattr__(name: str):  # noqa: ANN202 - PEP 562: torch/transformers load on first use
    if name == "TransformersPolicy":
        from agent_gym.policies.in_process import TransformersPolicy

        return TransformersPolicy
    if name == "ServerGenerator":
        from agent_gym.policies.token_server import ServerGenerator

        return ServerGenerator
    raise AttributeError(f"module 'agent_gym.policies' has no attribute {name!r}")
