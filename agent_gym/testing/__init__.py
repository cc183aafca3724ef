"""Test doubles and sample data, for the tests, the benchmarks and the tutorials.

* `scripted_server` — a real OpenAI-compatible HTTP server on loopback that answers from a script
  (needs the `dev` extra: starlette, uvicorn).
* `samples` — sample trajectory stores, made by running the calculator environment.
"""
