"""agent_gym's benchmarks: `python -m benchmarks` (or `make bench`) runs every `bench_*.py` here
and prints one table; see README.md for the contract a benchmark module follows."""
