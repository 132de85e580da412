"""LangSmith tracing: opt-in, and never a byte sent without a key.

LangChain and LangGraph trace to LangSmith when the environment says so (LANGSMITH_TRACING=true
and LANGSMITH_API_KEY; LANGSMITH_ENDPOINT and LANGSMITH_PROJECT optional; the older LANGCHAIN_*
names work too). Sextant sets none of them. Two things are done here, at settings load:

* the LangSmith variables of `.env` are exported to the environment (LangChain reads only the
  environment), without overriding what is already set;
* tracing switched on without a key is switched off (the variables set to "false") with one
  warning: LangSmith would otherwise try its hosted endpoint anyway.
"""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping
from pathlib import Path

from sextant.logs import register_secrets

log = logging.getLogger("sextant.tracing")

NAMESPACES = ("LANGSMITH", "LANGCHAIN")
TRACING_FLAGS = tuple(f"{ns}_{name}" for ns in NAMESPACES for name in ("TRACING", "TRACING_V2"))
KEY_NAMES = tuple(f"{ns}_API_KEY" for ns in NAMESPACES)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().strip("\"'").lower() in ("true", "1", "yes", "on")


def _from_dotenv(env: MutableMapping[str, str], dotenv: Path) -> None:
    if not dotenv.is_file():
        return
    from dotenv import dotenv_values

    for name, value in dotenv_values(dotenv).items():
        if name.startswith(tuple(f"{ns}_" for ns in NAMESPACES)) and value is not None:
            env.setdefault(name, value)


def configure_tracing(
    environ: MutableMapping[str, str] | None = None, dotenv: Path | None = Path(".env")
) -> bool:
    """Make the environment safe for LangSmith; True when traces will be sent."""
    env = os.environ if environ is None else environ
    if dotenv is not None:
        _from_dotenv(env, dotenv)
    wanted = any(_truthy(env.get(name)) for name in TRACING_FLAGS)
    key = next((env[k].strip() for k in KEY_NAMES if (env.get(k) or "").strip()), None)
    if key is not None:
        register_secrets([key])
    for name in TRACING_FLAGS:
        if name in env:  # langsmith itself only knows the exact "true"
            env[name] = "true" if wanted and key is not None and _truthy(env[name]) else "false"
    if wanted and key is None:
        log.warning(
            "LANGSMITH_TRACING is set but LANGSMITH_API_KEY is not: tracing is off "
            "(nothing is sent to LangSmith)"
        )
    _forget_cached_env()
    return wanted and key is not None


def _forget_cached_env() -> None:
    """langsmith caches the variables it has read; let it read them again."""
    import sys

    utils = sys.modules.get("langsmith.utils")
    if utils is not None:
        for name in ("get_env_var", "get_tracer_project"):
            cached = getattr(utils, name, None)
            if hasattr(cached, "cache_clear"):
                cached.cache_clear()
