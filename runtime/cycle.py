"""Run one analysis cycle through the graph: the cycle's values go down once, in its input.

The runtime resolves what the nodes must not look up themselves: the time (`as_of`, a UTC
datetime), the symbols, the held ones and the portfolio the Risk Manager sees (the engine's
book before this cycle's own entries, or a flat paper book without an engine). The graph
returns everything else as state.
"""

import time
from datetime import datetime
from functools import cache
from typing import Any

from graph.context import Context, Services
from graph.graph import build_graph
from graph.state import CycleState
from sextant.config import ConfigError
from sextant.errors import MarketDataError
from sextant.models import PortfolioState, cycle_id_for
from sextant.ports.market_data import MarketDataPort

__all__ = ["compiled_graph", "cycle_id_for", "resolve_as_of", "run_cycle"]


@cache
def compiled_graph() -> Any:
    """The graph without a checkpointer, compiled once per process (the loop compiles its
    own, once, with the checkpointer)."""
    return build_graph().compile()


async def resolve_as_of(market: MarketDataPort, symbols: list[str]) -> datetime:
    """The market's default time for these symbols; no data for any of them is a usage error."""
    try:
        return await market.default_as_of(symbols)
    except MarketDataError as exc:
        raise ConfigError(f"--symbols: {exc.message}") from None


def portfolio_at(services: Services, as_of: datetime) -> PortfolioState:
    """What the Risk Manager sees at `as_of`: the engine's book before this cycle's entries."""
    if services.execution is not None:
        return services.execution.portfolio_at(as_of)
    return PortfolioState.flat(services.settings.equity)


async def run_cycle(
    services: Services,
    *,
    as_of: datetime | None = None,
    symbols: list[str] | None = None,
    graph: Any = None,
    config: dict[str, Any] | None = None,
    resume: bool = False,
    held: list[str] | None = None,
    portfolio: PortfolioState | None = None,
) -> tuple[CycleState, float]:
    """Invoke the graph once; returns the final state and its wall time in ms.

    `resume=True` continues the checkpointed thread of `config` from its last finished node
    (the graph must be compiled with a checkpointer) instead of starting a new run.
    `held`: symbols with an open position, analysed whatever the watchlist and eligibility say.
    `portfolio`: the book to decide with (default: the engine's at `as_of`, else flat).
    """
    start = time.perf_counter()
    watch = symbols or list(services.settings.watchlist)
    if as_of is None:
        as_of = await resolve_as_of(services.market, watch)
    compiled = graph or compiled_graph()
    inputs = None
    if not resume:
        inputs = {
            "as_of": as_of,
            "symbols": symbols,
            "cycle_id": cycle_id_for(as_of),
            "held": held or [],
            "portfolio": portfolio or portfolio_at(services, as_of),
        }
    state: CycleState = await compiled.ainvoke(
        inputs,
        config=config,
        context=Context(settings=services.settings, services=services),
    )
    return state, (time.perf_counter() - start) * 1000
