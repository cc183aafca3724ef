"""The sandbox for untrusted shell and Python code: one confined job directory per episode.

* `box` — `Sandbox`: one-shot runs and a persistent Python session (`session`).
* `limits` — `SandboxLimits` (CPU, memory, processes, wall clock, disk and files) and `SandboxResult`.
* `bwrap` — the bubblewrap command line; `proc` — process groups, exits, capped output.
* `disk` — bounded accounting of the job directory; `server`/`protocol` — the session's two ends.
"""

from agent_gym.sandbox.box import Sandbox, bwrap_available
from agent_gym.sandbox.limits import SandboxLimits, SandboxResult

__all__ = ["Sandbox", "SandboxLimits", "SandboxResult", "bwrap_available"]
