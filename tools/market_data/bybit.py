"""Bybit adapter (ccxt async, USDT linear perpetuals): the same snapshots as replay, live."""

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import ccxt.async_support as ccxt_async
import pandas as pd

from sextant.clock import Clock, SystemClock, floor_hour
from sextant.config import Settings
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
from sextant.reasons import Code
from tools.exchange import make_bybit
from tools.ratelimit import RetryingCaller, SlidingWindowLimiter

log = logging.getLogger(__name__)

# Transient: worth a retry with backoff. ccxt maps HTTP 429/403-too-frequent to
# RateLimitExceeded/DDoSProtection, 5xx to ExchangeNotAvailable, timeouts to RequestTimeout.
RETRYABLE = (
    ccxt_async.NetworkError,  # includes RequestTimeout, ExchangeNotAvailable, DDoSProtection
    ccxt_async.RateLimitExceeded,
)
MARKETS_TTL = timedelta(hours=1)


def market_info(m: dict[str, Any]) -> MarketInfo:
    """ccxt market -> MarketInfo. Bybit uses tick-size precision: precision values are steps."""
    step = Decimal(str(m["precision"]["amount"]))
    tick = Decimal(str(m["precision"]["price"]))
    limits = m.get("limits") or {}
    min_amount = (limits.get("amount") or {}).get("min") or step
    min_cost = (limits.get("cost") or {}).get("min") or 0
    max_lev = (limits.get("leverage") or {}).get("max") or 1
    return MarketInfo(
        symbol=m["symbol"],
        exchange_id=m["id"],
        amount_step=step,
        price_tick=tick,
        min_amount=Decimal(str(min_amount)),
        min_notional=Decimal(str(min_cost)),
        max_leverage=max(1, int(float(max_lev))),
        contract_size=Decimal(str(m.get("contractSize") or 1)),
    )


def is_usdt_linear_perp(m: dict[str, Any]) -> bool:
    return bool(
        m.get("swap")
        and m.get("linear")
        and m.get("settle") == "USDT"
        and m.get("quote") == "USDT"
        and m.get("active", True)
    )


def _float(value: Any, what: str, symbol: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise MarketDataError(
            symbol, Code.DATA_ERROR, f"{symbol}: malformed {what}: {value!r}"
        ) from None
    if not math.isfinite(out):
        raise MarketDataError(symbol, Code.DATA_ERROR, f"{symbol}: {what} is {out}")
    return out


def _next_funding(raw: Any) -> datetime | None:
    """Bybit's nextFundingTime (ms as a string); anything unreadable is simply unknown."""
    try:
        return datetime.fromtimestamp(int(raw) / 1000, UTC) if raw not in (None, "", "0") else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def candles_from_ohlcv(
    symbol: str, timeframe: str, rows: list[list[Any]], as_of: datetime
) -> CandleFrame:
    """ccxt rows -> closed bars only: the still-forming bar and anything after as_of are dropped."""
    if not rows:
        raise MarketDataError(symbol, Code.NO_DATA, f"{symbol}: no {timeframe} candles")
    try:
        df = pd.DataFrame(rows, columns=["t", "open", "high", "low", "close", "volume"])
        df.index = pd.DatetimeIndex(
            pd.to_datetime(df.pop("t").astype("int64"), unit="ms", utc=True)
        )
        df = df.astype("float64")
    except (ValueError, TypeError) as exc:
        raise MarketDataError(
            symbol, Code.DATA_ERROR, f"{symbol}: malformed candles: {exc}"
        ) from None
    df = df[~df.index.duplicated(keep="last")].sort_index()
    df = df.loc[: pd.Timestamp(as_of) - TIMEFRAME_DELTA[timeframe]]
    if df.empty:
        raise MarketDataError(symbol, Code.NO_DATA, f"{symbol}: no closed {timeframe} candles")
    try:
        return CandleFrame(symbol=symbol, timeframe=timeframe, df=df)  # type: ignore[arg-type]
    except ValueError as exc:
        raise MarketDataError(symbol, Code.DATA_ERROR, f"{symbol}: bad candles: {exc}") from None


class BybitMarketData:
    """Snapshots from Bybit's public v5 REST API, rate-limited and retried."""

    source: Literal["replay", "bybit"] = "bybit"

    def __init__(
        self,
        settings: Settings,
        *,
        exchange: Any = None,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        ms = settings.market
        self.exchange = exchange or make_bybit(settings)
        self.clock = clock or SystemClock()
        self.http = RetryingCaller(
            SlidingWindowLimiter(
                ms.rate_limit_requests, ms.rate_limit_window_s, ms.max_in_flight, sleep=sleep
            ),
            retries=ms.max_retries,
            backoff_s=ms.retry_backoff_s,
            retryable=RETRYABLE,
            sleep=sleep,
        )
        self._markets: dict[str, MarketInfo] | None = None
        self._markets_at: datetime | None = None

    async def _call(
        self,
        symbol: str | None,
        what: str,
        fn: Callable[..., Awaitable[Any]],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """One request through the shared limiter and retry policy; failures become this
        symbol's MarketDataError."""
        try:
            return await self.http.call(f"bybit {what} {symbol}", fn, *args, **kwargs)
        except RETRYABLE as exc:
            raise MarketDataError(
                symbol,
                Code.DATA_ERROR,
                f"{symbol or 'bybit'}: {what} failed after {self.http.retries + 1} tries: "
                f"{type(exc).__name__}: {str(exc)[:200]}",
            ) from None
        except ccxt_async.BadSymbol as exc:
            raise MarketDataError(symbol, Code.NOT_LISTED, f"{symbol}: {exc}") from None
        except Exception as exc:
            # Malformed bodies, exchange refusals, and ccxt parser crashes on odd payloads
            # (e.g. a bare IndexError): not worth retrying, never worth the whole cycle.
            raise MarketDataError(
                symbol,
                Code.DATA_ERROR,
                f"{symbol or 'bybit'}: {what}: {type(exc).__name__}: {str(exc)[:200]}",
            ) from None

    @property
    def requests(self) -> int:
        return self.http.requests

    async def markets(self) -> dict[str, MarketInfo]:
        now = self.clock.now()
        if (
            self._markets is None
            or self._markets_at is None
            or now - self._markets_at > MARKETS_TTL
        ):
            raw = await self._call(None, "load_markets", self.exchange.load_markets, True)
            markets: dict[str, MarketInfo] = {}
            for sym, m in raw.items():
                try:
                    if is_usdt_linear_perp(m):
                        markets[sym] = market_info(m)
                except Exception as exc:
                    log.warning("skipping market %s with unusable rules: %s", sym, exc)
            self._markets = markets
            self._markets_at = now
        return self._markets

    async def default_as_of(self, symbols: Sequence[str]) -> datetime:
        return floor_hour(self.clock.now())

    async def close(self) -> None:
        await self.exchange.close()

    async def collect(self, symbols: Sequence[str], as_of: datetime) -> CollectResult:
        as_of = utc(as_of)
        result = CollectResult()
        start_requests = self.requests
        try:
            markets = await self.markets()
            tickers = await self._call(
                None, "tickers", self.exchange.fetch_tickers, None, {"category": "linear"}
            )
        except MarketDataError as exc:
            for s in symbols:  # without markets or tickers no symbol can be judged
                result.errors.append(SymbolError(symbol=s, stage="collect", error=exc.message))
                result.codes[s] = exc.code
            return result

        async def one(symbol: str) -> None:
            try:
                if symbol not in markets:
                    raise MarketDataError(
                        symbol,
                        Code.NOT_LISTED,
                        f"{symbol}: not a listed USDT linear perpetual on Bybit",
                    )
                result.snapshots[symbol] = await self._snapshot(
                    symbol, markets[symbol], tickers.get(symbol), as_of
                )
            except MarketDataError as exc:
                result.errors.append(SymbolError(symbol=symbol, stage="collect", error=exc.message))
                result.codes[symbol] = exc.code
            except Exception as exc:
                msg = f"{symbol}: unusable exchange data: {type(exc).__name__}: {str(exc)[:200]}"
                result.errors.append(SymbolError(symbol=symbol, stage="collect", error=msg))
                result.codes[symbol] = Code.DATA_ERROR

        await asyncio.gather(*(one(s) for s in symbols))
        result.requests = self.requests - start_requests
        return result

    async def _snapshot(
        self, symbol: str, market: MarketInfo, raw_ticker: dict[str, Any] | None, as_of: datetime
    ) -> MarketSnapshot:
        if raw_ticker is None:
            raise MarketDataError(symbol, Code.NO_DATA, f"{symbol}: no ticker")
        hist = self.settings.market.history
        end_ms = int(as_of.timestamp() * 1000)

        async def ohlcv(tf: str) -> CandleFrame:
            limit = min(hist.for_timeframe(tf), 1000)
            # `end` pins the window to as_of, so a past as_of never sees later bars.
            rows = await self._call(
                symbol,
                f"ohlcv {tf}",
                self.exchange.fetch_ohlcv,
                symbol,
                tf,
                None,
                limit,
                {"end": end_ms},
            )
            return candles_from_ohlcv(symbol, tf, rows, as_of)

        try:
            # A task group: the first failure cancels this symbol's other requests.
            async with asyncio.TaskGroup() as tg:
                tasks = {tf: tg.create_task(ohlcv(tf)) for tf in ("1h", "4h", "1d")}
                funding_task = tg.create_task(
                    self._call(
                        symbol,
                        "funding history",
                        self.exchange.fetch_funding_rate_history,
                        symbol,
                        None,
                        self.settings.market.funding_history_limit,
                        {"endTime": end_ms},
                    )
                )
                oi_task = tg.create_task(self._optional_oi(symbol, end_ms))
        except* MarketDataError as group:
            raise group.exceptions[0] from None
        frames = {tf: t.result() for tf, t in tasks.items()}
        funding_rows, oi_rows = funding_task.result(), oi_task.result()
        return MarketSnapshot(
            symbol=symbol,
            as_of=as_of,
            source="bybit",
            market=market,
            candles=frames,  # type: ignore[arg-type]
            ticker=self._ticker(symbol, raw_ticker),
            funding=self._funding(symbol, raw_ticker, funding_rows, as_of),
            open_interest=self._open_interest(oi_rows, as_of),
        )

    async def _optional_oi(self, symbol: str, end_ms: int) -> list[dict[str, Any]]:
        # Open interest enriches the analysis but is not required: its failure is not fatal.
        try:
            return await self._call(
                symbol,
                "open interest",
                self.exchange.fetch_open_interest_history,
                symbol,
                self.settings.market.oi_interval,
                None,
                self.settings.market.oi_limit,
                {"endTime": end_ms},
            )
        except MarketDataError as exc:
            log.warning("%s: open interest unavailable: %s", symbol, exc.message)
            return []

    def _ticker(self, symbol: str, t: dict[str, Any]) -> Ticker:
        info = t.get("info") or {}
        bid = _float(
            t.get("bid") if t.get("bid") is not None else info.get("bid1Price"), "bid", symbol
        )
        ask = _float(
            t.get("ask") if t.get("ask") is not None else info.get("ask1Price"), "ask", symbol
        )
        last = _float(
            t.get("last") if t.get("last") is not None else info.get("lastPrice"), "last", symbol
        )
        qv = t.get("quoteVolume")
        if qv is None:
            qv = info.get("turnover24h")
        try:
            return Ticker(
                bid=bid, ask=ask, last=last, quote_volume_24h=_float(qv, "turnover24h", symbol)
            )
        except ValueError as exc:
            raise MarketDataError(symbol, Code.DATA_ERROR, f"{symbol}: bad ticker: {exc}") from None

    def _funding(
        self, symbol: str, t: dict[str, Any], rows: list[dict[str, Any]], as_of: datetime
    ) -> FundingInfo | None:
        info = t.get("info") or {}
        history = []
        for r in rows or []:
            ts = r.get("timestamp")
            if ts is None or r.get("fundingRate") is None:
                continue
            when = datetime.fromtimestamp(ts / 1000, UTC)
            if when <= as_of:
                history.append((when, float(r["fundingRate"])))
        history.sort()
        rate = info.get("fundingRate")
        if rate in (None, ""):
            if not history:
                return None
            rate = history[-1][1]
        interval = _float(info.get("fundingIntervalHour") or 8, "fundingIntervalHour", symbol)
        try:
            return FundingInfo(
                rate=_float(rate, "fundingRate", symbol),
                interval_hours=interval,
                next_time=_next_funding(info.get("nextFundingTime")),
                history=history,
            )
        except ValueError as exc:
            msg = f"{symbol}: bad funding: {exc}"
            raise MarketDataError(symbol, Code.DATA_ERROR, msg) from None

    def _open_interest(
        self, rows: list[dict[str, Any]], as_of: datetime
    ) -> OpenInterestHistory | None:
        points = []
        for r in rows or []:
            ts = r.get("timestamp")
            amount = r.get("openInterestAmount")
            if amount is None:
                amount = r.get("openInterestValue")
            if ts is None or amount is None:
                continue
            when = datetime.fromtimestamp(ts / 1000, UTC)
            if when <= as_of:
                points.append((when, float(amount)))
        if not points:
            return None
        points.sort()
        return OpenInterestHistory(
            points=points, interval=self.settings.market.oi_interval, unit="base"
        )
