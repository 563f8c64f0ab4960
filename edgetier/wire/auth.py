"""The shared agent token: one name for its environment variable and its development default,
for the orchestrator that checks it, the agents that present it and the launchers that pass it."""

from __future__ import annotations

import os

TOKEN_ENV = "EDGETIER_AGENT_TOKEN"
DEFAULT_TOKEN = "edgetier-dev-token"


def default_token() -> str:
    """The shared agent token: from the environment (so it stays out of `ps`), else the
    development default the local orchestrator also uses."""
    return os.environ.get(TOKEN_ENV) or DEFAULT_TOKEN
