"""Prices for the position monitor: closed 1h bars, the last price, funding settlements.

The analysis cycle reads full snapshots through the market-data port; the monitor needs far
less and needs it often, so it has its own small feed: the replay CSVs (point in time: only
bars that had closed by `until`) or Bybit's public REST through the one ccxt seam.
"""

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import pandas as pd

from sextant.config import Settings
from sextant.lifecycle import Bar
from tools.market_data import csv_store

HOUR = timedelta(hours=1)
log = logging.getLogger(__name__)


def dec(x: float | str) -> Decimal:
    """A float price as the shortest decimal that round-trips (80563.9 -> Decimal('80563.9'))."""
    return Decimal(repr(float(x))) if not isinstance(x, str) else Decimal(x)


class PriceFeed(Protocol):
    async def bars(
        self, symbols: Sequence[str], after: datetime, until: datetime
    ) -> dict[str, list[Bar]]:
        """Closed 1h bars that opened at or after `after` and closed at or before `until`;
        each Bar's `time` is its close time."""
        ...

    async def prices(self, symbols: Sequence[str], at: datetime) -> dict[str, Decimal]:
        """The last price of each symbol at `at` (live: now)."""
        ...

    async def funding(
        self, symbol: str, after: datetime, until: datetime
    ) -> list[tuple[datetime, Decimal]] | None:
        """Funding settlements (time, rate per interval) in (after, until]; None = unknown."""
        ...

    async def close(self) -> None: ...


def ts(t: datetime) -> pd.Timestamp:
    return pd.Timestamp(t).tz_convert("UTC")


def _frame_bars(df: pd.DataFrame, after: datetime, until: datetime) -> list[Bar]:
    sel = df.loc[ts(after) : ts(until) - HOUR]
    return [
        Bar(
            time=(t + HOUR).to_pydatetime(),
            open=dec(o),
            high=dec(h),
            low=dec(lo),
            close=dec(c),
        )
        for t, o, h, lo, c in zip(
            sel.index, sel["open"], sel["high"], sel["low"], sel["close"], strict=True
        )
    ]


class ReplayPriceFeed:
    """The replay data set: 1h candles and funding history from the CSV layout."""

    def __init__(self, settings: Settings) -> None:
        self.data_dir = settings.market.data_dir
        self._warned: set[str] = set()

    def _candles(self, symbol: str) -> pd.DataFrame | None:
        path = csv_store.ohlcv_path(self.data_dir, symbol, "1h")
        return None if path is None else csv_store.read_frame(path)

    async def bars(
        self, symbols: Sequence[str], after: datetime, until: datetime
    ) -> dict[str, list[Bar]]:
        out: dict[str, list[Bar]] = {}
        for s in symbols:
            df = self._candles(s)
            out[s] = [] if df is None else _frame_bars(df, after, until)
        return out

    async def prices(self, symbols: Sequence[str], at: datetime) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for s in symbols:
            df = self._candles(s)
            if df is None:
                continue
            closed = df.loc[: ts(at) - HOUR]
            if not closed.empty:
                out[s] = dec(closed["close"].iloc[-1])
        return out

    async def funding(
        self, symbol: str, after: datetime, until: datetime
    ) -> list[tuple[datetime, Decimal]] | None:
        path = csv_store.funding_path(self.data_dir, symbol)
        if path is None:
            if symbol not in self._warned:
                self._warned.add(symbol)
                log.warning("%s: no funding history in %s: no funding charged", symbol,
                            self.data_dir)
            return None
        df = csv_store.read_frame(path)
        sel = df.loc[(df.index > ts(after)) & (df.index <= ts(until))]
        return [(t.to_pydatetime(), dec(r)) for t, r in sel["funding_rate"].items()]

    async def close(self) -> None:
        return None


class BybitPriceFeed:
    """Bybit public REST through ccxt (tools.exchange): klines, tickers, funding history."""

    def __init__(self, settings: Settings, exchange: Any | None = None) -> None:
        from tools.exchange import make_bybit

        self.exchange = exchange or make_bybit(settings)
        self._loaded = False

    async def _load(self) -> None:
        if not self._loaded:
            await self.exchange.load_markets()
            self._loaded = True

    async def bars(
        self, symbols: Sequence[str], after: datetime, until: datetime
    ) -> dict[str, list[Bar]]:
        await self._load()
        since = int(after.timestamp() * 1000)
        hours = max(0, int((until - after) / HOUR))
        out: dict[str, list[Bar]] = {}
        for s in symbols:
            rows = await self.exchange.fetch_ohlcv(s, "1h", since=since, limit=min(hours + 1, 1000))
            bars = []
            for ts, o, h, lo, c, *_ in rows:
                close_time = datetime.fromtimestamp(ts / 1000, UTC) + HOUR
                if close_time <= until and ts >= since:
                    bars.append(Bar(close_time, dec(o), dec(h), dec(lo), dec(c)))
            out[s] = bars
        return out

    async def prices(self, symbols: Sequence[str], at: datetime) -> dict[str, Decimal]:
        if not symbols:
            return {}
        await self._load()
        tickers = await self.exchange.fetch_tickers(list(symbols))
        return {s: dec(t["last"]) for s, t in tickers.items() if s in symbols and t.get("last")}

    async def funding(
        self, symbol: str, after: datetime, until: datetime
    ) -> list[tuple[datetime, Decimal]] | None:
        await self._load()
        rows = await self.exchange.fetch_funding_rate_history(
            symbol, since=int(after.timestamp() * 1000) + 1
        )
        out = []
        for r in rows:
            t = datetime.fromtimestamp(r["timestamp"] / 1000, UTC)
            if after < t <= until:
                out.append((t, dec(r["fundingRate"])))
        return out

    async def close(self) -> None:
        await asyncio.shield(self.exchange.close())
