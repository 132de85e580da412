"""Replay adapter: the CSV data set seen at a point in time. Nothing after `as_of` is visible."""

import asyncio
import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pandas as pd

from sextant.config import Settings
from sextant.config.market import BUNDLED_DATA_DIR
from sextant.errors import DataError
from sextant.math_engine import resample_ohlcv
from sextant.models import (
    TIMEFRAME_DELTA,
    CandleFrame,
    FundingInfo,
    MarketInfo,
    MarketSnapshot,
    OpenInterestHistory,
    SymbolError,
    Ticker,
    utc,
)
from sextant.ports.market_data import CollectResult, MarketDataError
from tools.market_data import csv_store

HOUR = timedelta(hours=1)
# Funding older than this at as_of is treated as unknown rather than carried forward forever.
FUNDING_MAX_AGE = timedelta(hours=24)
# Only a recent open-interest series says anything about positioning now.
OI_MAX_AGE = timedelta(days=2)


def check_data_dir(data_dir: Path, field: str = "market.data_dir") -> None:
    """A data folder that is not there is a configuration error naming the setting (exit 2),
    not one "no data" per symbol."""
    path = Path(data_dir)
    if not path.is_dir():
        where = " (env SEXTANT_MARKET__DATA_DIR)" if field == "market.data_dir" else ""
        what = "is not a directory" if path.exists() else "does not exist"
        raise DataError(f"{field}{where}: {path} {what}", field=field)


def load_market_rules(data_dir: Path) -> dict[str, MarketInfo]:
    """Trading rules from `markets.json` in the data folder, else the bundled one (assumed)."""
    path = data_dir / "markets.json"
    if not path.is_file():
        path = BUNDLED_DATA_DIR / "markets.json"
    raw = json.loads(path.read_text())
    rules: dict[str, MarketInfo] = {}
    for symbol, r in raw.items():
        if symbol.startswith("_"):
            continue
        rules[symbol] = MarketInfo(
            symbol=symbol,
            exchange_id=symbol.split("/")[0] + "USDT",
            amount_step=Decimal(r["amount_step"]),
            price_tick=Decimal(r["price_tick"]),
            min_amount=Decimal(r["min_amount"]),
            min_notional=Decimal(r.get("min_notional", "0")),
            max_leverage=int(r["max_leverage"]),
            assumed=True,
        )
    return rules


class ReplayMarketData:
    """Serves snapshots from CSV files (the bundled subset or a folder of the same layout)."""

    source: Literal["replay", "bybit"] = "replay"

    def __init__(self, settings: Settings, data_dir: Path | None = None) -> None:
        self.settings = settings
        self.data_dir = Path(data_dir or settings.market.data_dir)
        if not (self.data_dir / "futures").is_dir():
            raise MarketDataError(None, "no_data_dir", f"no futures/ folder in {self.data_dir}")
        self._rules = load_market_rules(self.data_dir)

    async def markets(self) -> dict[str, MarketInfo]:
        # Listing files is blocking I/O: off the event loop (LangGraph dev refuses it).
        listed = set(await asyncio.to_thread(csv_store.available_symbols, self.data_dir))
        return {s: m for s, m in self._rules.items() if s in listed}

    async def default_as_of(self, symbols: Sequence[str]) -> datetime:
        return await asyncio.to_thread(self.data_end, symbols)

    def _hourly_indexes(self, symbols: Sequence[str]) -> Iterator[pd.DatetimeIndex]:
        """The 1h bar open times of each listed symbol whose file is there and readable (a
        broken file is that symbol's error in the cycle, not this scan's)."""
        for s in symbols:
            path = csv_store.ohlcv_path(self.data_dir, s, "1h")
            if path is None:
                continue
            try:
                index = csv_store.read_frame(path).index
            except Exception:
                continue
            yield index

    def data_end(self, symbols: Sequence[str]) -> datetime:
        """Close time of the last bar that every listed symbol has: all of them are fresh then."""
        ends = [index[-1] + HOUR for index in self._hourly_indexes(symbols) if len(index)]
        if not ends:
            raise MarketDataError(None, "no_data", f"none of {list(symbols)} in {self.data_dir}")
        return min(ends).to_pydatetime()

    def last_close_before(self, symbols: Sequence[str], as_of: datetime) -> datetime | None:
        """The latest close time at or before `as_of` of any listed symbol's 1h bars (None:
        no bar had closed by then): how fresh the freshest symbol is at `as_of`."""
        stop = pd.Timestamp(utc(as_of))
        closes = [
            closed[-1] + HOUR
            for index in self._hourly_indexes(symbols)
            if len(closed := index[index + HOUR <= stop])
        ]
        return max(closes).to_pydatetime() if closes else None

    async def collect(self, symbols: Sequence[str], as_of: datetime) -> CollectResult:
        # File reads are blocking: keep them off the event loop (LangGraph dev refuses them).
        return await asyncio.to_thread(self.collect_sync, symbols, as_of)

    def collect_sync(self, symbols: Sequence[str], as_of: datetime) -> CollectResult:
        as_of = utc(as_of)
        result = CollectResult()
        for symbol in symbols:
            try:
                result.snapshots[symbol] = self.snapshot(symbol, as_of)
            except MarketDataError as exc:
                result.errors.append(SymbolError(symbol=symbol, stage="collect", error=exc.message))
                result.codes[symbol] = exc.code
            except Exception as exc:
                msg = f"{symbol}: bad data: {type(exc).__name__}: {str(exc)[:200]}"
                result.errors.append(SymbolError(symbol=symbol, stage="collect", error=msg))
                result.codes[symbol] = "data_error"
        return result

    async def close(self) -> None:
        return None

    # -- one symbol -------------------------------------------------------------------------

    def snapshot(self, symbol: str, as_of: datetime) -> MarketSnapshot:
        as_of = utc(as_of)
        market = self._rules.get(symbol)
        if market is None:
            raise MarketDataError(
                symbol, "not_listed", f"{symbol}: no trading rules (markets.json)"
            )
        path = csv_store.ohlcv_path(self.data_dir, symbol, "1h")
        if path is None:
            raise MarketDataError(symbol, "no_data", f"{symbol}: no 1h candles in {self.data_dir}")
        all_1h = csv_store.read_frame(path)
        # A bar is visible once it has closed: open time + 1h <= as_of.
        closed = all_1h.loc[: pd.Timestamp(as_of) - HOUR]
        if len(closed) < 2:
            raise MarketDataError(
                symbol, "no_data", f"{symbol}: no candles before {as_of:%F %H:%M}"
            )
        hist = self.settings.market.history
        candles = {"1h": CandleFrame(symbol=symbol, timeframe="1h", df=closed.iloc[-hist.h1 :])}
        for tf in ("4h", "1d"):
            frame = self.higher_timeframe(symbol, tf, closed, as_of)
            candles[tf] = CandleFrame(
                symbol=symbol, timeframe=tf, df=frame.iloc[-hist.for_timeframe(tf) :]
            )
        assumptions = [
            f"bid/ask: assumed spread {self.settings.market.assumed_spread_pct}% around the close",
            "quote_volume_24h: base volume x typical price of the last 24 closed 1h bars",
        ]
        if market.assumed:
            assumptions.append("market rules: assumed from markets.json")
        funding = self._funding(symbol, as_of, assumptions)
        return MarketSnapshot(
            symbol=symbol,
            as_of=as_of,
            source="replay",
            market=market,
            candles=candles,
            ticker=self._ticker(closed),
            funding=funding,
            open_interest=self._open_interest(symbol, as_of),
            assumptions=assumptions,
        )

    def higher_timeframe(
        self, symbol: str, tf: str, closed_1h: pd.DataFrame, as_of: datetime
    ) -> pd.DataFrame:
        resampled = resample_ohlcv(closed_1h, tf)
        path = csv_store.ohlcv_path(self.data_dir, symbol, tf)
        if path is None:
            return resampled
        native = csv_store.read_frame(path)
        native = native.loc[: pd.Timestamp(as_of) - TIMEFRAME_DELTA[tf]]
        if native.empty:
            return resampled
        # Native bars where they exist, the 1h resample after the native file ends.
        tail = resampled.loc[resampled.index > native.index[-1]]
        return pd.concat([native[resampled.columns], tail])

    def _ticker(self, closed_1h: pd.DataFrame) -> Ticker:
        last = float(closed_1h["close"].iloc[-1])
        half = self.settings.market.assumed_spread_pct / 100 / 2
        day = closed_1h.iloc[-24:]
        typical = (day["high"] + day["low"] + day["close"]) / 3
        return Ticker(
            bid=last * (1 - half),
            ask=last * (1 + half),
            last=last,
            quote_volume_24h=float((day["volume"] * typical).sum()),
            assumed_fields=("bid", "ask"),
        )

    def _funding(self, symbol: str, as_of: datetime, assumptions: list[str]) -> FundingInfo | None:
        path = csv_store.funding_path(self.data_dir, symbol)
        if path is None:
            assumptions.append("funding: no history in the data set (unavailable)")
            return None
        hist = csv_store.read_frame(path).loc[: pd.Timestamp(as_of)]
        if hist.empty or as_of - hist.index[-1].to_pydatetime() > FUNDING_MAX_AGE:
            assumptions.append("funding: no settlement in the 24h before as_of (unavailable)")
            return None
        tail = hist.iloc[-self.settings.market.funding_history_limit :]
        assumptions.append("funding: last settled rate stands in for the predicted rate")
        last_time = tail.index[-1].to_pydatetime()
        return FundingInfo(
            rate=float(tail["funding_rate"].iloc[-1]),
            interval_hours=8,
            next_time=last_time + timedelta(hours=8),
            history=[(t.to_pydatetime(), float(v)) for t, v in tail["funding_rate"].items()],
            assumed=True,
        )

    def _open_interest(self, symbol: str, as_of: datetime) -> OpenInterestHistory | None:
        path = csv_store.open_interest_path(self.data_dir, symbol)
        if path is None:
            return None
        frame = csv_store.read_frame(path).loc[: pd.Timestamp(as_of)]
        if frame.empty or as_of - frame.index[-1].to_pydatetime() > OI_MAX_AGE:
            return None
        col = frame.columns[0]
        return OpenInterestHistory(
            points=[(t.to_pydatetime(), float(v)) for t, v in frame[col].iloc[-200:].items()],
            interval="1d",
        )
