"""The `agent-gym` command line (`commands`) and the headless notebook runner (`notebook_run`)."""

from agent_gym.cli.commands import main

__all__ = ["main"]
