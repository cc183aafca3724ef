"""The peer of the rollout benchmark: PrimeIntellect verifiers 0.3.1 in its own virtual environment."""
