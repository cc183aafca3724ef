"""The error tree. Every message says what went wrong and how to fix it."""

from __future__ import annotations


class AgentGymError(Exception):
    """Base class of every error agent_gym raises on purpose."""


class ConfigError(AgentGymError, ValueError):
    """A setting or argument is invalid; the message names the valid choices."""


class TaskError(AgentGymError, ValueError):
    """Task data could not be loaded or is malformed."""


class EnvError(AgentGymError):
    """An environment was used wrongly (e.g. `step` before `reset`) or failed."""


class ToolError(AgentGymError):
    """A tool was defined wrongly. (Errors *inside* a tool call go back to the model instead.)"""


class FormatError(AgentGymError, ValueError):
    """A model's text could not be parsed as tool calls. Its message is meant for the model."""


class PolicyError(AgentGymError):
    """A policy could not produce an action (server unreachable, retries exhausted, bad reply)."""


class RewardError(AgentGymError):
    """A reward function raised or returned something that is not a number; the message names it."""


class SandboxError(AgentGymError):
    """Untrusted code could not be run safely."""


class StoreError(AgentGymError):
    """A trajectory store file is unreadable or was opened wrongly."""


class ContextFull(AgentGymError):
    """A token-capable policy's completion budget cannot fit the environment's reply and another turn.

    The runner ends the episode as truncated (not failed); raise the policy's `max_completion_tokens`
    to let episodes run longer.
    """
