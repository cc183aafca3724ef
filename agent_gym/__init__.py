"""agent_gym: build environments for tool-using LLM agents, run and inspect rollouts, synthesize data, train.

The public API is re-exported here; see the README and notebooks/ for the tour.
"""

from .env import Environment, TimeLimit, ToolEnv, Wrapper
from .errors import (
    AgentGymError,
    ConfigError,
    EnvError,
    FormatError,
    PolicyError,
    SandboxError,
    StoreError,
    TaskError,
    ToolError,
)
from .formats import (
    parse_assistant_text,
    parse_tool_responses,
    render_assistant_text,
    render_tool_response,
    to_openai_conversation,
    to_text_conversation,
)
from .policy import OpenAIPolicy, Policy, PolicyOutput, ScriptedPolicy
from .rewards import (
    RewardResult,
    Rubric,
    exact_match,
    extract_boxed,
    format_ok,
    math_match,
    numeric_match,
    weighted,
)
from .rollout import current_task, job_key, rollout, run_rollouts, run_rollouts_sync, run_sync
from .store import TrajectoryStore
from .tasks import load_tasks, save_tasks
from .tools import Tool, ToolResult, tool
from .types import (
    SCHEMA_VERSION,
    ErrorInfo,
    Message,
    Step,
    StepResult,
    Task,
    ToolCall,
    Trajectory,
    Turn,
    Usage,
    assistant,
    system,
    user,
)

__version__ = "0.1.0"

_LAZY = {  # heavy optional imports (anywidget, ipywidgets) load on first use
    "TrajectoryViewer": "agent_gym.widgets",
    "RunTable": "agent_gym.widgets",
    "RunBrowser": "agent_gym.widgets",
    "CompareView": "agent_gym.widgets",
    "GroupInspector": "agent_gym.widgets",
    "run_report": "agent_gym.widgets",
    "synthesize": "agent_gym.synth",
    "Cassette": "agent_gym.cassette",
    "LLMFallback": "agent_gym.cassette",
    "error_fallback": "agent_gym.cassette",
    "LLMJudge": "agent_gym.judge",
    "JudgeWrapper": "agent_gym.judge",
    "Verdict": "agent_gym.judge",
    "Sandbox": "agent_gym.sandbox",
    "SandboxLimits": "agent_gym.sandbox",
    "SandboxResult": "agent_gym.sandbox",
    "LocalPolicy": "agent_gym.local",
    "serve_local_model": "agent_gym.local",
    "TransformersPolicy": "agent_gym.local",
}


def __getattr__(name: str):  # noqa: ANN202 - module-level lazy attributes (PEP 562)
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agent_gym' has no attribute {name!r}")

__all__ = [
    "SCHEMA_VERSION",
    "Cassette",
    "JudgeWrapper",
    "LLMFallback",
    "LLMJudge",
    "LocalPolicy",
    "Sandbox",
    "SandboxLimits",
    "SandboxResult",
    "TransformersPolicy",
    "Verdict",
    "error_fallback",
    "serve_local_model",
    "CompareView",
    "GroupInspector",
    "RunBrowser",
    "RunTable",
    "TrajectoryViewer",
    "run_report",
    "synthesize",
    "AgentGymError",
    "ConfigError",
    "EnvError",
    "Environment",
    "ErrorInfo",
    "FormatError",
    "Message",
    "OpenAIPolicy",
    "Policy",
    "PolicyError",
    "PolicyOutput",
    "RewardResult",
    "Rubric",
    "SandboxError",
    "ScriptedPolicy",
    "Step",
    "StepResult",
    "StoreError",
    "Task",
    "TaskError",
    "TimeLimit",
    "Tool",
    "ToolCall",
    "ToolEnv",
    "ToolError",
    "ToolResult",
    "Trajectory",
    "TrajectoryStore",
    "Turn",
    "Usage",
    "Wrapper",
    "__version__",
    "assistant",
    "current_task",
    "exact_match",
    "extract_boxed",
    "format_ok",
    "job_key",
    "load_tasks",
    "math_match",
    "numeric_match",
    "parse_assistant_text",
    "parse_tool_responses",
    "render_assistant_text",
    "render_tool_response",
    "rollout",
    "run_rollouts",
    "run_rollouts_sync",
    "run_sync",
    "save_tasks",
    "system",
    "to_openai_conversation",
    "to_text_conversation",
    "tool",
    "user",
    "weighted",
]
