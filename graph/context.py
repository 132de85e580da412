"""The run context handed to every node (LangGraph `context_schema`): services and prompts.

`Services` is what the nodes use, as ports: frozen, built once per process by the runtime
(`runtime.services.build_services`) and passed in with every invocation. Studio passes no
services (often no context at all): the nodes then use analysis-only services built once per
settings object from the environment (`studio_services`): no execution engine, so the
execution node only records intents, as in dry run.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sextant.clock import Clock, SystemClock
from sextant.config import Settings, load_settings
from sextant.ports.broadcaster import Broadcaster
from sextant.ports.market_data import MarketDataPort
from tools.factory import make_broadcaster, make_llm, make_market
from tools.llm.deadline import Deadline, StageDeadlines

if TYPE_CHECKING:
    from execution.engine import ExecutionEngine
    from sextant.ports.llm import LLMPort
    from tools.llm.service import Answer, AskRequest


@dataclass(frozen=True)
class Services:
    """The adapters of one run. Frozen: nothing is plugged in or swapped after it is built."""

    settings: Settings
    market: MarketDataPort
    clock: Clock
    broadcaster: Broadcaster
    llm: LLMPort[AskRequest, Answer] | None = None  # None offline (no key / disabled)
    # Opens and manages positions (`sextant run --once`, `sextant loop`). None (Studio, plain
    # graph runs, `--no-trade`): the execution node only records intents.
    execution: ExecutionEngine | None = None
    # The monotonic clock of the LLM stage deadlines; None: the running event loop's.
    monotonic: Callable[[], float] | None = None

    async def aclose(self) -> None:
        """Release the adapters this object owns (the engine belongs to the runtime)."""
        await self.broadcaster.aclose()  # bounded by SEXTANT_TELEGRAM__DRAIN_TIMEOUT_S
        await self.market.close()
        if self.llm is not None:
            await self.llm.aclose()


@dataclass(frozen=True)
class Context:
    settings: Settings | None = None
    services: Any = None  # a Services; Any keeps Studio's context schema simple
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


_built: dict[str, Services] = {}
# Parallel branches (Hunter and Collector) resolve services at the same moment: build once.
_lock = threading.Lock()


def settings_of(ctx: Context | None) -> Settings:
    if ctx is not None and ctx.services is not None:
        return ctx.services.settings  # type: ignore[no-any-return]
    if ctx is not None and ctx.settings is not None:
        return ctx.settings
    return load_settings()


def studio_services(settings: Settings) -> Services:
    """Analysis-only services from settings (Studio, a graph invoked without services)."""
    clock = SystemClock()
    return Services(
        settings=settings,
        market=make_market(settings),
        clock=clock,
        broadcaster=make_broadcaster(settings),
        llm=make_llm(settings, clock),
    )


def services_of(ctx: Context | None) -> Services:
    if ctx is not None and ctx.services is not None:
        return ctx.services  # type: ignore[no-any-return]
    settings = settings_of(ctx)
    key = _cache_key(settings)
    with _lock:
        if key not in _built:
            _built[key] = studio_services(settings)
        return _built[key]


def _cache_key(settings: Settings) -> str:
    """Settings JSON masks secrets; a digest of them keeps two key sets apart (never stored)."""
    secrets = [
        v.get_secret_value() if v is not None else ""
        for v in (settings.openrouter_api_key, settings.bybit_api_key,
                  settings.bybit_api_secret, settings.telegram_bot_token)
    ]
    digest = hashlib.sha256("\x00".join(secrets).encode()).hexdigest()
    return f"{settings.model_dump_json()}|{digest}"
