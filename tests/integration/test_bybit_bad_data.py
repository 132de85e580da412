"""Odd values in ccxt-parsed Bybit data skip one symbol with a reason, never the cycle.

A stub stands in for the ccxt client here so each test can bend exactly one field of otherwise
well-formed data (the wire-format path is covered against the local Bybit server elsewhere).
"""

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sextant.clock import FixedClock
from sextant.config import load_settings
from tools.market_data.bybit import BybitMarketData

NOW = datetime(2026, 5, 16, 11, tzinfo=UTC)
SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]


def market(symbol: str) -> dict[str, Any]:
    base = symbol.split("/")[0]
    return {
        "symbol": symbol, "id": f"{base}USDT", "swap": True, "linear": True, "settle": "USDT",
        "quote": "USDT", "active": True, "contractSize": 1,
        "precision": {"amount": 0.001, "price": 0.1},
        "limits": {"amount": {"min": 0.001}, "cost": {"min": 5}, "leverage": {"max": 100}},
    }


def ticker(price: float) -> dict[str, Any]:
    return {
        "bid": price * 0.9999, "ask": price * 1.0001, "last": price, "quoteVolume": 5e8,
        "info": {"fundingRate": "0.0001", "nextFundingTime": "1778947200000",
                 "fundingIntervalHour": "8"},
    }


def candles(tf_hours: int, n: int, price: float) -> list[list[float]]:
    end = NOW - timedelta(hours=tf_hours)
    out = []
    for i in range(n):
        t = end - timedelta(hours=tf_hours * (n - 1 - i))
        p = price * (1 + 0.001 * ((i % 7) - 3))
        out.append([int(t.timestamp() * 1000), p, p * 1.01, p * 0.99, p, 100.0])
    return out


class StubExchange:
    def __init__(self) -> None:
        self.markets = {s: market(s) for s in SYMBOLS}
        self.tickers = {"BTC/USDT:USDT": ticker(80000.0), "ETH/USDT:USDT": ticker(2000.0)}

    async def load_markets(self, reload: bool = False) -> dict[str, Any]:
        return copy.deepcopy(self.markets)

    async def fetch_tickers(self, symbols: Any = None, params: Any = None) -> dict[str, Any]:
        return copy.deepcopy(self.tickers)

    async def fetch_ohlcv(self, symbol: str, tf: str, since: Any, limit: int, params: Any) -> list:
        hours = {"1h": 1, "4h": 4, "1d": 24}[tf]
        return candles(hours, min(limit, 300), 80000.0 if symbol.startswith("BTC") else 2000.0)

    async def fetch_funding_rate_history(self, *args: Any) -> list[dict[str, Any]]:
        return [{"timestamp": int((NOW - timedelta(hours=8)).timestamp() * 1000),
                 "fundingRate": 0.0001}]

    async def fetch_open_interest_history(self, *args: Any) -> list[dict[str, Any]]:
        return []

    async def close(self) -> None:
        return None


def collect(stub: StubExchange):  # type: ignore[no-untyped-def]
    md = BybitMarketData(load_settings(market={"source": "bybit"}), exchange=stub,
                         clock=FixedClock(NOW))
    return asyncio.run(md.collect(SYMBOLS, NOW))


def test_the_stub_is_well_formed() -> None:
    result = collect(StubExchange())
    assert result.errors == [] and set(result.snapshots) == set(SYMBOLS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("nextFundingTime", "soon"),  # unreadable: unknown, not an error
        ("fundingIntervalHour", "0"),  # would divide by zero in the funding veto
        ("fundingRate", "Infinity"),
        ("fundingRate", "NaN"),
    ],
)
def test_bad_funding_fields_skip_only_that_symbol(field: str, value: str) -> None:
    stub = StubExchange()
    stub.tickers["ETH/USDT:USDT"]["info"][field] = value
    result = collect(stub)
    assert "BTC/USDT:USDT" in result.snapshots
    if field == "nextFundingTime":
        assert result.snapshots["ETH/USDT:USDT"].funding is not None
        assert result.snapshots["ETH/USDT:USDT"].funding.next_time is None
    else:
        assert "ETH/USDT:USDT" not in result.snapshots
        assert result.codes["ETH/USDT:USDT"] == "data_error"


def test_infinite_price_skips_the_symbol() -> None:
    stub = StubExchange()
    stub.tickers["ETH/USDT:USDT"]["ask"] = float("inf")
    result = collect(stub)
    assert set(result.snapshots) == {"BTC/USDT:USDT"}
    assert result.codes["ETH/USDT:USDT"] == "data_error"


def test_one_market_with_unusable_rules_does_not_hide_the_others() -> None:
    stub = StubExchange()
    stub.markets["ETH/USDT:USDT"]["precision"]["amount"] = None
    result = collect(stub)
    assert set(result.snapshots) == {"BTC/USDT:USDT"}
    assert result.codes["ETH/USDT:USDT"] == "not_listed"


def test_an_unexpected_exception_is_that_symbols_error() -> None:
    stub = StubExchange()
    stub.tickers["ETH/USDT:USDT"]["info"] = "not a dict"  # .get() raises AttributeError
    result = collect(stub)
    assert set(result.snapshots) == {"BTC/USDT:USDT"}
    assert result.codes["ETH/USDT:USDT"] == "data_error"
    assert "ETH/USDT:USDT" in result.errors[0].error
