"""Broadcaster node: queues the cycle's posts (Telegram when configured, else the console).

Entries are the signals execution acted on (with their positions when an execution engine
runs), exits are the cycle's exit fills, and the Market Pulse is computed here from the
graph state. The broadcaster never raises and never waits on Telegram: it writes an outbox
and sends in the background.
"""

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence

import pandas as pd
from langgraph.runtime import Runtime

from graph.context import Context, services_of
from graph.state import CycleState
from sextant.config import Settings
from sextant.events import EntryEvent, MarketPulse, Mover, WaitItem
from sextant.market_context import change_pct
from sextant.models import MarketSnapshot, NewsAssessment, Signal
from tools.broadcast.formatting import headline

log = logging.getLogger(__name__)

NOT_TRADED = ("rejected", "skipped")
NEWS_SEVERITY = {"NORMAL": 0, "DIGESTING": 1, "PANIC": 2}


def _closes(snap: MarketSnapshot | None) -> pd.Series | None:
    if snap is None or "1h" not in snap.candles or snap.candles["1h"].df.empty:
        return None
    return snap.candles["1h"].df["close"]


def _trend_word(score: float | None, change_24h: float | None) -> str | None:
    if score is not None:
        return "up" if score > 0.2 else "down" if score < -0.2 else "sideways"
    if change_24h is not None:
        return "up" if change_24h > 1 else "down" if change_24h < -1 else "sideways"
    return None


def market_pulse(state: CycleState, settings: Settings) -> MarketPulse:
    """BTC trend and regime, the market-wide news regime, top movers, WAIT symbols."""
    ref = settings.market.reference_symbol
    snaps: Mapping[str, MarketSnapshot] = state.get("snapshots", {}) or {}
    reference = state.get("reference") or snaps.get(ref)
    closes = _closes(reference)
    analysis = (state.get("analyses") or {}).get(ref)
    change_4h = state.get("btc_change_4h_pct")
    if change_4h is None and closes is not None:
        change_4h = change_pct(closes, 4)
    change_24h = change_pct(closes, 24) if closes is not None else None

    news: Mapping[str, NewsAssessment] = state.get("news", {}) or {}
    available = [n for n in news.values() if n.available]
    regime = max((n.regime for n in available), key=NEWS_SEVERITY.__getitem__, default="NORMAL")
    notes = []
    for sym, n in sorted(news.items()):
        if n.available and n.regime != "NORMAL":
            top = headline(n)
            notes.append(f"{sym.split(':')[0]}: {n.regime}" + (f" — {top}" if top else ""))

    movers = []
    for sym, snap in snaps.items():
        c = _closes(snap)
        ch = change_pct(c, 24) if c is not None else None
        if c is not None and ch is not None:
            movers.append(Mover(symbol=sym, change_24h_pct=round(ch, 4), price=float(c.iloc[-1])))
    movers.sort(key=lambda m: (-abs(m.change_24h_pct), m.symbol))

    signals: Sequence[Signal] = state.get("signals", []) or []
    waits = []
    for sig in signals:
        if sig.decision != "WAIT":
            continue
        main = next((r for r in sig.reasons if r.kind in ("veto", "wait", "skip")), None)
        if main is not None:
            waits.append(WaitItem(symbol=sig.symbol, code=main.code, message=main.message))
    counts = {k: sum(s.decision == k for s in signals) for k in ("LONG", "SHORT", "WAIT")}
    return MarketPulse(
        as_of=state["as_of"],  # type: ignore[arg-type]
        btc_symbol=ref,
        btc_price=float(closes.iloc[-1]) if closes is not None else None,
        btc_change_4h_pct=None if change_4h is None else round(change_4h, 4),
        btc_change_24h_pct=None if change_24h is None else round(change_24h, 4),
        btc_trend=_trend_word(analysis.components.get("trend") if analysis else None, change_24h),
        btc_regime=analysis.regime if analysis else None,
        news_regime=regime,
        news_available=bool(available),
        news_notes=notes,
        movers=movers[: settings.telegram.pulse_top_movers],
        waits=waits[: settings.telegram.pulse_max_waits],
        signals=counts,
    )


def entry_events(state: CycleState, settings: Settings) -> list[EntryEvent]:
    """The signals execution acted on, with their positions and chart candles."""
    by_id = {s.signal_id: s for s in state.get("signals", []) or []}
    positions = {p.position_id: p for p in state.get("positions", []) or []}
    snaps = state.get("snapshots", {}) or {}
    news = state.get("news", {}) or {}
    tf = settings.telegram.chart_timeframe
    out = []
    for intent in state.get("executions", []) or []:
        sig = by_id.get(intent.signal_id)
        if sig is None or sig.decision == "WAIT" or intent.status in NOT_TRADED:
            continue
        snap = snaps.get(sig.symbol)
        out.append(
            EntryEvent(
                signal=sig,
                position=positions.get(sig.signal_id),
                candles=snap.candles.get(tf) if snap is not None else None,  # type: ignore[call-overload]
                news=news.get(sig.symbol),
            )
        )
    return out


async def broadcaster(state: CycleState, runtime: Runtime[Context]) -> dict:
    start = time.perf_counter()
    services = await asyncio.to_thread(services_of, runtime.context)
    settings = services.settings
    posts: list[str] = []
    try:
        posts = await services.broadcaster.publish_cycle(
            as_of=state["as_of"],  # type: ignore[arg-type]
            signals=list(state.get("signals", []) or []),
            entries=entry_events(state, settings),
            exits=list(state.get("exits", []) or []),
            pulse=market_pulse(state, settings),
        )
    except Exception:  # the port promises not to raise; a post never breaks a cycle anyway
        log.exception("broadcaster node failed; the cycle goes on")
    return {
        "posts": posts,
        "timings_ms": {"broadcast": round((time.perf_counter() - start) * 1000, 3)},
    }
