"""Dialogue environments with a simulated user: `customer_service` (τ²-bench's retail and airline
domains, from `domains`), `sgd` (recorded dialogues replayed through a tool mocker); `conversation`
is their base and `users` the simulated users."""
