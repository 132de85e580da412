"""Adapters a cycle needs (market data, clock, portfolio, broadcaster), built from settings."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sextant.clock import Clock, SystemClock
from sextant.config import Settings
from sextant.models import PortfolioState
from sextant.ports.market_data import MarketDataPort
from tools.broadcast.console import ConsoleBroadcaster
from tools.broadcast.port import Broadcaster
from tools.broadcast.status import settings_status_provider
from tools.broadcast.telegram import make_broadcaster


def paper_portfolio(settings: Settings) -> Callable[[datetime], PortfolioState]:
    """No account connected: a flat book at the configured paper equity."""

    def provide(as_of: datetime) -> PortfolioState:
        return PortfolioState(equity=settings.equity, day_start_equity=settings.equity)

    return provide


def make_llm(settings: Settings, clock: Clock) -> Any:
    """The LLM service (tools.llm.service.LLMService), or None offline (no key / disabled)."""
    if not settings.llm_active:
        return None
    from tools.llm.service import LLMService

    return LLMService(settings, clock)


def make_market(settings: Settings) -> MarketDataPort:
    if settings.market.source == "bybit":
        from tools.market_data.bybit import BybitMarketData

        return BybitMarketData(settings)
    from tools.market_data.replay import ReplayMarketData

    return ReplayMarketData(settings)


@dataclass
class Services:
    settings: Settings
    market: MarketDataPort
    clock: Clock = field(default_factory=SystemClock)
    portfolio: Callable[[datetime], PortfolioState] | None = None
    broadcaster: Broadcaster = field(default_factory=ConsoleBroadcaster)
    llm: Any = None  # tools.llm.service.LLMService when an OpenRouter key is set, else None
    # execution.engine.ExecutionEngine: opens and manages positions. None (Studio, plain
    # graph runs): the execution node only records intents and the book is flat.
    execution: Any = None
    # `sextant.status/1` for Telegram's /status, /positions and the stats' open-position count.
    # None: a settings-only document (paper equity, nothing open); the loop sets the real one.
    status: Any = None  # tools.broadcast.port.StatusProvider
    # The monotonic clock of the LLM stage deadlines; None: the running event loop's.
    monotonic: Callable[[], float] | None = None

    def portfolio_at(self, as_of: datetime) -> PortfolioState:
        if self.portfolio is None and self.execution is not None:
            return self.execution.portfolio_at(as_of)
        provider = self.portfolio or paper_portfolio(self.settings)
        return provider(as_of)

    async def current_status(self) -> dict[str, Any]:
        """The status document from whatever provider is plugged in at call time."""
        return await (self.status or settings_status_provider(self.settings))()

    async def aclose(self) -> None:
        await self.broadcaster.aclose()  # bounded by SEXTANT_TELEGRAM__DRAIN_TIMEOUT_S
        await self.market.close()
        if self.llm is not None:
            await self.llm.aclose()


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    clock = clock or SystemClock()
    services = Services(
        settings=settings, market=make_market(settings), clock=clock, llm=make_llm(settings, clock)
    )
    # Telegram when TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are set, else the console.
    services.broadcaster = make_broadcaster(settings, status=services.current_status)
    return services
