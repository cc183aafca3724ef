"""A foreign OpenEnv environment (no agent_gym in it), written the way openenv-core's template writes one:
guess a number from 1 to 10 chosen by the reset seed; "higher"/"lower" hints; reward 1 on the right guess.

    python tests/interop/guess_server.py --port 0     # READY http://127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import random
import socket

import uvicorn
from openenv.core.env_server.http_server import create_fastapi_app
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import Action, Observation, State
from pydantic import Field


class GuessAction(Action):
    guess: int = Field(..., ge=1, le=10, description="Your guess, 1 to 10")


class GuessObservation(Observation):
    hint: str = Field(default="", description="What the game says")
    guesses: int = Field(default=0, description="Guesses so far")


class GuessEnvironment(Environment):
    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self) -> None:
        super().__init__()
        self.secret, self._state = 0, State()

    def reset(self, seed: int | None = None, episode_id: str | None = None) -> GuessObservation:
        self.secret = random.Random(seed).randint(1, 10)
        self._state = State(episode_id=episode_id, step_count=0)
        return GuessObservation(hint="Guess a number from 1 to 10.")

    def step(self, action: GuessAction, timeout_s: float | None = None) -> GuessObservation:  # type: ignore[override]
        self._state.step_count += 1
        n = self._state.step_count
        if action.guess == self.secret:
            return GuessObservation(hint="Correct!", guesses=n, done=True, reward=1.0)
        return GuessObservation(hint="higher" if action.guess < self.secret else "lower", guesses=n, reward=0.0)

    @property
    def state(self) -> State:
        return self._state


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port
    app = create_fastapi_app(GuessEnvironment, GuessAction, GuessObservation, max_concurrent_envs=4)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    print(f"READY http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


if __name__ == "__main__":
    main()
