"""Dialogue environments with a simulated user: `customer_service` (τ²-bench's retail and airline
domains, from `domains`, at a data version from `tau2_data`; `tau2_export` hands trajectories to τ²'s
own grader), `sgd` (recorded dialogues replayed through a tool mocker); `conversation` is their base
(τ²'s step and error limits) and `users` the simulated users."""
