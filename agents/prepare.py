"""The cycle's first node: its time and symbols, resolved once for every node after it.

The runtime passes a typed `as_of`, the symbols and the held ones; Studio may pass ISO text or
nothing at all (then the market's default: the end of the replay data, the current hour live).
From here on the state holds a UTC datetime and normalised symbols: no node parses them again.
"""

import asyncio
from datetime import datetime
from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context, Services, services_of
from graph.state import InputState
from sextant.clock import floor_hour
from sextant.config import normalise_symbol
from sextant.errors import MarketDataError
from sextant.models import parse_utc


async def default_as_of(services: Services, symbols: list[str]) -> datetime:
    try:
        return await services.market.default_as_of(symbols)
    except MarketDataError:
        # No data for any symbol (e.g. Studio asked for an unknown one): analyse "now";
        # the collector then reports every symbol with its reason and the cycle completes.
        return floor_hour(services.clock.now())


async def prepare(state: InputState, runtime: Runtime[Context]) -> dict[str, Any]:
    services = await asyncio.to_thread(services_of, runtime.context)
    symbols = [normalise_symbol(s) for s in (state.get("symbols") or services.settings.watchlist)]
    held = list(dict.fromkeys(normalise_symbol(s) for s in state.get("held") or ()))
    raw = state.get("as_of")
    as_of = parse_utc(raw) if raw else await default_as_of(services, symbols)
    return {"as_of": as_of, "symbols": symbols, "held": held}
