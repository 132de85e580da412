"""Builders for execution tests: positions, bars, signals and settings, all explicit."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sextant.config import Settings, load_settings
from sextant.config.execution import ExecutionSettings
from sextant.lifecycle import Bar, open_position
from sextant.models import MarketInfo, MarketSnapshot, Reason, Signal, Ticker
from sextant.positions import Position

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = Decimal


def es(**kw: Any) -> ExecutionSettings:
    return ExecutionSettings(**kw)


def pos(
    side: str = "long",
    entry: str = "100",
    stop: str = "98",
    tp1: str = "103",
    tp2: str = "105",
    qty: str = "10",
    *,
    leverage: int = 5,
    fee: str = "0",
    opened: datetime = T0,
    tick: str = "0.01",
    lot: str = "0.1",
    s: ExecutionSettings | None = None,
) -> Position:
    p, _ = open_position(
        position_id=f"p-{side}", symbol="TEST/USDT:USDT", side=side, fill_price=D(entry),
        quantity=D(qty), fee=D(fee), stop_loss=D(stop), take_profit_1=D(tp1),
        take_profit_2=D(tp2), leverage=leverage, time=opened, tick=D(tick), lot=D(lot),
        s=s or es(),
    )
    return p


def bar(t: datetime, o: str, h: str, lo: str, c: str) -> Bar:
    return Bar(time=t, open=D(o), high=D(h), low=D(lo), close=D(c))


def market(symbol: str = "TEST/USDT:USDT", tick: str = "0.01", lot: str = "0.1") -> MarketInfo:
    return MarketInfo(
        symbol=symbol, amount_step=D(lot), price_tick=D(tick), min_amount=D(lot),
        max_leverage=50,
    )


def signal(
    symbol: str,
    side: str,
    as_of: datetime,
    *,
    entry: str,
    stop: str,
    tp1: str,
    tp2: str,
    qty: str,
    leverage: int = 5,
) -> Signal:
    decision = "LONG" if side == "long" else "SHORT"
    base = symbol.split("/")[0]
    return Signal(
        signal_id=f"sx-{as_of:%y%m%d%H}-{base}-{decision[0]}", symbol=symbol, as_of=as_of,
        decision=decision, score=0.6 if side == "long" else -0.6, raw_score=0.6, confidence=0.7,
        regime="trending_up", news_regime="NORMAL", components={}, weights={}, timeframes={},
        reasons=[Reason(code="driver", kind="driver", message="test")], entry=D(entry),
        stop_loss=D(stop), take_profit_1=D(tp1), take_profit_2=D(tp2), leverage=leverage,
        risk_pct=D("1.5"), quantity=D(qty),
    )


def snapshot(m: MarketInfo, price: float, as_of: datetime) -> MarketSnapshot:
    return MarketSnapshot(
        symbol=m.symbol, as_of=as_of, source="replay", market=m, candles={},
        ticker=Ticker(bid=price, ask=price, last=price, quote_volume_24h=1e9),
    )


def settings(state_dir: Any, **kw: Any) -> Settings:
    return load_settings(state_dir=state_dir, **kw)


def demo_settings(
    fake: Any, state: Path, monkeypatch: Any, timeout_s: float = 5.0, **execution: Any
) -> Settings:
    """Demo mode against a local FakeBybit (tests/fakes/bybit_v5.py), keys from the env;
    `execution` overrides execution settings."""
    monkeypatch.setenv("BYBIT_API_KEY", "key")
    monkeypatch.setenv("BYBIT_API_SECRET", "secret")
    return load_settings(
        mode="demo",
        state_dir=state,
        market={"source": "bybit", "base_url": fake.base_url, "request_timeout_s": timeout_s},
        execution={"order_retry_backoff_s": 0, **execution},
    )
