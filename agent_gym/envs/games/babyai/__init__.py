"""BabyAI (minigrid's levels) as a text game: `env` (the environment, tasks, the BabyAIBot expert) and
`text` (the agent's view rendered as text)."""

from agent_gym.envs.games.babyai.env import BabyAIEnv, BabyAIExpert, make_level, make_tasks

__all__ = ["BabyAIEnv", "BabyAIExpert", "make_level", "make_tasks"]
