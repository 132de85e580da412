"""Data Collector node: snapshots through the market-data port, then the eligibility filters.

Symbols with an open position (`held` in the input) are collected too, whatever the watchlist
says, and marked `held` in the universe: eligible or not, their news is read and their exits
run; only an eligible symbol reaches the Math Engine and can be entered.
"""

import asyncio
import time
from collections.abc import Collection, Iterable
from datetime import datetime

from langgraph.runtime import Runtime

from graph.context import Context, Services, services_of
from graph.state import Candidate, CycleState
from sextant.eligibility import eligibility_reasons
from sextant.market_context import change_pct
from sextant.models import Reason, UniverseEntry
from sextant.ports.market_data import CollectResult
from sextant.reasons import Code


def universe_entries(
    result: CollectResult,
    sources: dict[str, str],
    as_of: datetime,
    services: Services,
    held: Collection[str] = (),
) -> dict[str, UniverseEntry]:
    out: dict[str, UniverseEntry] = {}
    for symbol, source in sources.items():
        snap = result.snapshots.get(symbol)
        if snap is None:
            code = result.codes.get(symbol, Code.DATA_ERROR)
            msg = next((e.error for e in result.errors if e.symbol == symbol), "no data")
            out[symbol] = UniverseEntry(
                symbol=symbol,
                source=source,
                eligible=False,  # type: ignore[arg-type]
                reasons=[Reason(code=code, kind="skip", message=msg)],
                held=symbol in held,
            )
            continue
        reasons = eligibility_reasons(snap, as_of, services.settings)
        out[symbol] = UniverseEntry(
            symbol=symbol,
            source=source,
            eligible=not reasons,
            reasons=reasons,  # type: ignore[arg-type]
            quote_volume_24h=round(snap.ticker.quote_volume_24h, 2),
            spread_pct=round(snap.ticker.spread_pct, 6),
            held=symbol in held,
        )
    return out


async def collect(
    services: Services,
    symbols: Iterable[str],
    sources: dict[str, str],
    as_of: datetime,
    held: Collection[str] = (),
) -> dict:
    wanted = list(dict.fromkeys(symbols))
    result = await services.market.collect(wanted, as_of)
    return {
        "snapshots": result.snapshots,
        "universe": universe_entries(result, sources, as_of, services, held),
        "errors": result.errors,
    }


async def data_collector(state: CycleState, runtime: Runtime[Context]) -> dict:
    start = time.perf_counter()
    services = await asyncio.to_thread(services_of, runtime.context)
    settings = services.settings
    symbols, held, as_of = state["symbols"], state.get("held") or [], state["as_of"]
    ref = settings.market.reference_symbol
    sources = {s: "watchlist" for s in symbols} | {
        s: "position" for s in held if s not in symbols
    }
    update = await collect(services, [*sources, ref], sources, as_of, held=set(held))
    reference = update["snapshots"].get(ref)
    if ref not in sources:
        update["snapshots"].pop(ref, None)
    btc = change_pct(reference.candles["1h"].df["close"], 4) if reference else None
    update |= {
        "reference": reference,
        "btc_change_4h_pct": btc,
        "timings_ms": {"collect": round((time.perf_counter() - start) * 1000, 3)},
    }
    return update


async def collect_hunted(state: CycleState, runtime: Runtime[Context]) -> dict:
    """Collect what the Hunter proposed beyond the watchlist (it ran in parallel with us)."""
    start = time.perf_counter()
    services = await asyncio.to_thread(services_of, runtime.context)
    known = set(state.get("universe", {}))
    extra: list[Candidate] = [c for c in state.get("candidates", []) if c["symbol"] not in known]
    if not extra:
        return {}
    as_of = state["as_of"]
    sources = {c["symbol"]: c["source"] for c in extra}
    update = await collect(services, sources, sources, as_of)
    update["timings_ms"] = {"collect_hunted": round((time.perf_counter() - start) * 1000, 3)}
    return update
