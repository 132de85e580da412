"""The run context handed to every node (LangGraph `context_schema`): settings, adapters, prompts.

Studio passes an empty context: settings then come from the environment and adapters are built
from them once per settings object.
"""

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any

from runtime.services import Services, build_services
from sextant.config import Settings, load_settings
from tools.llm.deadline import Deadline, StageDeadlines

_built: dict[str, Services] = {}
# Parallel branches (Hunter and Collector) resolve services at the same moment: build once.
_lock = threading.Lock()


@dataclass
class Context:
    settings: Settings | None = None
    services: Any = None  # runtime.services.Services; Any keeps Studio's schema simple
    hunter_prompt: str | None = None
    news_prompt: str | None = None
    # The LLM stages' deadlines of this run (tools.llm.deadline.StageDeadlines): per run, not
    # in the checkpointed state, so a resumed cycle gets fresh ones.
    deadlines: Any = field(default_factory=StageDeadlines)


def stage_deadline(ctx: Context | None, stage: str, seconds: float, services: Any) -> Deadline:
    """The run's deadline of `stage`, started by its first caller (services.monotonic, if set,
    is the clock). Without a context (a bare graph call) each caller gets its own."""
    now = getattr(services, "monotonic", None)
    registry = getattr(ctx, "deadlines", None)
    if registry is None:
        return Deadline.after(stage, seconds, now)
    return registry.start(stage, seconds, now)


def settings_of(ctx: Context | None) -> Settings:
    if ctx is not None and ctx.services is not None:
        return ctx.services.settings
    if ctx is not None and ctx.settings is not None:
        return ctx.settings
    return load_settings()


def services_of(ctx: Context | None) -> Services:
    if ctx is not None and ctx.services is not None:
        return ctx.services
    settings = settings_of(ctx)
    key = _cache_key(settings)
    with _lock:
        if key not in _built:
            _built[key] = build_services(settings)
        services = _built[key]
    if ctx is not None:
        ctx.services = services
    return services


def _cache_key(settings: Settings) -> str:
    """Settings JSON masks secrets; a digest of them keeps two key sets apart (never stored)."""
    secrets = [
        v.get_secret_value() if v is not None else ""
        for v in (settings.openrouter_api_key, settings.bybit_api_key,
                  settings.bybit_api_secret, settings.telegram_bot_token)
    ]
    digest = hashlib.sha256("\x00".join(secrets).encode()).hexdigest()
    return f"{settings.model_dump_json()}|{digest}"
