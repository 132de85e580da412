"""Small builders of Risk Manager inputs: markets, snapshots, analyses, news, portfolios.

Everything is explicit and offline; settings come from defaults only (no environment, no .env).
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from sextant.config import Settings, load_settings
from sextant.math_engine.models import (
    ComponentScore,
    MathAnalysis,
    Regime,
    TimeframeAnalysis,
    Volatility,
)
from sextant.models import (
    FundingInfo,
    MarketInfo,
    MarketSnapshot,
    NewsAssessment,
    NewsRegime,
    PortfolioState,
    Side,
    Ticker,
)
from sextant.risk import SymbolInputs

AS_OF = datetime(2025, 3, 14, 15, 0, tzinfo=UTC)
ENV_PREFIXES = ("SEXTANT_", "OPENROUTER_", "BYBIT_", "TELEGRAM_")


def default_settings(**overrides: Any) -> Settings:
    """Settings from defaults (and `overrides`) only: the environment and any .env are hidden."""
    with pytest.MonkeyPatch.context() as mp, tempfile.TemporaryDirectory() as tmp:
        for name in list(os.environ):
            if name.upper().startswith(ENV_PREFIXES):
                mp.delenv(name)
        mp.chdir(tmp)
        return load_settings(**overrides)


def btc_market(max_leverage: int = 100) -> MarketInfo:
    return MarketInfo(
        symbol="BTC/USDT:USDT", exchange_id="BTCUSDT", amount_step=Decimal("0.001"),
        price_tick=Decimal("0.10"), min_amount=Decimal("0.001"), min_notional=Decimal("5"),
        max_leverage=max_leverage,
    )


def doge_market(max_leverage: int = 50) -> MarketInfo:
    return MarketInfo(
        symbol="DOGE/USDT:USDT", exchange_id="DOGEUSDT", amount_step=Decimal("1"),
        price_tick=Decimal("0.00001"), min_amount=Decimal("1"), min_notional=Decimal("5"),
        max_leverage=max_leverage,
    )


def generic_market(symbol: str, max_leverage: int = 50) -> MarketInfo:
    return MarketInfo(
        symbol=symbol, amount_step=Decimal("0.01"), price_tick=Decimal("0.01"),
        min_amount=Decimal("0.01"), max_leverage=max_leverage,
    )


def snapshot(
    market: MarketInfo,
    *,
    bid: float,
    ask: float,
    funding: FundingInfo | None = None,
    as_of: datetime = AS_OF,
) -> MarketSnapshot:
    return MarketSnapshot(
        symbol=market.symbol, as_of=as_of, source="replay", market=market, candles={},
        ticker=Ticker(bid=bid, ask=ask, last=(bid + ask) / 2, quote_volume_24h=1e9),
        funding=funding,
    )


def _component(name: str, value: float | None) -> ComponentScore:
    return ComponentScore(name=name, value=value, note="" if value is not None else "n/a")


def timeframe(tf: str, score: float, regime: Regime = "trending_up") -> TimeframeAnalysis:
    return TimeframeAnalysis(
        timeframe=tf,  # type: ignore[arg-type]
        bar_time=AS_OF, close=100.0,
        trend=_component("trend", score), momentum=_component("momentum", score),
        volume=_component("volume", score), open_interest=_component("open_interest", None),
        regime=regime, score=score, vote=1.0 if score > 0 else -1.0, confidence=0.8,
    )


def analysis(
    symbol: str,
    *,
    trend: float | None = None,
    momentum: float | None = None,
    volume: float | None = None,
    open_interest: float | None = None,
    regime: Regime | None = "trending_up",
    atr_pct: float | None = 2.0,
    daily_veto: Side | None = None,
    confidence: float = 0.7,
) -> MathAnalysis:
    comps = {"trend": trend, "momentum": momentum, "volume": volume,
             "open_interest": open_interest}
    present = [v for v in comps.values() if v is not None]
    mean = sum(present) / len(present) if present else 0.0
    return MathAnalysis(
        symbol=symbol, as_of=AS_OF,
        timeframes={tf: timeframe(tf, mean, regime or "ranging") for tf in ("1h", "4h", "1d")},
        components=comps, score=mean, regime=regime, vote=mean, confidence=confidence,
        daily_veto=daily_veto,
        daily_veto_reason=f"1d disagrees: vetoes {daily_veto}" if daily_veto else None,
        volatility=Volatility(atr_pct_30d=atr_pct, volatility_ratio=1.0, change_4h_pct=0.0),
    )


def uniform_analysis(symbol: str, value: float, **kw: Any) -> MathAnalysis:
    """All four math components equal to `value` (OI too): the final score is then `value`."""
    return analysis(symbol, trend=value, momentum=value, volume=value, open_interest=value, **kw)


def news(
    symbol: str,
    *,
    score: float | None = None,
    regime: NewsRegime = "NORMAL",
    driver: Side | None = None,
    veto_long: bool = False,
    veto_short: bool = False,
) -> NewsAssessment:
    return NewsAssessment(
        symbol=symbol, available=score is not None, score=score, regime=regime, driver=driver,
        veto_long=veto_long, veto_short=veto_short,
    )


def portfolio(
    equity: str | Decimal = "10000",
    *,
    day_pnl: str | Decimal = "0",
    open_symbols: tuple[str, ...] = (),
    circuit_breaker_until: datetime | None = None,
    margin_used: str | Decimal = "0",
) -> PortfolioState:
    return PortfolioState(
        equity=Decimal(equity), day_start_equity=Decimal(equity), day_pnl=Decimal(day_pnl),
        open_symbols=open_symbols, circuit_breaker_until=circuit_breaker_until,
        margin_used=Decimal(margin_used),
    )


def inputs(
    market: MarketInfo,
    an: MathAnalysis,
    *,
    bid: float,
    ask: float,
    news_: NewsAssessment | None = None,
    funding: FundingInfo | None = None,
    as_of: datetime = AS_OF,
) -> SymbolInputs:
    return SymbolInputs(
        snapshot=snapshot(market, bid=bid, ask=ask, funding=funding, as_of=as_of),
        analysis=an, news=news_,
    )
