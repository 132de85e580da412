"""Shared helpers for the backtest tests: short spans of the bundled data, quiet services."""

import asyncio
import io
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from graph.graph import build_graph
from runtime.cycle import run_cycle
from runtime.services import Services, build_services
from sextant.config import DEFAULT_WATCHLIST, Settings
from sextant.models import PortfolioState, Signal
from tools.broadcast.console import ConsoleBroadcaster

ALL = DEFAULT_WATCHLIST  # the ten bundled symbols


def quiet_services(
    settings: Settings, portfolio: Callable[[datetime], PortfolioState] | None = None
) -> Services:
    services = build_services(settings)
    services.broadcaster = ConsoleBroadcaster(io.StringIO())
    services.portfolio = portfolio
    return services


def cycle_signals(
    settings: Settings,
    as_of: datetime,
    symbols: list[str],
    portfolio: PortfolioState,
    graph: object | None = None,
) -> tuple[list[Signal], dict]:
    """The per-cycle path: the real graph at `as_of`, with the backtest's book as portfolio."""
    services = quiet_services(settings, lambda _: portfolio)

    async def go() -> dict:
        try:
            state, _ = await run_cycle(services, as_of=as_of, symbols=symbols, graph=graph)
        finally:
            await services.aclose()
        return state

    state = asyncio.run(go())
    return list(state["signals"]), state


def compiled_graph() -> object:
    return build_graph().compile()


def data_dir_of(settings: Settings) -> Path:
    return Path(settings.market.data_dir)
