"""The one-shot commands' runs: one cycle (analysis only or trading), a manual close, the
status of a book. The CLI parses and prints; everything between is here.

Each run builds its engine (when it trades) and its services once, in that order, and releases
them at the end whatever happens.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from execution.engine import Activity, ExecutionEngine, book_equity
from execution.report import status_document
from execution.store import Store, parse_time
from graph.state import CycleState
from runtime.cycle import resolve_as_of, run_cycle
from runtime.factory import build_engine
from runtime.hour import trading_hour
from runtime.services import build_services
from sextant.clock import SystemClock
from sextant.config import Settings
from sextant.errors import DataError
from sextant.models import iso_z
from sextant.positions import Position


@dataclass
class OnceResult:
    state: CycleState
    total_ms: float
    activity: Activity = field(default_factory=Activity)
    # every position this run opened, changed or closed, and every open one (by open time)
    positions: list[Position] = field(default_factory=list)


async def require_fresh_data(services: Any, symbols: list[str], as_of: datetime) -> None:
    """A replayed `--as-of` whose data has ended (or not begun) is refused before the cycle:
    it would analyse nothing and post a Market Pulse of stale prices."""
    market = services.market
    if market.source != "replay":
        return
    max_age = timedelta(hours=services.settings.market.stale_after_hours)
    last = await asyncio.to_thread(market.last_close_before, symbols, as_of)
    if last is None or as_of - last > max_age:
        seen = f"the latest bar closed {iso_z(last)}" if last else "no bar had closed by then"
        raise DataError(
            f"--as-of {iso_z(as_of)}: no fresh data in {market.data_dir} ({seen}; a symbol is "
            f"fresh for market.stale_after_hours={services.settings.market.stale_after_hours:g} "
            "h after its last bar)",
            field="--as-of",
        )


async def analyse_once(settings: Settings, as_of: datetime | None) -> OnceResult:
    """One cycle that touches no book (`run --once --no-trade`)."""
    services = build_services(settings)
    try:
        if as_of is not None:
            await require_fresh_data(services, list(settings.watchlist), as_of)
        state, total = await run_cycle(services, as_of=as_of, symbols=list(settings.watchlist))
    finally:
        await services.aclose()
    return OnceResult(state, total)


async def trade_once(settings: Settings, as_of: datetime | None) -> OnceResult:
    """Monitor the book up to as_of, run the cycle, execute it (paper in dry_run)."""
    engine = build_engine(settings)
    services = build_services(settings, engine=engine)
    try:
        watch = list(settings.watchlist)
        if as_of is not None:  # before the engine syncs with anything
            await require_fresh_data(services, watch, as_of)
        await engine.start()
        if as_of is None:
            as_of = await resolve_as_of(services.market, watch)
        state, total, act = await trading_hour(
            services, engine, as_of=as_of, symbols=watch, wall=SystemClock()
        )
        touched = dict(act.positions)
        for pos in engine.store.open_positions():
            touched[pos.position_id] = pos
    finally:
        await engine.aclose()
        await services.aclose()
        engine.store.close()
    positions = sorted(touched.values(), key=lambda p: (p.opened_at, p.position_id))
    return OnceResult(state, total, act, positions)


@dataclass
class CloseResult:
    activity: Activity
    missing: bool = False  # no open position on the symbol asked for
    posting_error: str | None = None


async def close_positions(settings: Settings, symbols: Sequence[str] | None) -> CloseResult:
    """Manual exits (`sextant close`, `sextant dashboard`'s close button): the same path as
    every other exit (the broker of SEXTANT_MODE, the store, the broadcaster)."""
    engine = build_engine(settings)
    services = build_services(settings, engine=engine)
    try:
        await engine.start()
        return await close_held(
            engine, services.broadcaster, symbols, now=close_time(engine, SystemClock().now())
        )
    finally:
        await engine.aclose()
        await services.aclose()
        engine.store.close()


def close_time(engine: ExecutionEngine, wall_now: datetime) -> datetime:
    """Replay books live on the data's time; a live market on the wall clock."""
    if engine.settings.market.source == "replay":
        return engine.book_time() or wall_now
    return wall_now


async def close_held(
    engine: ExecutionEngine, broadcaster: Any, symbols: Sequence[str] | None, *, now: datetime
) -> CloseResult:
    """Close `symbols` (None: everything open) on a started engine and announce the exits: the
    body of every manual close, in its own process (above) or in the loop's (its dashboard)."""
    held = {p.symbol for p in engine.store.open_positions()}
    if symbols is not None and not held & set(symbols):
        return CloseResult(Activity(), missing=True)
    act = await engine.close(symbols, now=now, reason="manual")
    error = None
    if act.exits:
        try:
            await broadcaster.publish_exits(act.exit_events)
        except Exception as exc:  # a failing notifier never undoes a close
            error = str(exc)
    return CloseResult(act, posting_error=error)


def book_status(settings: Settings) -> dict[str, Any]:
    """`sextant.status/1` from the database (and the loop's heartbeat): never the exchange.
    Paper equity is derived from the book; on Bybit it is the last equity the loop observed."""
    store = Store.open(settings.state_dir)
    try:
        start = Decimal(store.get("starting_equity") or settings.equity)
        now = parse_time(store.get("book_time"))
        if settings.mode == "dry_run":
            equity = book_equity(store, start)
        else:
            day = store.latest_day()
            equity = day.last_equity if day is not None else start
        return status_document(
            store, mode=settings.mode, equity=equity, now=now, state_dir=settings.state_dir
        )
    finally:
        store.close()
