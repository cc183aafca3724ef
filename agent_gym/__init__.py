"""agent_gym: build environments for tool-using LLM agents, run and inspect rollouts, synthesize data, train.

The names a notebook needs most, grouped by stage in the order data flows:
Task → Environment → Policy → Trajectory → TrajectoryStore → {widgets, synth, train}.
Everything else lives in its package (`agent_gym.sandbox.Sandbox`, `agent_gym.widgets.TrajectoryViewer`,
`agent_gym.train.grpo`, ...).
"""
# The groups follow the stages, not the alphabet (pyproject.toml exempts this file from import sorting).

# Records: what flows between the stages.
from agent_gym.types import Message, Step, StepResult, Task, ToolCall, Trajectory, assistant, system, user

# Errors: the base of every agent_gym error, and the one for bad settings.
from agent_gym.errors import AgentGymError, ConfigError

# Tasks: loading and saving task sets; the running episode's task (for experts and oracles).
from agent_gym.tasks import current_task, load_tasks, save_tasks

# Environments and their tools.
from agent_gym.env import Environment, TimeLimit, ToolEnv, Wrapper
from agent_gym.tools import Tool, tool
from agent_gym.tools.mcp import MCPServer  # tools from MCP servers (the mcp SDK loads on first use)

# Rewards: plain functions, combined by weight in a Rubric.
from agent_gym.rewards import Rubric, exact_match, format_ok, math_match, numeric_match, weighted

# Policies: what answers the conversation.
from agent_gym.policies import OpenAIPolicy, Policy, PolicyOutput, ScriptedPolicy

# Running episodes (blocking functions have plain names; their coroutine twins end in `_async`).
from agent_gym.runner import rollout, run_rollouts, run_rollouts_async, run_sync

# The store: the contract between stages.
from agent_gym.store import TrajectoryStore, summarize

# Conversations as training text and OpenAI messages.
from agent_gym.formats import to_openai_conversation, to_text_conversation

__version__ = "0.1.0"

__all__ = [
    "AgentGymError", "ConfigError", "Environment", "MCPServer", "Message", "OpenAIPolicy", "Policy", "PolicyOutput", "Rubric",
    "ScriptedPolicy", "Step", "StepResult", "Task", "TimeLimit", "Tool", "ToolCall", "ToolEnv", "Trajectory",
    "TrajectoryStore", "Wrapper", "__version__", "assistant", "current_task", "exact_match", "format_ok",
    "load_tasks", "math_match", "numeric_match", "rollout", "run_rollouts", "run_rollouts_async", "run_sync",
    "save_tasks", "summarize", "system", "to_openai_conversation", "to_text_conversation", "tool", "user", "weighted",
]
