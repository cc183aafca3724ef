"""`python -m agent_gym.cli ...` is `agent-gym ...`."""

import sys

from agent_gym.cli.commands import main

sys.exit(main())
