"""Shared helpers for the backtest tests: short spans of the bundled data, quiet services."""

import asyncio
from datetime import datetime
from pathlib import Path

from graph.context import Services
from graph.graph import build_graph
from runtime.cycle import run_cycle
from runtime.services import build_services
from sextant.config import DEFAULT_WATCHLIST, Settings
from sextant.models import PortfolioState, Signal

ALL = DEFAULT_WATCHLIST  # the ten bundled symbols


def quiet_services(settings: Settings) -> Services:
    return build_services(settings, quiet=True)


def cycle_signals(
    settings: Settings,
    as_of: datetime,
    symbols: list[str],
    portfolio: PortfolioState,
    graph: object | None = None,
) -> tuple[list[Signal], dict]:
    """The per-cycle path: the real graph at `as_of`, with the backtest's book as portfolio."""
    services = quiet_services(settings)

    async def go() -> dict:
        try:
            state, _ = await run_cycle(
                services, as_of=as_of, symbols=symbols, graph=graph, portfolio=portfolio
            )
        finally:
            await services.aclose()
        return state

    state = asyncio.run(go())
    return list(state["signals"]), state


def compiled_graph() -> object:
    return build_graph().compile()


def data_dir_of(settings: Settings) -> Path:
    return Path(settings.market.data_dir)
