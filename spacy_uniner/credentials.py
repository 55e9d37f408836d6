"""API keys for OpenAI-compatible servers: read from the environment, never stored."""

from __future__ import annotations

import os

from .errors import Errors

# Sent to servers that ignore the key (local vLLM, llama.cpp, the gold teacher).
PLACEHOLDER_KEY = "EMPTY"


def api_key_from_env(env: str | None, base_url: str | None) -> str:
    """The key in the environment variable ``env``; without one, :data:`PLACEHOLDER_KEY`
    when ``base_url`` names a server, else error E102."""
    key = os.environ.get(env) if env else None
    if key:
        return key
    if base_url is None:
        raise ValueError(Errors.E102.format(env=env))
    return PLACEHOLDER_KEY
