"""Builders for broadcaster tests: signals, positions, exit events, a fake clock that sleeps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from sextant.clock import FixedClock
from sextant.events import EntryEvent, ExitEvent
from sextant.models import CandleFrame, NewsAssessment, NewsEvent, Reason, Signal
from sextant.positions import Fill, Position

GROUP = -1001234567890
AS_OF = datetime(2026, 5, 16, 11, tzinfo=UTC)
MODEL_TEXT = "<b>&\"'"  # what an LLM may write: markup characters Telegram refuses raw


class Sleeper:
    """An injected `sleep`: records the delay and moves the fake clock, never wall time."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.advance(timedelta(seconds=seconds))
        await asyncio.sleep(0)


def signal(
    symbol: str = "ETH/USDT:USDT",
    decision: str = "SHORT",
    as_of: datetime = AS_OF,
    *,
    entry: str = "2172.77",
    stop: str = "2251.73",
    tp1: str = "2054.33",
    tp2: str = "1975.37",
    reasons: list[Reason] | None = None,
) -> Signal:
    base = symbol.split("/")[0]
    sign = -1 if decision == "SHORT" else 1
    if decision == "LONG" and stop == "2251.73":
        entry, stop, tp1, tp2 = "2172.77", "2093.81", "2291.21", "2370.17"
    drivers = (
        reasons
        if reasons is not None
        else [
            Reason(
                code="driver",
                kind="driver",
                message="trend -0.82 x weight 0.64 = -0.529",
                data={"component": "trend", "value": 0.82 * sign, "weight": 0.64},
            ),
            Reason(
                code="driver",
                kind="driver",
                message="momentum -0.69 x weight 0.21 = -0.148",
                data={"component": "momentum", "value": 0.69 * sign, "weight": 0.21},
            ),
            Reason(
                code="driver",
                kind="driver",
                message="volume -0.17 x weight 0.14 = -0.024",
                data={"component": "volume", "value": 0.17 * sign, "weight": 0.14},
            ),
        ]
    )
    return Signal(
        signal_id=f"sx-{as_of:%y%m%d%H}-{base}-{decision[0]}",
        symbol=symbol,
        as_of=as_of,
        decision=decision,  # type: ignore[arg-type]
        score=0.70 * sign,
        raw_score=0.70 * sign,
        confidence=0.77,
        regime="trending_down" if sign < 0 else "trending_up",
        news_regime="NORMAL",
        components={
            "trend": -0.82,
            "momentum": -0.69,
            "volume": -0.17,
            "open_interest": None,
            "news": None,
        },
        weights={
            "trend": 0.64,
            "momentum": 0.21,
            "volume": 0.14,
            "open_interest": 0.0,
            "news": 0.0,
        },
        timeframes={"1h": -0.6, "4h": -0.7, "1d": -0.5},
        reasons=drivers,
        entry=Decimal(entry),
        stop_loss=Decimal(stop),
        take_profit_1=Decimal(tp1),
        take_profit_2=Decimal(tp2),
        leverage=5,
        risk_pct=Decimal("1.4923"),
        quantity=Decimal("1.89"),
        stop_distance_pct=3.63,
    )


def position(sig: Signal, **changes: Any) -> Position:
    assert sig.side is not None and sig.entry is not None and sig.quantity is not None
    data: dict[str, Any] = {
        "position_id": sig.signal_id,
        "symbol": sig.symbol,
        "side": sig.side,
        "entry_price": sig.entry,
        "initial_quantity": sig.quantity,
        "quantity": sig.quantity,
        "initial_stop": sig.stop_loss,
        "stop_loss": sig.stop_loss,
        "take_profit_1": sig.take_profit_1,
        "take_profit_2": sig.take_profit_2,
        "leverage": sig.leverage,
        "opened_at": sig.as_of,
        "best_price": sig.entry,
    }
    data.update(changes)
    return Position(**data)


def exit_event(
    pos: Position,
    reason: str,
    price: str,
    quantity: str,
    *,
    r: str,
    pnl_pct: str,
    at: datetime,
    closes: bool,
) -> ExitEvent:
    left = Decimal(0) if closes else pos.quantity - Decimal(quantity)
    after = pos.model_copy(
        update={
            "quantity": left,
            "status": "closed" if closes else "open",
            "tp1_done": pos.tp1_done or reason == "tp1",
            "stop_loss": pos.entry_price if reason == "tp1" else pos.stop_loss,
        }
    )
    fill = Fill(
        position_id=pos.position_id,
        symbol=pos.symbol,
        side=pos.side,
        kind="exit",
        reason=reason,  # type: ignore[arg-type]
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal("0.1"),
        time=at,
    )
    return ExitEvent(position=after, fill=fill, r_multiple=Decimal(r), pnl_pct=Decimal(pnl_pct))


def candles(n: int = 120, end: datetime = AS_OF, start_price: float = 2300.0) -> CandleFrame:
    """Synthetic 1h candles for tests that need a chart but not real data."""
    idx = pd.date_range(end=end - timedelta(hours=1), periods=n, freq="1h", tz="UTC")
    rng = np.random.default_rng(7)
    close = start_price * np.cumprod(1 + rng.normal(-0.0005, 0.004, n))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * 1.002
    low = np.minimum(open_, close) * 0.998
    df = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": 1000.0}, index=idx
    )
    return CandleFrame(symbol="ETH/USDT:USDT", timeframe="1h", df=df)


def news(headline: str, regime: str = "NORMAL") -> NewsAssessment:
    return NewsAssessment(
        symbol="ETH/USDT:USDT",
        available=True,
        score=-0.4,
        regime=regime,  # type: ignore[arg-type]
        events=[
            NewsEvent(title="minor", published_at=AS_OF - timedelta(hours=5), impact=-0.2),
            NewsEvent(
                title=headline, published_at=AS_OF - timedelta(hours=1), impact=-1.5, critical=True
            ),
        ],
        source="test",
    )


def entry(sig: Signal, *, with_position: bool = True, chart: bool = True, **kw: Any) -> EntryEvent:
    return EntryEvent(
        signal=sig,
        position=position(sig) if with_position else None,
        candles=candles() if chart else None,
        **kw,
    )
