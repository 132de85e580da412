"""`sextant data download`: Bybit 1h klines and funding history into the replay CSV layout.

Through ccxt (the one client from `tools.exchange`), paged, rate-limited with our own limiter
(Bybit's documented window, see the field notes) and retried with backoff on transient errors.
Only closed bars are written (the exchange's forming bar is dropped), files are merged with
what the folder already holds, and the symbols' trading rules go to `markets.json`.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sextant.config import Settings
from sextant.config.market import BUNDLED_DATA_DIR, HISTORY_DATA_DIR
from sextant.errors import DownloadError
from tools.exchange import make_bybit
from tools.market_data import csv_store
from tools.market_data.bybit import RETRYABLE, is_usdt_linear_perp, market_info
from tools.ratelimit import RetryingCaller, SlidingWindowLimiter

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
KLINE_PAGE = 1000  # Bybit's maximum per kline request
FUNDING_PAGE = 200  # ... and per funding-history request
OHLCV_COLUMNS = ["timestamp_ms", "open", "high", "low", "close", "volume"]


@dataclass
class SymbolDownload:
    symbol: str
    bars: int = 0
    funding: int = 0
    first: datetime | None = None
    last: datetime | None = None
    error: str | None = None


@dataclass
class DownloadSummary:
    data_dir: Path
    until: datetime
    symbols: list[SymbolDownload] = field(default_factory=list)
    requests: int = 0


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def merge_csv(path: Path, fresh: pd.DataFrame) -> int:
    """Write `fresh` rows (timestamp_ms + values) merged with the file's (or its .gz / .xz
    twin's) rows into `path` (plain CSV); fresh rows win on equal timestamps. Returns the row
    count."""
    frames = []
    for existing in (path, path.with_name(path.name + ".gz"), path.with_name(path.name + ".xz")):
        if existing.is_file():
            frames.append(pd.read_csv(existing))
            break
    frames.append(fresh)
    merged = pd.concat(frames, ignore_index=True)
    merged["timestamp_ms"] = merged["timestamp_ms"].astype("int64")
    merged = merged.drop_duplicates("timestamp_ms", keep="last").sort_values("timestamp_ms")
    path.parent.mkdir(parents=True, exist_ok=True)
    merged.to_csv(path, index=False, lineterminator="\n")
    return len(merged)


class Downloader:
    def __init__(
        self,
        settings: Settings,
        *,
        exchange: Any = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        ms = settings.market
        self.settings = settings
        self.exchange = exchange or make_bybit(settings)
        self.http = RetryingCaller(
            SlidingWindowLimiter(
                ms.rate_limit_requests, ms.rate_limit_window_s, ms.max_in_flight, sleep=sleep
            ),
            retries=ms.max_retries,
            backoff_s=ms.retry_backoff_s,
            retryable=RETRYABLE,
            sleep=sleep,
        )

    @property
    def requests(self) -> int:
        return self.http.requests

    async def call(self, what: str, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        try:
            return await self.http.call(what, fn, *args)
        except RETRYABLE as exc:
            raise DownloadError(f"{what}: {type(exc).__name__}: {str(exc)[:200]}") from None

    async def klines(self, symbol: str, since_ms: int, until_ms: int) -> pd.DataFrame:
        """Closed 1h bars opening in [since, until - 1h], oldest first."""
        rows: dict[int, list[float]] = {}
        cursor = since_ms
        while cursor + HOUR_MS <= until_ms:
            page = await self.call(
                f"{symbol} klines", self.exchange.fetch_ohlcv, symbol, "1h", cursor, KLINE_PAGE
            )
            fresh = [r for r in page if cursor <= r[0] and r[0] + HOUR_MS <= until_ms]
            for r in fresh:
                rows[int(r[0])] = [float(x) for x in r[1:6]]
            if not fresh:
                break
            cursor = max(rows) + HOUR_MS
        return pd.DataFrame(
            [[t, *v] for t, v in sorted(rows.items())], columns=OHLCV_COLUMNS
        )

    async def funding(
        self, symbol: str, since_ms: int, until_ms: int, interval_ms: int
    ) -> pd.DataFrame:
        """Funding settlements in [since, until], oldest first, in windows the API can serve."""
        rates: dict[int, float] = {}
        span = (FUNDING_PAGE // 2) * interval_ms
        cursor = since_ms
        while cursor <= until_ms:
            end = min(cursor + span - 1, until_ms)
            page = await self.call(
                f"{symbol} funding",
                self.exchange.fetch_funding_rate_history,
                symbol,
                cursor,
                FUNDING_PAGE,
                {"endTime": end},
            )
            for r in page:
                t = r.get("timestamp")
                if t is not None and r.get("fundingRate") is not None and cursor <= t <= end:
                    rates[int(t)] = float(r["fundingRate"])
            cursor = end + 1
        return pd.DataFrame(sorted(rates.items()), columns=["timestamp_ms", "funding_rate"])

    async def run(
        self,
        symbols: Sequence[str],
        since: datetime,
        until: datetime | None,
        data_dir: Path,
        report: Callable[[SymbolDownload], None] | None = None,
    ) -> DownloadSummary:
        markets = await self.call("load_markets", self.exchange.load_markets)
        server_ms = int(await self.call("server time", self.exchange.fetch_time))
        top = server_ms if until is None else min(_ms(until), server_ms)
        until_ms = top - top % HOUR_MS
        summary = DownloadSummary(data_dir, _dt(until_ms))
        rules: dict[str, dict[str, Any]] = {}
        for symbol in symbols:
            item = SymbolDownload(symbol)
            m = markets.get(symbol)
            if m is None or not is_usdt_linear_perp(m):
                item.error = "not a listed USDT linear perpetual on Bybit"
            else:
                try:
                    await self._one(symbol, m, _ms(since), until_ms, data_dir, item)
                    info = market_info(m)
                    rules[symbol] = {
                        "amount_step": str(info.amount_step),
                        "min_amount": str(info.min_amount),
                        "price_tick": str(info.price_tick),
                        "min_notional": str(info.min_notional),
                        "max_leverage": info.max_leverage,
                    }
                except DownloadError as exc:
                    item.error = str(exc)
            summary.symbols.append(item)
            if report is not None:
                report(item)
        if rules:
            write_rules(data_dir, rules)
        summary.requests = self.requests
        return summary

    async def _one(
        self,
        symbol: str,
        market: dict[str, Any],
        since_ms: int,
        until_ms: int,
        data_dir: Path,
        item: SymbolDownload,
    ) -> None:
        stem = csv_store.base_name(symbol)
        bars = await self.klines(symbol, since_ms, until_ms)
        interval_min = int((market.get("info") or {}).get("fundingInterval") or 480)
        funding = await self.funding(symbol, since_ms, until_ms, interval_min * 60_000)
        if len(bars):
            merge_csv(data_dir / "futures" / f"{stem}-1h.csv", bars)
            item.first = _dt(int(bars["timestamp_ms"].iloc[0]))
            item.last = _dt(int(bars["timestamp_ms"].iloc[-1]))
        if len(funding):
            merge_csv(data_dir / "funding" / f"{stem}-funding.csv", funding)
        item.bars, item.funding = len(bars), len(funding)

    async def aclose(self) -> None:
        await self.exchange.close()


def write_rules(data_dir: Path, rules: dict[str, dict[str, Any]]) -> None:
    """Merge the symbols' Bybit trading rules into the folder's markets.json."""
    path = data_dir / "markets.json"
    current: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    current["_comment"] = (
        "Bybit USDT-perpetual trading rules (instruments-info via ccxt), written by "
        "`sextant data download`."
    )
    current.update(rules)
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")


def check_target(data_dir: Path) -> None:
    if data_dir.resolve() in (BUNDLED_DATA_DIR.resolve(), HISTORY_DATA_DIR.resolve()):
        raise DownloadError(
            f"refusing to write into the bundled data folder {data_dir}: choose --data-dir"
        )
