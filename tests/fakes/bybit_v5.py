"""A local HTTP server that speaks Bybit's v5 REST wire format, for testing through real ccxt.

Bybit cannot be reached from the test machines, so the bybit market-data adapter and the
Bybit broker are exercised with the real `ccxt.bybit` / `ccxt.async_support.bybit` client
pointed at this server on 127.0.0.1. Response envelopes and field names follow real Bybit v5
responses (see ../shared/data/bybit_api): `{"retCode", "retMsg", "result", "retExtInfo",
"time"}` with numbers encoded as strings.

Usage::

    frames = load_bundled_frames(data_dir, ["BTC/USDT:USDT", "ETH/USDT:USDT"])
    with FakeBybit(**frames._asdict(), now_ms=...) as fake:
        exchange = make_ccxt(fake, api_key="k", secret="s")
        exchange.load_markets()
        exchange.fetch_ohlcv("BTC/USDT:USDT", "4h", limit=100)
        fake.fail("/v5/market/kline", "429")           # next kline request answers HTTP 429
        fake.set_price("BTC/USDT:USDT", 60_000)        # may trigger resting stops

Time model ("point in time"): the server clock is `fake.now_ms` (served by /v5/market/time and
the `time` field of every answer); nothing whose timestamp is after it is ever served. A 1h
bar is visible once it has *opened* (open time <= now), like the real API, which includes the
still-forming bar. The data only holds final 1h bars, so what the forming bar looks like is a
choice (`forming_bar`):

* ``"open"`` (default, causal): the forming bar is served as it looks at its first trade,
  open=high=low=close=its open, volume 0; the current price is that open.
* ``"full"``: the forming bar is served with its final values and the current price is its
  close (looks up to one hour ahead: convenient, not point-in-time).
* ``"exclude"``: only closed bars are served; the current price is the last close.

4h, 1d (and 2h/6h/12h/1w/1M) bars are aggregated from the visible 1h bars, UTC-aligned
(weeks start on Monday like Bybit's), so the forming 4h/1d bar is partial exactly like the
real one. Turnover (quote volume), which the source data lacks, is volume x (O+H+L+C)/4.

The account is a small one-way-mode USDT linear account: wallet balance, taker/maker fees,
positions with average price, leverage and a rough liquidation price, market/limit orders,
conditional (trigger) orders that rest as ``Untriggered`` until the price crosses them
(`set_price`, or `set_now`, which walks the 1h bars in between and also charges funding).
Records made while the clock stands still share its timestamp. There is no liquidation
engine and no order book depth.

Transport: by default Bybit's IP limit (600 requests / 5 s) is enforced with HTTP 403, like
the real exchange (`ip_limit=None` turns it off); a per-UID order limit is optional.
Faults are scripted with `fail()`; see its docstring for the kinds. Anything the fake itself
gets wrong answers HTTP 500 with the traceback, also kept in `fake.errors`; requests to
paths it does not serve answer 404 and are listed in `fake.unknown_paths`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import math
import re
import socket
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, NamedTuple, get_args
from urllib.parse import parse_qsl, urlsplit

import ccxt
import ccxt.async_support as ccxt_async
import numpy as np
import pandas as pd

from .bybit_instruments import DEFAULT_INSTRUMENTS, InstrumentSpec, generic_spec

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
FUNDING_PERIOD_MS = 8 * HOUR_MS
# 1970-01-01 was a Thursday; Bybit's weekly candles open on Monday 00:00 UTC.
_MONDAY_OFFSET_MS = 4 * DAY_MS

# Bybit kline interval -> bucket width in ms (None = calendar month). Minute intervals cannot
# be derived from 1h data and are refused.
_KLINE_WIDTH: dict[str, int | None] = {
    "60": HOUR_MS,
    "120": 2 * HOUR_MS,
    "240": 4 * HOUR_MS,
    "360": 6 * HOUR_MS,
    "720": 12 * HOUR_MS,
    "D": DAY_MS,
    "W": WEEK_MS,
    "M": None,
}
_OI_WIDTH: dict[str, int] = {
    "5min": 5 * 60_000,
    "15min": 15 * 60_000,
    "30min": 30 * 60_000,
    "1h": HOUR_MS,
    "4h": 4 * HOUR_MS,
    "1d": DAY_MS,
}

FaultKind = Literal[
    "429",
    "403",
    "10006",
    "500",
    "502",
    "503",
    "504",
    "timeout",
    "malformed",
    "reset",
    "timeout_after_apply",
]
FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))
FormingBar = Literal["open", "full", "exclude"]

OPEN_STATUSES = frozenset({"New", "PartiallyFilled", "Untriggered"})
CLOSED_STATUSES = frozenset(
    {"Filled", "Cancelled", "Rejected", "PartiallyFilledCanceled", "Deactivated"}
)
_TPSL_TYPES = frozenset({"TakeProfit", "StopLoss", "PartialTakeProfit", "PartialStopLoss"})
_ORDER_LINK_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_MMR = 0.005  # maintenance margin rate used for the rough liquidation price
_EPS = 1e-12

_PRIVATE_PREFIXES = ("/v5/order", "/v5/position", "/v5/account", "/v5/execution", "/v5/user")


# --------------------------------------------------------------------------- small helpers


def bybit_id(symbol: str) -> str:
    """'BTC/USDT:USDT' -> 'BTCUSDT'; Bybit ids pass through."""
    if "/" in symbol:
        base, rest = symbol.split("/", 1)
        return base + rest.split(":", 1)[0]
    return symbol.upper()


class SymbolDict[V](dict[str, V]):
    """A dict whose keys may be given as ccxt symbols or Bybit ids (stored as Bybit ids)."""

    def __setitem__(self, key: str, value: V) -> None:
        super().__setitem__(bybit_id(key), value)

    def __getitem__(self, key: str) -> V:
        return super().__getitem__(bybit_id(key))

    def __delitem__(self, key: str) -> None:
        super().__delitem__(bybit_id(key))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(bybit_id(key))

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(bybit_id(key), default)

    def pop(self, key: str, *default: Any) -> Any:  # type: ignore[override]
        return super().pop(bybit_id(key), *default)


def _num(x: float) -> str:
    """Shortest round-trip decimal without exponent (Bybit never sends '1e-05')."""
    if x == 0 or not math.isfinite(x):
        return "0"
    return str(np.format_float_positional(float(x), trim="-"))


def _fixed(x: float, decimals: int) -> str:
    return f"{x:.{decimals}f}"


def _money(x: float) -> str:
    return _fixed(x, 8)


def _quantize(x: float, step: str, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    q = Decimal(step)
    return (Decimal(repr(float(x))) / q).to_integral_value(rounding=rounding) * q


def _to_ms(value: int | float | str | datetime | pd.Timestamp) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return int(value)
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1_000_000)


def _index_ms(index: pd.Index) -> np.ndarray:
    if isinstance(index, pd.DatetimeIndex):
        utc = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
        return np.asarray(utc.tz_localize(None).values.astype("datetime64[ms]").astype(np.int64))
    return np.asarray(index, dtype=np.int64)


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in {"true", "1"}
    return bool(value)


def _as_float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    return float(value)


def _as_int(value: Any, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    return int(value)


class _Bars(NamedTuple):
    """1h bars of one symbol, ascending by open time (ms)."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


class _Points(NamedTuple):
    ts: np.ndarray
    value: np.ndarray


_Route = Callable[[Mapping[str, Any]], tuple[Any, str]]  # params -> (result, retMsg)


class RecordedRequest(NamedTuple):
    """One request as received: (monotonic time, method, path, query, JSON body)."""

    t: float
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any]


class BundledFrames(NamedTuple):
    candles: dict[str, pd.DataFrame]
    funding: dict[str, pd.DataFrame]
    open_interest: dict[str, pd.DataFrame]


class _ApiError(Exception):
    """A Bybit business error: answered with HTTP 200 and this retCode."""

    def __init__(self, code: int, msg: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.result = result if result is not None else {}


@dataclass
class _Fault:
    prefix: str
    kind: str
    remaining: int | None  # None = until clear_faults()
    skip: int = 0  # matching requests let through before the fault starts


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- account records


@dataclass
class FakeOrder:
    """An order as the fake exchange keeps it (floats); `to_wire` gives Bybit's JSON shape."""

    order_id: str
    order_link_id: str
    symbol: str
    side: str  # "Buy" | "Sell"
    order_type: str  # "Market" | "Limit"
    qty: float
    price: float  # 0 for market orders
    time_in_force: str
    reduce_only: bool
    close_on_trigger: bool
    status: str
    created_ms: int
    updated_ms: int
    trigger_price: float = 0.0
    trigger_direction: int = 0  # 1: rises to trigger, 2: falls to trigger
    trigger_by: str = ""
    stop_order_type: str = ""  # "Stop", "TakeProfit", "StopLoss", "Partial..." or ""
    tpsl_mode: str = ""
    last_price_on_created: float = 0.0
    cum_exec_qty: float = 0.0
    cum_exec_value: float = 0.0
    cum_exec_fee: float = 0.0
    cancel_type: str = "UNKNOWN"
    reject_reason: str = "EC_NoError"
    create_type: str = "CreateByUser"
    take_profit: float = 0.0  # attached TP/SL sent with the order: echoed, not acted upon
    stop_loss: float = 0.0
    fill_fraction: float | None = None  # scripted partial fill, applied at the first fill

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_conditional(self) -> bool:
        return self.stop_order_type != ""

    @property
    def leaves_qty(self) -> float:
        if self.status in {"Filled"}:
            return 0.0
        return max(self.qty - self.cum_exec_qty, 0.0)

    @property
    def avg_price(self) -> float:
        return self.cum_exec_value / self.cum_exec_qty if self.cum_exec_qty > 0 else 0.0

    def to_wire(self, spec: InstrumentSpec) -> dict[str, Any]:
        ps, qd = spec.price_scale, spec.qty_decimals
        ref = self.price or self.last_price_on_created
        return {
            "orderId": self.order_id,
            "orderLinkId": self.order_link_id,
            "blockTradeId": "",
            "symbol": self.symbol,
            "price": _fixed(self.price, ps) if self.price else "0",
            "qty": _fixed(self.qty, qd),
            "side": self.side,
            "isLeverage": "",
            "positionIdx": 0,
            "orderStatus": self.status,
            "createType": self.create_type,
            "cancelType": self.cancel_type,
            "rejectReason": self.reject_reason,
            "avgPrice": _num(self.avg_price) if self.cum_exec_qty > 0 else "",
            "leavesQty": _fixed(self.leaves_qty, qd),
            "leavesValue": _money(self.leaves_qty * ref),
            "cumExecQty": _fixed(self.cum_exec_qty, qd),
            "cumExecValue": _money(self.cum_exec_value),
            "cumExecFee": _money(self.cum_exec_fee),
            "timeInForce": self.time_in_force,
            "orderType": self.order_type,
            "stopOrderType": self.stop_order_type,
            "orderIv": "",
            "marketUnit": "",
            "triggerPrice": _fixed(self.trigger_price, ps),
            "takeProfit": _fixed(self.take_profit, ps),
            "stopLoss": _fixed(self.stop_loss, ps),
            "tpTriggerBy": "",
            "slTriggerBy": "",
            "triggerDirection": self.trigger_direction,
            "triggerBy": self.trigger_by,
            "lastPriceOnCreated": _fixed(self.last_price_on_created, ps),
            "basePrice": _fixed(self.last_price_on_created, ps),
            "reduceOnly": self.reduce_only,
            "closeOnTrigger": self.close_on_trigger,
            "placeType": "",
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "tpslMode": self.tpsl_mode,
            "tpLimitPrice": "",
            "slLimitPrice": "",
            "createdTime": str(self.created_ms),
            "updatedTime": str(self.updated_ms),
        }


@dataclass
class FakePosition:
    """One-way position of one symbol; size is always >= 0, side "" when flat."""

    symbol: str
    leverage: float
    side: str = ""
    size: float = 0.0
    avg_price: float = 0.0
    isolated: bool = False  # per-symbol trade mode (classic accounts / switch-isolated)
    cur_realised_pnl: float = 0.0
    cum_realised_pnl: float = 0.0
    created_ms: int = 0
    updated_ms: int = 0
    seq: int = 0

    @property
    def direction(self) -> int:
        return {"Buy": 1, "Sell": -1}.get(self.side, 0)

    def unrealised(self, mark: float) -> float:
        return (mark - self.avg_price) * self.size * self.direction if self.size else 0.0

    def initial_margin(self) -> float:
        return self.size * self.avg_price / self.leverage if self.size else 0.0

    def liq_and_bust(self) -> tuple[float, float]:
        """Rough isolated-margin liquidation and bankruptcy prices."""
        if not self.size:
            return 0.0, 0.0
        inv = 1.0 / self.leverage
        if self.direction > 0:
            return self.avg_price * (1 - inv + _MMR), self.avg_price * (1 - inv)
        return self.avg_price * (1 + inv - _MMR), self.avg_price * (1 + inv)


@dataclass
class FakeExecution:
    exec_id: str
    symbol: str
    order_id: str
    order_link_id: str
    side: str
    order_type: str
    stop_order_type: str
    order_price: float
    order_qty: float
    leaves_qty: float
    exec_price: float
    exec_qty: float
    exec_value: float
    exec_fee: float
    fee_rate: float
    is_maker: bool
    exec_type: str  # "Trade" | "Funding"
    exec_time: int
    closed_size: float
    exec_pnl: float
    mark_price: float
    seq: int

    def to_wire(self, spec: InstrumentSpec) -> dict[str, Any]:
        ps, qd = spec.price_scale, spec.qty_decimals
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderLinkId": self.order_link_id,
            "side": self.side,
            "orderPrice": _fixed(self.order_price, ps),
            "orderQty": _fixed(self.order_qty, qd),
            "leavesQty": _fixed(self.leaves_qty, qd),
            "createType": "CreateByUser" if self.exec_type == "Trade" else "",
            "orderType": self.order_type,
            "stopOrderType": self.stop_order_type,
            "execFee": _money(self.exec_fee),
            "execFeeV2": "",
            "execId": self.exec_id,
            "execPrice": _num(self.exec_price),
            "execQty": _fixed(self.exec_qty, qd),
            "execType": self.exec_type,
            "execValue": _money(self.exec_value),
            "execTime": str(self.exec_time),
            "feeCurrency": "USDT",
            "isMaker": self.is_maker,
            "feeRate": _num(self.fee_rate),
            "tradeIv": "",
            "markIv": "",
            "markPrice": _fixed(self.mark_price, ps),
            "indexPrice": _fixed(self.mark_price, ps),
            "underlyingPrice": "",
            "blockTradeId": "",
            "closedSize": _fixed(self.closed_size, qd),
            "execPnl": _money(self.exec_pnl),
            "seq": self.seq,
        }


# --------------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeBybit


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive like the real API: ccxt (requests / aiohttp) reuses connections.
    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections are closed after this long, so threads do not linger.
    timeout = 30
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus the
        # client's delayed ACK adds ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        self.server.fake._track(self.connection, add=False)
        super().finish()

    def do_GET(self) -> None:
        self.server.fake._serve(self)

    def do_POST(self) -> None:
        self.server.fake._serve(self)

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: the request log is `FakeBybit.requests`


# --------------------------------------------------------------------------- the fake


class FakeBybit:
    """Fake Bybit v5 REST server (USDT linear perpetuals only). See the module docstring."""

    def __init__(
        self,
        candles: Mapping[str, pd.DataFrame] | None = None,
        funding: Mapping[str, pd.DataFrame] | None = None,
        open_interest: Mapping[str, pd.DataFrame] | None = None,
        *,
        now_ms: int | str | datetime | pd.Timestamp | None = None,
        instruments: Mapping[str, InstrumentSpec] | None = None,
        balance_usdt: float = 10_000.0,
        taker_fee: float = 0.00055,
        maker_fee: float = 0.0002,
        default_spread_pct: float = 0.02,
        default_leverage: float = 10.0,
        unified: bool = True,
        forming_bar: FormingBar = "open",
        latency_s: float = 0.0,
        timeout_hold_s: float = 1.0,
        api_secret: str | None = None,
        ip_limit: tuple[int, float] | None = (600, 5.0),
        order_rate_limit: tuple[int, float] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self._lock = threading.RLock()
        self._closing = threading.Event()
        self._host = host
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._route_table = self._routes()

        self._bars: dict[str, _Bars] = {
            bybit_id(s): self._bars_from_frame(df) for s, df in (candles or {}).items()
        }
        self._funding: dict[str, _Points] = {
            bybit_id(s): self._points_from_frame(df, ("funding_rate", "fundingRate"))
            for s, df in (funding or {}).items()
        }
        self._oi: dict[str, _Points] = {
            bybit_id(s): self._oi_from_frame(bybit_id(s), df)
            for s, df in (open_interest or {}).items()
        }
        self._instruments: dict[str, InstrumentSpec] = dict(
            instruments if instruments is not None else DEFAULT_INSTRUMENTS
        )
        for sid, bars in self._bars.items():  # symbols with data but no spec get a generic one
            if sid not in self._instruments and len(bars.ts):
                self._instruments[sid] = generic_spec(sid, float(bars.close[-1]))

        if now_ms is not None:
            self._now = _to_ms(now_ms)
        elif self._bars:
            self._now = max(int(b.ts[-1]) for b in self._bars.values() if len(b.ts)) + HOUR_MS
        else:
            self._now = int(time.time() * 1000) // HOUR_MS * HOUR_MS

        self.forming_bar: FormingBar = forming_bar
        self.taker_fee = taker_fee
        self.maker_fee = maker_fee
        self.default_spread_pct = default_spread_pct
        self.default_leverage = default_leverage
        self.unified = unified
        self.api_secret = api_secret
        #: Full bid/ask spread in percent per symbol (keys: ccxt symbol or Bybit id).
        self.spread_pct: SymbolDict[float] = SymbolDict()
        #: Ticker fundingRate per symbol instead of the latest realised rate.
        self.funding_rate_override: SymbolDict[float] = SymbolDict()
        #: Market orders fill at price x (1 +/- slippage_pct / 100).
        self.slippage_pct = 0.0
        #: Delay added to every request (benchmarks), seconds.
        self.latency_s = latency_s
        #: How long "timeout" faults hold a request before dropping the connection, seconds.
        self.timeout_hold_s = timeout_hold_s
        #: Cancel resting reduce-only orders when their position becomes flat (Bybit's
        #: cancelType CancelByReduceOnly / CancelByTpSlTsClear).
        self.cancel_reduce_only_on_flat = True

        self.requests: list[RecordedRequest] = []
        self.unknown_paths: list[str] = []
        #: Tracebacks of bugs inside the fake (answered as HTTP 500).
        self.errors: list[str] = []
        #: Bybit's IP limit (requests, window s): past it the answer is HTTP 403 "access too
        #: frequent" (the real exchange then bans the IP for minutes; the fake does not).
        self.ip_limit = ip_limit
        #: Per-UID limit of /v5/order/create (orders, window s): past it retCode 10006.
        self.order_rate_limit = order_rate_limit
        #: How many requests were refused by `ip_limit` / `order_rate_limit`.
        self.ip_limit_hits = 0
        self.order_limit_hits = 0
        self._ip_window: deque[float] = deque()
        self._order_window: deque[float] = deque()
        self.max_in_flight = 0
        self._in_flight = 0
        self._faults: list[_Fault] = []
        self._reject_next: list[tuple[int, str]] = []
        self._partial_next: list[float] = []
        self._error_after_create: list[tuple[int, str]] = []
        self._defer_next: list[int | None] = []
        #: orderId -> look-ups left before a deferred market order is processed (None: until
        #: `process_deferred()`).
        self._deferred: dict[str, int | None] = {}
        self._hidden_links: dict[str, int] = {}
        #: Bybit serves /v5/execution/list at most 7 days per request (startTime only: that
        #: day + 7 days; neither: the last 7 days). None (default): no window, every row.
        self.execution_window_ms: int | None = None

        self.wallet_balance = float(balance_usdt)
        self.margin_mode = "REGULAR_MARGIN"  # UTA account margin mode (cross by default)
        self.orders: dict[str, FakeOrder] = {}
        self.positions: SymbolDict[FakePosition] = SymbolDict()
        self.executions: list[FakeExecution] = []
        self._price_override: SymbolDict[float] = SymbolDict()
        self._seq = itertools.count(1_000_000)
        self._event_ms: int | None = None  # timestamp for records made while walking bars

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeBybit:
        if self._server is not None:
            return self
        self._closing.clear()
        server = _Server((self._host, 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()  # wakes handlers sleeping in latency / timeout faults
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:  # kept-alive connections must not outlive the server
            conns, self._connections = list(self._connections), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeBybit:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeBybit is not started (use it as a context manager)")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ------------------------------------------------------------------ clock and prices

    @property
    def now_ms(self) -> int:
        return self._now

    @now_ms.setter
    def now_ms(self, value: int) -> None:
        self.set_now(value)

    def set_now(self, now: int | str | datetime | pd.Timestamp) -> None:
        """Move the server clock. Price overrides are cleared (prices follow the data again).

        Moving forward walks the 1h bars that closed in between (path open->low->high->close
        for an up bar, open->high->low->close otherwise): resting triggers and limits fill at
        their level (or at the bar open when it gapped through), and positions pay/receive
        funding at every funding timestamp of the funding data that is crossed.
        """
        new = _to_ms(now)
        with self._lock:
            old = self._now
            before = {sid: self._price(sid) for sid in self._active_symbols()}
            self._now = new
            self._price_override.clear()
            if new > old:
                self._walk(old, new, before)
            for sid in self._active_symbols():
                price = self._price(sid)
                if price is not None:
                    self._evaluate_segment(sid, price, price, at_level=False)

    def advance(self, ms: int) -> None:
        self.set_now(self._now + int(ms))

    def set_price(self, symbol: str, price: float) -> None:
        """Override the current price of `symbol` (until the next `set_now`).

        Resting orders crossed by the move fill at `price`; limit orders at their limit.
        """
        sid = bybit_id(symbol)
        with self._lock:
            old = self._price(sid)
            self._price_override[sid] = float(price)
            new = self._price(sid)  # on the tick grid, like any real fill
            assert new is not None
            self._evaluate_segment(sid, new if old is None else old, new, at_level=False)

    def clear_price(self, symbol: str | None = None) -> None:
        with self._lock:
            if symbol is None:
                self._price_override.clear()
            else:
                self._price_override.pop(symbol, None)

    def price(self, symbol: str) -> float | None:
        """The current (last traded) price the fake uses for `symbol`, on the tick grid."""
        with self._lock:
            return self._price(bybit_id(symbol))

    # ------------------------------------------------------------------ scripting hooks

    def fail(
        self, path_prefix: str, kind: FaultKind | str, times: int | None = 1, skip: int = 0
    ) -> None:
        """Make the next `times` requests whose path starts with `path_prefix` fail (after
        letting the first `skip` of them through).

        Kinds: "429" (HTTP 429), "403" (HTTP 403 "access too frequent", Bybit's IP limit),
        "10006" (HTTP 200, retCode 10006 "Too many visits!", Bybit's per-UID limit), "500",
        "502", "503", "504", "timeout" (hold `timeout_hold_s`, then drop the connection),
        "malformed" (HTTP 200 with a truncated JSON body), "reset" (drop the connection at
        once), "timeout_after_apply" (apply the request, e.g. create the order, then behave
        like "timeout"). `times=None` keeps failing until `clear_faults()`.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        with self._lock:
            self._faults.append(_Fault(path_prefix, kind, times, skip))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reject_next_order(
        self,
        ret_code: int = 110007,
        msg: str = "ab not enough for new order",
        *,
        applied: bool = False,
    ) -> None:
        """The next /v5/order/create answers this Bybit error and creates nothing.

        `applied=True`: the order is created (and a market order filled) all the same, and
        only then is the error answered (an ambiguous answer such as 10016 "internal error").
        """
        with self._lock:
            if applied:
                self._error_after_create.append((ret_code, msg))
            else:
                self._reject_next.append((ret_code, msg))

    def defer_next_order(self, looks: int | None = None) -> None:
        """The next created market order stays `New` (nothing filled) like an order Bybit has
        accepted but not processed yet: for the next `looks` look-ups of it by id
        (/v5/order/realtime, /v5/order/history), processed at the one after; `None`: until
        `process_deferred()`."""
        with self._lock:
            self._defer_next.append(looks)

    def process_deferred(self) -> None:
        """Process every deferred market order now (fill it at the current price)."""
        with self._lock:
            for oid in list(self._deferred):
                self._run_deferred(oid)

    def hide_order_link_id(self, order_link_id: str, looks: int) -> None:
        """The next `looks` look-ups of this orderLinkId (/v5/order/realtime or /history)
        answer an empty list, as when Bybit's order views lag behind the matching engine.
        Meanwhile the order is missing from the list views too (open orders by symbol or
        settle coin, the history), which do not count as look-ups. The order itself exists:
        it rests, triggers, fills, and a create with its orderLinkId answers 110072;
        `looks=0` ends the lag."""
        with self._lock:
            self._hidden_links[order_link_id] = int(looks)

    def partial_fill_next_order(self, fraction: float) -> None:
        """The next created order fills only `fraction` of its qty at its first fill.

        A market order then ends PartiallyFilledCanceled (Bybit market orders are IOC); a
        limit order stays PartiallyFilled with the rest resting.
        """
        if not 0 < fraction <= 1:
            raise ValueError("fraction must be in (0, 1]")
        with self._lock:
            self._partial_next.append(float(fraction))

    def inject_position(
        self,
        symbol: str,
        side: Literal["Buy", "Sell", "long", "short"],
        size: float,
        avg_price: float,
        *,
        leverage: float | None = None,
    ) -> FakePosition:
        """Create an open position directly (e.g. one the bot's database does not know)."""
        sid = bybit_id(symbol)
        wire_side = {"long": "Buy", "short": "Sell"}.get(side, side)
        with self._lock:
            self._spec(sid)
            pos = self._position(sid)
            if leverage is not None:
                pos.leverage = float(leverage)
            pos.side, pos.size, pos.avg_price = wire_side, float(size), float(avg_price)
            pos.cur_realised_pnl = 0.0
            pos.created_ms = pos.updated_ms = self._stamp()
            pos.seq = next(self._seq)
            return pos

    def inject_order(
        self,
        symbol: str,
        side: Literal["Buy", "Sell"],
        qty: float,
        *,
        order_type: Literal["Market", "Limit"] = "Market",
        price: float | None = None,
        trigger_price: float | None = None,
        trigger_direction: int | None = None,
        reduce_only: bool = False,
        order_link_id: str | None = None,
    ) -> FakeOrder:
        """Place an order directly, with the same rules as /v5/order/create.

        With `trigger_price` it rests Untriggered; `trigger_direction` defaults to the side
        of the current price the trigger lies on.
        """
        params: dict[str, Any] = {
            "category": "linear",
            "symbol": bybit_id(symbol),
            "side": side,
            "orderType": order_type,
            "qty": str(qty),
            "reduceOnly": reduce_only,
        }
        if price is not None:
            params["price"] = str(price)
        if order_link_id is not None:
            params["orderLinkId"] = order_link_id
        with self._lock:
            if trigger_price is not None:
                params["triggerPrice"] = str(trigger_price)
                if trigger_direction is None:
                    current = self._price(bybit_id(symbol)) or trigger_price
                    trigger_direction = 1 if trigger_price > current else 2
                params["triggerDirection"] = trigger_direction
            try:
                result = self._create_order(params)
            except _ApiError as exc:
                raise ValueError(f"order refused: {exc.code} {exc.msg}") from exc
            return self.orders[result["orderId"]]

    # ------------------------------------------------------------------ introspection

    def position(self, symbol: str) -> FakePosition | None:
        """The open position of `symbol`, None when flat."""
        with self._lock:
            pos = self.positions.get(symbol)
            return pos if pos is not None and pos.size > 0 else None

    def open_orders(self, symbol: str | None = None) -> list[FakeOrder]:
        with self._lock:
            return [
                o
                for o in self.orders.values()
                if o.is_open and (symbol is None or o.symbol == bybit_id(symbol))
            ]

    def order_by_link_id(self, order_link_id: str) -> FakeOrder | None:
        with self._lock:
            return next((o for o in self.orders.values() if o.order_link_id == order_link_id), None)

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path == path and (method is None or r.method == method)
            ]

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()
            self.unknown_paths.clear()
            self.max_in_flight = self._in_flight

    # ------------------------------------------------------------------ data loading

    @staticmethod
    def _bars_from_frame(df: pd.DataFrame) -> _Bars:
        frame = df.sort_index()
        frame = frame[~frame.index.duplicated(keep="last")]
        cols = {c.lower(): c for c in frame.columns}
        missing = {"open", "high", "low", "close", "volume"} - set(cols)
        if missing:
            raise ValueError(f"candle frame lacks columns {sorted(missing)}")

        def col(name: str) -> np.ndarray:
            return frame[cols[name]].to_numpy(dtype=np.float64)

        return _Bars(
            _index_ms(frame.index),
            col("open"),
            col("high"),
            col("low"),
            col("close"),
            col("volume"),
        )

    @staticmethod
    def _points_from_frame(df: pd.DataFrame, names: Iterable[str]) -> _Points:
        frame = df.sort_index()
        name = next((n for n in names if n in frame.columns), frame.columns[0])
        return _Points(_index_ms(frame.index), frame[name].to_numpy(dtype=np.float64))

    def _oi_from_frame(self, sid: str, df: pd.DataFrame) -> _Points:
        """Open interest in base coin (Bybit's unit for linear); USD values use the 1h close."""
        frame = df.sort_index()
        ts = _index_ms(frame.index)
        if "open_interest" in frame.columns:
            return _Points(ts, frame["open_interest"].to_numpy(dtype=np.float64))
        usd_col = next(
            (c for c in ("open_interest_value_usd", "openInterestValue") if c in frame.columns),
            frame.columns[0],
        )
        usd = frame[usd_col].to_numpy(dtype=np.float64)
        bars = self._bars.get(sid)
        base = np.full(len(ts), np.nan)
        if bars is not None and len(bars.ts):
            # price at ts = close of the last bar that closed at or before ts
            idx = np.searchsorted(bars.ts, ts - HOUR_MS, side="right") - 1
            ok = idx >= 0
            base[ok] = usd[ok] / bars.close[idx[ok]]
        keep = ~np.isnan(base)
        return _Points(ts[keep], base[keep])

    # ------------------------------------------------------------------ market data core

    def _spec(self, sid: str) -> InstrumentSpec:
        spec = self._instruments.get(sid)
        if spec is None:
            raise _ApiError(10001, "params error: symbol invalid")
        return spec

    def _visible(self, sid: str) -> tuple[int, bool]:
        """(number of visible 1h bars, whether the last visible one is still forming)."""
        bars = self._bars.get(sid)
        if bars is None:
            return 0, False
        n = int(np.searchsorted(bars.ts, self._now, side="right"))
        forming = n > 0 and int(bars.ts[n - 1]) + HOUR_MS > self._now
        if forming and self.forming_bar == "exclude":
            return n - 1, False
        return n, forming

    def _window(self, sid: str, lo: int, hi: int) -> _Bars:
        """Visible bars [lo, hi) with the forming-bar policy applied to the newest one."""
        bars = self._bars[sid]
        n, forming = self._visible(sid)
        hi = min(hi, n)
        cut = _Bars(*(a[lo:hi] for a in bars))
        if forming and hi == n and hi > lo and self.forming_bar == "open":
            o = cut.open[-1]
            high, low, close, vol = (a.copy() for a in (cut.high, cut.low, cut.close, cut.volume))
            high[-1] = low[-1] = close[-1] = o
            vol[-1] = 0.0
            cut = _Bars(cut.ts, cut.open, high, low, close, vol)
        return cut

    def _raw_price(self, sid: str) -> float | None:
        if sid in self._price_override:
            return self._price_override[sid]
        n, forming = self._visible(sid)
        if n == 0:
            return None
        bars = self._bars[sid]
        if forming and self.forming_bar == "open":
            return float(bars.open[n - 1])
        return float(bars.close[n - 1])

    def _price(self, sid: str) -> float | None:
        raw = self._raw_price(sid)
        if raw is None:
            return None
        spec = self._instruments.get(sid)
        return float(_quantize(raw, spec.tick_size)) if spec else raw

    def _price_at(self, sid: str, t: int) -> float | None:
        """Close of the last 1h bar that closed at or before t."""
        bars = self._bars.get(sid)
        if bars is None:
            return None
        i = int(np.searchsorted(bars.ts, t - HOUR_MS, side="right")) - 1
        return float(bars.close[i]) if i >= 0 else None

    @staticmethod
    def _bucket(ts: np.ndarray, interval: str) -> np.ndarray:
        width = _KLINE_WIDTH[interval]
        if width is None:
            months = ts.astype("datetime64[ms]").astype("datetime64[M]")
            return months.astype("datetime64[ms]").astype(np.int64)
        if interval == "W":
            return (ts - _MONDAY_OFFSET_MS) // width * width + _MONDAY_OFFSET_MS
        return ts // width * width

    def _aggregate(self, sid: str, lo: int, hi: int, interval: str) -> _Bars:
        w = self._window(sid, lo, hi)
        if len(w.ts) == 0:
            return w
        b = self._bucket(w.ts, interval)
        starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
        ends = np.r_[starts[1:], len(b)] - 1
        return _Bars(
            b[starts],
            w.open[starts],
            np.maximum.reduceat(w.high, starts),
            np.minimum.reduceat(w.low, starts),
            w.close[ends],
            np.add.reduceat(w.volume, starts),
        )

    def _klines(
        self, sid: str, interval: str, start: int | None, end: int | None, limit: int
    ) -> _Bars:
        """Aggregated bars, ascending; Bybit semantics for start/end/limit."""
        bars = self._bars.get(sid)
        n, _ = self._visible(sid)
        if bars is None or n == 0:
            return _Bars(*(np.array([]) for _ in range(6)))
        width = _KLINE_WIDTH[interval]
        span = width if width is not None else 31 * DAY_MS  # upper bound of one bucket
        last_open = int(bars.ts[n - 1])
        first = 0
        if start is not None:
            first = int(self._bucket(np.array([start], dtype=np.int64), interval)[0])
            lo = int(np.searchsorted(bars.ts, first, side="left"))
            hi = int(np.searchsorted(bars.ts, first + (limit + 1) * span, side="left"))
        else:
            top = min(end, last_open) if end is not None else last_open
            top_bucket = int(self._bucket(np.array([top], dtype=np.int64), interval)[0])
            lo = int(np.searchsorted(bars.ts, top_bucket - (limit + 1) * span, side="left"))
            hi = int(np.searchsorted(bars.ts, top_bucket + span, side="left"))
        agg = self._aggregate(sid, lo, min(hi, n), interval)
        keep = np.ones(len(agg.ts), dtype=bool)
        if start is not None:
            keep &= agg.ts >= first
        if end is not None:
            keep &= agg.ts <= end
        sel = np.flatnonzero(keep)
        sel = sel[:limit] if start is not None else sel[-limit:]
        return _Bars(*(a[sel] for a in agg))

    def _ticker(self, sid: str) -> dict[str, Any] | None:
        price = self._price(sid)
        if price is None:
            return None
        spec = self._instruments[sid]
        ps = spec.price_scale
        now = self._now
        n, _ = self._visible(sid)
        prev24 = prev1h = price
        high24 = low24 = price
        vol24 = turnover24 = 0.0
        if n:
            bars = self._bars[sid]
            lo = int(np.searchsorted(bars.ts, now - DAY_MS, side="right"))
            w = self._window(sid, lo, n)
            if len(w.ts):
                prev24 = float(w.open[0])
                high24 = max(float(w.high.max()), price)
                low24 = min(float(w.low.min()), price)
                vol24 = float(w.volume.sum())
                turnover24 = float((w.volume * (w.open + w.high + w.low + w.close) / 4).sum())
            i1 = int(np.searchsorted(bars.ts, now - HOUR_MS, side="right")) - 1
            if i1 >= 0:
                prev1h = float(bars.open[i1])
        spread = self.spread_pct.get(sid, self.default_spread_pct)
        bid, ask = self._bid_ask(spec, price, spread)
        depth = max(float(spec.min_qty), 50_000.0 / price)
        size = _fixed(float(_quantize(depth, spec.qty_step)), spec.qty_decimals)
        rate = self._funding_rate(sid)
        oi = self._latest_oi(sid)
        next_funding = (now // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS
        return {
            "symbol": sid,
            "lastPrice": _fixed(price, ps),
            "indexPrice": _fixed(price, ps),
            "markPrice": _fixed(price, ps),
            "prevPrice24h": _fixed(prev24, ps),
            "price24hPcnt": _fixed(price / prev24 - 1 if prev24 else 0.0, 6),
            "highPrice24h": _fixed(high24, ps),
            "lowPrice24h": _fixed(low24, ps),
            "prevPrice1h": _fixed(prev1h, ps),
            # Must never be empty: ccxt treats a ticker without openInterestValue as spot.
            "openInterest": _fixed(oi, 8) if oi is not None else "0",
            "openInterestValue": _fixed(oi * price, 2) if oi is not None else "0",
            "turnover24h": _fixed(turnover24, 4),
            "volume24h": _num(vol24),
            "fundingRate": _num(rate) if rate is not None else "",
            "nextFundingTime": str(next_funding),
            "predictedDeliveryPrice": "",
            "basisRate": "",
            "deliveryFeeRate": "",
            "deliveryTime": "0",
            "ask1Size": size,
            "bid1Price": str(bid),
            "ask1Price": str(ask),
            "bid1Size": size,
            "basis": "",
            "preOpenPrice": "",
            "preQty": "",
            "curPreListingPhase": "",
            "fundingIntervalHour": str(spec.funding_interval_min // 60),
            "fundingCap": "0.005",
            "basisRateYear": "",
        }

    @staticmethod
    def _bid_ask(spec: InstrumentSpec, price: float, spread_pct: float) -> tuple[Decimal, Decimal]:
        tick = Decimal(spec.tick_size)
        half = Decimal(repr(float(spread_pct))) / Decimal(200)
        p = Decimal(repr(float(price)))
        bid = (p * (1 - half) / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
        ask = (p * (1 + half) / tick).to_integral_value(rounding=ROUND_CEILING) * tick
        if ask <= bid:
            ask = bid + tick
        return bid, ask

    def _funding_rate(self, sid: str) -> float | None:
        if sid in self.funding_rate_override:
            return self.funding_rate_override[sid]
        pts = self._funding.get(sid)
        if pts is None:
            return None
        i = int(np.searchsorted(pts.ts, self._now, side="right")) - 1
        return float(pts.value[i]) if i >= 0 else None

    def _latest_oi(self, sid: str) -> float | None:
        pts = self._oi.get(sid)
        if pts is None:
            return None
        i = int(np.searchsorted(pts.ts, self._now, side="right")) - 1
        return float(pts.value[i]) if i >= 0 else None

    # ------------------------------------------------------------------ request handling

    def _serve(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        path = split.path
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body: dict[str, Any] = {}
        bad_json = False
        if raw:
            try:
                parsed = json.loads(raw)
                body = parsed if isinstance(parsed, dict) else {}
            except ValueError:
                bad_json = True
        with self._lock:
            self.requests.append(
                RecordedRequest(time.monotonic(), handler.command, path, query, body)
            )
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.latency_s > 0:
                self._closing.wait(self.latency_s)
            if self._over_limit(self._ip_window, self.ip_limit):
                with self._lock:
                    self.ip_limit_hits += 1
                self._emit_fault(handler, "403")
                return
            fault = self._take_fault(path)
            if fault is not None and fault != "timeout_after_apply":
                self._emit_fault(handler, fault)
                return
            if path == "/v5/order/create" and self._over_limit(
                self._order_window, self.order_rate_limit
            ):
                with self._lock:
                    self.order_limit_hits += 1
                self._emit_fault(handler, "10006")
                return
            try:
                reply = self._dispatch(handler, path, split.query, query, body, raw, bad_json)
            except Exception:  # a bug in the fake: make it loud, not a dropped connection
                trace = traceback.format_exc()
                with self._lock:
                    self.errors.append(trace)
                reply = _Reply(500, trace.encode(), "text/plain")
            if fault == "timeout_after_apply":
                self._drop(handler, hold=True)
                return
            self._write(handler, reply)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True  # the client went away (e.g. it timed out)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _over_limit(self, window: deque[float], limit: tuple[int, float] | None) -> bool:
        """Sliding-window counter; the refused request does not count."""
        if limit is None:
            return False
        count, seconds = limit
        now = time.monotonic()
        with self._lock:
            while window and window[0] <= now - seconds:
                window.popleft()
            if len(window) >= count:
                return True
            window.append(now)
            return False

    def _take_fault(self, path: str) -> str | None:
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.prefix):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault.kind
        return None

    def _emit_fault(self, handler: _Handler, kind: str) -> None:
        text = "text/html"
        if kind == "429":
            self._write(handler, _Reply(429, b"Too Many Requests", "text/plain"))
        elif kind == "403":
            # Bybit's IP rate limit: plain 403, no JSON envelope.
            self._write(handler, _Reply(403, b"access too frequent", "text/plain"))
        elif kind == "10006":
            reply = self._json(self._envelope(10006, "Too many visits!", {}))
            reset = int(time.time() * 1000) + 1000
            reply.headers.update(
                {
                    "X-Bapi-Limit": "10",
                    "X-Bapi-Limit-Status": "0",
                    "X-Bapi-Limit-Reset-Timestamp": str(reset),
                }
            )
            self._write(handler, reply)
        elif kind in {"500", "502", "503", "504"}:
            reason = {
                "500": "Internal Server Error",
                "502": "Bad Gateway",
                "503": "Service Unavailable",
                "504": "Gateway Timeout",
            }[kind]
            page = f"<html><head><title>{kind} {reason}</title></head><body>{reason}</body></html>"
            self._write(handler, _Reply(int(kind), page.encode(), text))
        elif kind == "malformed":
            # A body cut mid-way, as when a proxy truncates the upstream answer.
            cut = b'{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[["17'
            self._write(handler, _Reply(200, cut))
        elif kind == "timeout":
            self._drop(handler, hold=True)
        elif kind == "reset":
            self._drop(handler, hold=False)

    def _drop(self, handler: _Handler, *, hold: bool) -> None:
        if hold:
            self._closing.wait(self.timeout_hold_s)
        handler.close_connection = True  # no response at all: the socket is just closed

    @staticmethod
    def _write(handler: _Handler, reply: _Reply) -> None:
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(reply.body)))
        for key, value in reply.headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(reply.body)

    def _envelope(self, code: int, msg: str, result: Any) -> dict[str, Any]:
        return {
            "retCode": code,
            "retMsg": msg,
            "result": result,
            "retExtInfo": {},
            "time": self._now,
        }

    @staticmethod
    def _json(payload: dict[str, Any]) -> _Reply:
        return _Reply(200, json.dumps(payload, separators=(",", ":")).encode())

    def _dispatch(
        self,
        handler: _Handler,
        path: str,
        raw_query: str,
        query: dict[str, str],
        body: dict[str, Any],
        raw_body: bytes,
        bad_json: bool,
    ) -> _Reply:
        routes = self._route_table
        route = routes.get((handler.command, path))
        if route is None:
            if any(p == path for _, p in routes):
                return _Reply(405, b"method not allowed", "text/plain")
            with self._lock:
                self.unknown_paths.append(path)
            return _Reply(404, f"fake bybit: no route for {path}".encode(), "text/plain")
        private = path.startswith(_PRIVATE_PREFIXES) or path.startswith("/v5/asset")
        headers: dict[str, str] = {}
        try:
            if private:
                self._authenticate(handler, raw_query if handler.command == "GET" else raw_body)
                headers = {
                    "X-Bapi-Limit": "10",
                    "X-Bapi-Limit-Status": "9",
                    "X-Bapi-Limit-Reset-Timestamp": str(int(time.time() * 1000)),
                }
            if bad_json:
                raise _ApiError(10001, "params error: request body is not valid JSON")
            params = query if handler.command == "GET" else body
            with self._lock:
                result, msg = route(params)
                payload = self._envelope(0, msg, result)
        except _ApiError as exc:
            with self._lock:
                payload = self._envelope(exc.code, exc.msg, exc.result)
        reply = self._json(payload)
        reply.headers.update(headers)
        return reply

    def _authenticate(self, handler: _Handler, payload: str | bytes) -> None:
        key = handler.headers.get("X-BAPI-API-KEY")
        sign = handler.headers.get("X-BAPI-SIGN")
        if not key or not sign:
            raise _ApiError(10003, "API key is invalid.")
        if self.api_secret is None:
            return  # any signature is accepted unless a secret was configured
        stamp = handler.headers.get("X-BAPI-TIMESTAMP", "")
        window = handler.headers.get("X-BAPI-RECV-WINDOW", "")
        text = payload.decode() if isinstance(payload, bytes) else payload
        origin = f"{stamp}{key}{window}{text}"
        expected = hmac.new(self.api_secret.encode(), origin.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sign):
            raise _ApiError(10004, f"error sign! origin_string[{origin}]")

    def _routes(self) -> dict[tuple[str, str], _Route]:
        return {
            ("GET", "/v5/market/time"): self._r_time,
            ("GET", "/v5/market/instruments-info"): self._r_instruments,
            ("GET", "/v5/market/tickers"): self._r_tickers,
            ("GET", "/v5/market/kline"): self._r_kline,
            ("GET", "/v5/market/mark-price-kline"): self._r_price_kline,
            ("GET", "/v5/market/index-price-kline"): self._r_price_kline,
            ("GET", "/v5/market/funding/history"): self._r_funding_history,
            ("GET", "/v5/market/open-interest"): self._r_open_interest,
            ("GET", "/v5/market/orderbook"): self._r_orderbook,
            ("GET", "/v5/user/query-api"): self._r_query_api,
            ("GET", "/v5/account/info"): self._r_account_info,
            ("GET", "/v5/asset/coin/query-info"): self._r_coin_info,
            ("GET", "/v5/account/wallet-balance"): self._r_wallet_balance,
            ("GET", "/v5/account/fee-rate"): self._r_fee_rate,
            ("GET", "/v5/position/list"): self._r_position_list,
            ("GET", "/v5/order/realtime"): self._r_order_realtime,
            ("GET", "/v5/order/history"): self._r_order_history,
            ("GET", "/v5/execution/list"): self._r_execution_list,
            ("POST", "/v5/account/set-margin-mode"): self._r_set_margin_mode,
            ("POST", "/v5/position/set-leverage"): self._r_set_leverage,
            ("POST", "/v5/position/switch-isolated"): self._r_switch_isolated,
            ("POST", "/v5/position/trading-stop"): self._r_trading_stop,
            ("POST", "/v5/order/create"): self._r_order_create,
            ("POST", "/v5/order/cancel"): self._r_order_cancel,
            ("POST", "/v5/order/cancel-all"): self._r_order_cancel_all,
        }

    # ------------------------------------------------------------------ public routes

    @staticmethod
    def _category(params: Mapping[str, Any], *, required: bool = True) -> str:
        category = str(params.get("category") or ("" if required else "linear"))
        if not category:
            raise _ApiError(10001, "params error: category is required")
        return category

    def _linear_symbol(self, params: Mapping[str, Any]) -> str:
        category = self._category(params, required=False)
        if category != "linear":
            raise _ApiError(10001, f"params error: category {category} is not served by the fake")
        sid = str(params.get("symbol") or "")
        if not sid:
            raise _ApiError(10001, "params error: symbol is required")
        if sid not in self._instruments:
            raise _ApiError(10001, "Not supported symbols")
        return sid

    @staticmethod
    def _limit(params: Mapping[str, Any], default: int, maximum: int) -> int:
        limit = _as_int(params.get("limit"), default) or default
        if not 1 <= limit <= maximum:
            raise _ApiError(10001, f"params error: limit must be in [1, {maximum}]")
        return limit

    @staticmethod
    def _page(rows: list[Any], params: Mapping[str, Any], limit: int) -> tuple[list[Any], str]:
        """Opaque cursor pagination ("c<offset>"); empty nextPageCursor at the end."""
        cursor = str(params.get("cursor") or "")
        offset = int(cursor[1:]) if cursor.startswith("c") and cursor[1:].isdigit() else 0
        page = rows[offset : offset + limit]
        more = offset + limit < len(rows)
        return page, f"c{offset + limit}" if more else ""

    def _r_time(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        now = self._now
        return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}, "OK"

    def _r_instruments(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        category = self._category(params)
        limit = self._limit(params, 500, 1000)
        rows: list[dict[str, Any]] = []
        if category == "linear":
            status = str(params.get("status") or "Trading")
            symbol = params.get("symbol")
            base = params.get("baseCoin")
            rows = [
                spec.to_wire()
                for spec in self._instruments.values()
                if spec.status == status
                and (not symbol or spec.symbol == symbol)
                and (not base or spec.base == base)
            ]
        page, cursor = self._page(rows, params, limit)
        return {"category": category, "list": page, "nextPageCursor": cursor}, "OK"

    def _r_tickers(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        category = self._category(params)
        rows: list[dict[str, Any]] = []
        if category == "linear":
            symbol = params.get("symbol")
            if symbol and symbol not in self._instruments:
                raise _ApiError(10001, "Not supported symbols")
            sids = [str(symbol)] if symbol else list(self._instruments)
            rows = [t for t in (self._ticker(s) for s in sids) if t is not None]
        return {"category": category, "list": rows}, "OK"

    def _kline_params(
        self, params: Mapping[str, Any]
    ) -> tuple[str, str, int | None, int | None, int]:
        sid = self._linear_symbol(params)
        interval = str(params.get("interval") or "")
        if interval not in _KLINE_WIDTH:
            raise _ApiError(10001, f"params error: interval {interval!r} not served (1h data)")
        start, end = _as_int(params.get("start")), _as_int(params.get("end"))
        return sid, interval, start, end, self._limit(params, 200, 1000)

    def _r_kline(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        sid, interval, start, end, limit = self._kline_params(params)
        k = self._klines(sid, interval, start, end, limit)
        turnover = k.volume * (k.open + k.high + k.low + k.close) / 4
        rows = [
            [str(int(t)), _num(o), _num(h), _num(lo), _num(c), _num(v), _fixed(q, 4)]
            for t, o, h, lo, c, v, q in zip(
                k.ts, k.open, k.high, k.low, k.close, k.volume, turnover, strict=True
            )
        ]
        rows.reverse()  # Bybit lists klines newest first
        return {"symbol": sid, "category": "linear", "list": rows}, "OK"

    def _r_price_kline(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        # Mark/index klines: the data has one price series, so they equal the trade klines.
        sid, interval, start, end, limit = self._kline_params(params)
        k = self._klines(sid, interval, start, end, limit)
        rows = [
            [str(int(t)), _num(o), _num(h), _num(lo), _num(c)]
            for t, o, h, lo, c in zip(k.ts, k.open, k.high, k.low, k.close, strict=True)
        ]
        rows.reverse()
        return {"symbol": sid, "category": "linear", "list": rows}, "OK"

    def _r_funding_history(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        sid = self._linear_symbol(params)
        limit = self._limit(params, 200, 200)
        start, end = _as_int(params.get("startTime")), _as_int(params.get("endTime"))
        if start is not None and end is None:
            # Documented: "Passing only startTime returns an error."
            raise _ApiError(10001, "params error: endTime is required when startTime is passed")
        rows: list[dict[str, str]] = []
        pts = self._funding.get(sid)
        if pts is not None:
            top = min(end, self._now) if end is not None else self._now
            hi = int(np.searchsorted(pts.ts, top, side="right"))
            lo = int(np.searchsorted(pts.ts, start, side="left")) if start is not None else 0
            lo = max(lo, hi - limit)
            rows = [
                {
                    "symbol": sid,
                    "fundingRate": _num(float(pts.value[i])),
                    "fundingRateTimestamp": str(int(pts.ts[i])),
                }
                for i in range(hi - 1, lo - 1, -1)
            ]
        return {"category": "linear", "list": rows}, "OK"

    def _r_open_interest(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        sid = self._linear_symbol(params)
        interval = str(params.get("intervalTime") or "")
        if interval not in _OI_WIDTH:
            raise _ApiError(10001, "params error: intervalTime invalid")
        limit = self._limit(params, 50, 200)
        start, end = _as_int(params.get("startTime")), _as_int(params.get("endTime"))
        rows: list[dict[str, str]] = []
        pts = self._oi.get(sid)
        if pts is not None and len(pts.ts):
            top = min(end, self._now) if end is not None else self._now
            keep = pts.ts <= top
            if start is not None and end is not None:  # a lone startTime is ignored
                keep &= pts.ts >= start
            ts, val = pts.ts[keep], pts.value[keep]
            width = _OI_WIDTH[interval]
            bucket = ts // width * width
            last = np.flatnonzero(np.r_[bucket[1:] != bucket[:-1], True])  # last point per bucket
            rows = [
                {"openInterest": _fixed(float(val[i]), 8), "timestamp": str(int(bucket[i]))}
                for i in last[::-1]
            ]
        page, cursor = self._page(rows, params, limit)
        return {"symbol": sid, "category": "linear", "list": page, "nextPageCursor": cursor}, "OK"

    def _r_orderbook(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        sid = self._linear_symbol(params)
        limit = self._limit(params, 25, 500)
        spec = self._instruments[sid]
        price = self._price(sid)
        bids: list[list[str]] = []
        asks: list[list[str]] = []
        if price is not None:
            bid, ask = self._bid_ask(spec, price, self.spread_pct.get(sid, self.default_spread_pct))
            tick = Decimal(spec.tick_size)
            size = _fixed(
                float(_quantize(max(float(spec.min_qty), 50_000 / price), spec.qty_step)),
                spec.qty_decimals,
            )
            bids = [[str(bid - k * tick), size] for k in range(min(limit, 5))]
            asks = [[str(ask + k * tick), size] for k in range(min(limit, 5))]
        return {
            "s": sid,
            "b": bids,
            "a": asks,
            "ts": self._now,
            "u": 1,
            "seq": 1,
            "cts": self._now,
        }, "OK"

    # ------------------------------------------------------------------ account routes

    def _r_query_api(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        return {
            "id": "1",
            "note": "fake",
            "apiKey": "fake",
            "readOnly": 0,
            "secret": "",
            "permissions": {
                "ContractTrade": ["Order", "Position"],
                "Spot": [],
                "Wallet": ["AccountTransfer"],
                "Options": [],
                "Derivatives": [],
                "CopyTrading": [],
                "BlockTrade": [],
                "Exchange": [],
                "NFT": [],
            },
            "ips": ["*"],
            "type": 1,
            "deadlineDay": 90,
            "expiredAt": "",
            "createdAt": "",
            "unified": 0,
            "uta": 1 if self.unified else 0,
            "userID": 1,
            "inviterID": 0,
            "vipLevel": "No VIP",
            "mktMakerLevel": "0",
            "affiliateID": 0,
            "rsaPublicKey": "",
            "isMaster": True,
            "parentUid": "0",
            "kycLevel": "LEVEL_1",
            "kycRegion": "",
        }, ""

    def _r_account_info(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        return {
            "marginMode": self.margin_mode,
            "updatedTime": str(self._now),
            "unifiedMarginStatus": 6 if self.unified else 1,
            "dcpStatus": "OFF",
            "timeWindow": 10,
            "smpGroup": 0,
            "isMasterTrader": False,
            "spotHedgingStatus": "OFF",
        }, "OK"

    def _r_coin_info(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        coins = ["USDT", *sorted({s.base for s in self._instruments.values()})]
        rows = [{"name": c, "coin": c, "remainAmount": "1000000", "chains": []} for c in coins]
        return {"rows": rows}, ""

    def _account_totals(self) -> dict[str, float]:
        upl = im = mm = 0.0
        for pos in self.positions.values():
            if pos.size:
                mark = self._price(pos.symbol) or pos.avg_price
                upl += pos.unrealised(mark)
                im += pos.initial_margin()
                mm += pos.size * mark * _MMR
        order_im = sum(
            o.leaves_qty * o.price / self._position(o.symbol).leverage
            for o in self.orders.values()
            if o.is_open and not o.is_conditional and not o.reduce_only and o.price
        )
        equity = self.wallet_balance + upl
        available = self.wallet_balance + min(upl, 0.0) - im - order_im
        return {
            "upl": upl,
            "im": im,
            "mm": mm,
            "order_im": order_im,
            "equity": equity,
            "available": available,
        }

    def _r_wallet_balance(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        account_type = "UNIFIED" if self.unified else "CONTRACT"
        if params.get("accountType") not in (account_type, None, ""):
            raise _ApiError(10001, f"accountType only support {account_type}")
        t = self._account_totals()
        cum = sum(p.cum_realised_pnl for p in self.positions.values())
        equity = t["equity"]
        coin = {
            "availableToBorrow": "",
            "bonus": "0",
            "accruedInterest": "0",
            "availableToWithdraw": _money(max(t["available"], 0.0)),
            "totalOrderIM": _money(t["order_im"]),
            "equity": _money(equity),
            "totalPositionMM": _money(t["mm"]),
            "usdValue": _money(equity),
            "unrealisedPnl": _money(t["upl"]),
            "collateralSwitch": True,
            "spotHedgingQty": "0",
            "borrowAmount": "0",
            "totalPositionIM": _money(t["im"]),
            "walletBalance": _money(self.wallet_balance),
            "cumRealisedPnl": _money(cum),
            "locked": "0",
            "marginCollateral": True,
            "coin": "USDT",
        }
        coins = [coin] if params.get("coin") in (None, "", "USDT") else []
        return {
            "list": [
                {
                    "totalEquity": _money(equity),
                    "accountIMRate": _fixed(t["im"] / equity if equity > 0 else 0.0, 4),
                    "totalMarginBalance": _money(equity),
                    "totalInitialMargin": _money(t["im"]),
                    "accountType": account_type,
                    "totalAvailableBalance": _money(t["available"]),
                    "accountMMRate": _fixed(t["mm"] / equity if equity > 0 else 0.0, 4),
                    "totalPerpUPL": _money(t["upl"]),
                    "totalWalletBalance": _money(self.wallet_balance),
                    "accountLTV": "0",
                    "totalMaintenanceMargin": _money(t["mm"]),
                    "coin": coins,
                }
            ]
        }, "OK"

    def _r_fee_rate(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        symbol = params.get("symbol")
        sids = [str(symbol)] if symbol else list(self._instruments)
        rows = [
            {
                "symbol": s,
                "takerFeeRate": _num(self.taker_fee),
                "makerFeeRate": _num(self.maker_fee),
                "baseCoin": "",
            }
            for s in sids
        ]
        return {"list": rows}, "OK"

    def _r_set_margin_mode(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        mode = str(params.get("setMarginMode") or "")
        if mode not in {"ISOLATED_MARGIN", "REGULAR_MARGIN", "PORTFOLIO_MARGIN"}:
            raise _ApiError(10001, "params error: setMarginMode invalid")
        if not self.unified:
            raise _ApiError(10001, "setMarginMode is only for unified accounts")
        busy = any(p.size for p in self.positions.values()) or any(
            o.is_open for o in self.orders.values()
        )
        if mode != self.margin_mode and busy:
            reasons = [
                {
                    "reasonCode": "3400045",
                    "reasonMsg": "Please close all positions and orders first",
                }
            ]
            raise _ApiError(3400045, "Set margin mode failed", {"reasons": reasons})
        self.margin_mode = mode
        return {"reasons": []}, "Request accepted"

    def _leverage_param(self, sid: str, params: Mapping[str, Any]) -> float:
        spec = self._spec(sid)
        buy, sell = _as_float(params.get("buyLeverage")), _as_float(params.get("sellLeverage"))
        if buy is None or sell is None:
            raise _ApiError(10001, "params error: buyLeverage and sellLeverage are required")
        if buy != sell:
            raise _ApiError(10001, "buyLeverage must equal sellLeverage in one-way mode")
        if not float(spec.min_leverage) <= buy <= float(spec.max_leverage):
            raise _ApiError(10001, f"leverage invalid: must be in [1, {spec.max_leverage}]")
        return buy

    def _r_set_leverage(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        sid = self._linear_symbol(params)
        leverage = self._leverage_param(sid, params)
        pos = self._position(sid)
        if leverage == pos.leverage:
            raise _ApiError(110043, "leverage not modified")
        pos.leverage = leverage
        pos.updated_ms = self._stamp()
        return {}, "OK"

    def _r_switch_isolated(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        sid = self._linear_symbol(params)
        if self.unified:
            # UTA 2.0 sets the margin mode per account (/v5/account/set-margin-mode).
            raise _ApiError(100028, "The API cannot be accessed by unified account users.")
        isolated = _as_int(params.get("tradeMode")) == 1
        leverage = self._leverage_param(sid, params)
        pos = self._position(sid)
        if pos.isolated == isolated:
            raise _ApiError(110026, "Cross/isolated margin mode is not modified")
        pos.isolated, pos.leverage = isolated, leverage
        return {}, "OK"

    def _isolated(self, pos: FakePosition) -> bool:
        return self.margin_mode == "ISOLATED_MARGIN" if self.unified else pos.isolated

    def _position_wire(self, pos: FakePosition) -> dict[str, Any]:
        spec = self._instruments[pos.symbol]
        ps, qd = spec.price_scale, spec.qty_decimals
        mark = self._price(pos.symbol) or pos.avg_price
        liq, bust = pos.liq_and_bust()
        value = pos.size * pos.avg_price
        tpsl = {
            o.stop_order_type: o.trigger_price
            for o in self.orders.values()
            if o.symbol == pos.symbol and o.is_open and o.tpsl_mode == "Full"
        }
        return {
            "positionIdx": 0,
            "riskId": 1,
            "riskLimitValue": "2000000",
            "symbol": pos.symbol,
            "side": pos.side if pos.size else "",
            "size": _fixed(pos.size, qd),
            "avgPrice": _num(pos.avg_price) if pos.size else "0",
            "positionValue": _money(value),
            "tradeMode": 1 if self._isolated(pos) else 0,
            "positionStatus": "Normal",
            "autoAddMargin": 0,
            "adlRankIndicator": 2 if pos.size else 0,
            "leverage": _num(pos.leverage),
            "positionBalance": _money(pos.initial_margin()),
            "markPrice": _fixed(mark, ps),
            "liqPrice": _fixed(liq, ps) if pos.size else "",
            "bustPrice": _fixed(bust, ps) if pos.size else "",
            "positionMM": _money(pos.size * mark * _MMR),
            "positionIM": _money(pos.initial_margin()),
            "tpslMode": "Full",
            "takeProfit": _fixed(tpsl.get("TakeProfit", 0.0), ps),
            "stopLoss": _fixed(tpsl.get("StopLoss", 0.0), ps),
            "trailingStop": _fixed(0.0, ps),
            "sessionAvgPrice": "",
            "unrealisedPnl": _money(pos.unrealised(mark)),
            "curRealisedPnl": _money(pos.cur_realised_pnl),
            "cumRealisedPnl": _money(pos.cum_realised_pnl),
            "seq": pos.seq,
            "isReduceOnly": False,
            "mmrSysUpdatedTime": "",
            "leverageSysUpdatedTime": "",
            "createdTime": str(pos.created_ms),
            "updatedTime": str(pos.updated_ms),
        }

    def _r_position_list(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        if self._category(params) != "linear":
            raise _ApiError(10001, "params error: only category=linear is served by the fake")
        symbol, settle, base = (
            params.get("symbol"),
            params.get("settleCoin"),
            params.get("baseCoin"),
        )
        limit = self._limit(params, 20, 200)
        if symbol:
            self._spec(str(symbol))
            rows = [self._position_wire(self._position(str(symbol)))]
        elif settle or base:
            rows = [
                self._position_wire(p)
                for p in self.positions.values()
                if p.size
                and (not base or self._instruments[p.symbol].base == base)
                and (not settle or settle == "USDT")
            ]
        else:
            raise _ApiError(
                10001,
                "Missing some parameters that must be filled in, symbol or settleCoin or baseCoin",
            )
        page, cursor = self._page(rows, params, limit)
        return {"list": page, "nextPageCursor": cursor, "category": "linear"}, "OK"

    # ------------------------------------------------------------------ order routes

    def _orders_matching(self, params: Mapping[str, Any]) -> list[FakeOrder]:
        if self._category(params) != "linear":
            raise _ApiError(10001, "params error: only category=linear is served by the fake")
        order_id, link_id = params.get("orderId"), params.get("orderLinkId")
        symbol, base, settle = (
            params.get("symbol"),
            params.get("baseCoin"),
            params.get("settleCoin"),
        )
        if not (order_id or link_id or symbol or base or settle):
            raise _ApiError(
                10001,
                "Missing some parameters that must be filled in, symbol or settleCoin or baseCoin",
            )
        flt = params.get("orderFilter")
        out = []
        for o in self.orders.values():
            if order_id:
                if o.order_id != order_id:
                    continue
            elif link_id:
                if o.order_link_id != link_id:
                    continue
            elif (symbol and o.symbol != symbol) or (
                base and self._instruments[o.symbol].base != base
            ):
                continue
            if flt == "Order" and o.is_conditional:
                continue
            if flt == "StopOrder" and not o.is_conditional:
                continue
            if flt == "tpslOrder" and o.stop_order_type not in _TPSL_TYPES:
                continue
            out.append(o)
        out.sort(key=lambda o: o.created_ms, reverse=True)  # stable: same ms keeps order
        return out

    def _order_rows(self, orders: list[FakeOrder], params: Mapping[str, Any], limit: int) -> Any:
        page, cursor = self._page(orders, params, limit)
        rows = [o.to_wire(self._instruments[o.symbol]) for o in page]
        return {"category": "linear", "list": rows, "nextPageCursor": cursor}

    def _looked_up(self, params: Mapping[str, Any]) -> bool:
        """Scripted look-up effects; False when this look-up must answer nothing."""
        link = params.get("orderLinkId")
        if link and self._hidden_links.get(link, 0) > 0:
            self._hidden_links[link] -= 1
            return False
        if self._deferred and (link or params.get("orderId")):
            for o in self._orders_matching(params):
                if o.order_id in self._deferred:
                    left = self._deferred[o.order_id]
                    if left is None:
                        continue
                    if left > 0:
                        self._deferred[o.order_id] = left - 1
                    else:
                        self._run_deferred(o.order_id)
        return True

    def _listed(self, orders: list[FakeOrder]) -> list[FakeOrder]:
        """A list view leaves out the orders whose views lag (`hide_order_link_id`)."""
        return [o for o in orders if self._hidden_links.get(o.order_link_id, 0) <= 0]

    def _run_deferred(self, order_id: str) -> None:
        self._deferred.pop(order_id, None)
        order = self.orders.get(order_id)
        if order is None or order.status != "New":
            return
        price = self._price(order.symbol)
        if price is not None:
            self._activate(order, price, at=None)

    def _r_order_realtime(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        limit = self._limit(params, 20, 50)
        if not self._looked_up(params):
            return self._order_rows([], params, limit), "OK"
        orders = self._orders_matching(params)
        if not (params.get("orderId") or params.get("orderLinkId")):
            # by id any recent status is returned; otherwise openOnly decides
            want_closed = _as_int(params.get("openOnly"), 0) != 0
            orders = [o for o in self._listed(orders) if (not o.is_open) == want_closed]
        return self._order_rows(orders, params, limit), "OK"

    def _r_order_history(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        limit = self._limit(params, 20, 50)
        if not self._looked_up(params):
            return self._order_rows([], params, limit), "OK"
        status = params.get("orderStatus")
        start, end = _as_int(params.get("startTime")), _as_int(params.get("endTime"))
        matching = self._orders_matching(
            {**params, "settleCoin": params.get("settleCoin") or "USDT"}
        )
        if not (params.get("orderId") or params.get("orderLinkId")):
            matching = self._listed(matching)
        orders = [
            o
            for o in matching
            if not o.is_open  # UTA 2.0 order history holds closed-status orders
            and (not status or o.status == status)
            and (start is None or o.created_ms >= start)
            and (end is None or o.created_ms <= end)
        ]
        return self._order_rows(orders, params, limit), "OK"

    def _r_execution_list(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        if self._category(params) != "linear":
            raise _ApiError(10001, "params error: only category=linear is served by the fake")
        limit = self._limit(params, 50, 100)
        symbol, oid, link = params.get("symbol"), params.get("orderId"), params.get("orderLinkId")
        exec_type = params.get("execType")
        start, end = _as_int(params.get("startTime")), _as_int(params.get("endTime"))
        window = self.execution_window_ms
        if window is not None:
            if start is not None and end is not None and end - start > window:
                raise _ApiError(10001, "params error: time range must not exceed 7 days")
            if start is None and end is None:
                start, end = self._now - window, self._now
            elif end is None:
                assert start is not None
                end = start + window
            elif start is None:
                start = end - window
        rows = [
            e
            for e in reversed(self.executions)
            if (not symbol or e.symbol == symbol)
            and (not oid or e.order_id == oid)
            and (not link or e.order_link_id == link)
            and (not exec_type or e.exec_type == exec_type)
            and (start is None or e.exec_time >= start)
            and (end is None or e.exec_time <= end)
        ]
        page, cursor = self._page(rows, params, limit)
        wire = [e.to_wire(self._instruments[e.symbol]) for e in page]
        return {"nextPageCursor": cursor, "category": "linear", "list": wire}, "OK"

    def _r_order_create(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        result = self._create_order(params)
        if self._error_after_create:
            code, msg = self._error_after_create.pop(0)
            raise _ApiError(code, msg)
        return result, "OK"

    def _find_order(self, params: Mapping[str, Any]) -> FakeOrder:
        oid, link = params.get("orderId"), params.get("orderLinkId")
        if not oid and not link:
            raise _ApiError(10001, "params error: orderId or orderLinkId is required")
        for o in self.orders.values():
            if (oid and o.order_id == oid) or (not oid and o.order_link_id == link):
                if params.get("symbol") and o.symbol != params.get("symbol"):
                    break
                if o.is_open:
                    return o
                break
        raise _ApiError(110001, "order not exists or too late to cancel")

    def _r_order_cancel(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        self._linear_symbol(params)
        order = self._find_order(params)
        self._cancel(order, "CancelByUser")
        return {"orderId": order.order_id, "orderLinkId": order.order_link_id}, "OK"

    def _r_order_cancel_all(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        flt = params.get("orderFilter")
        victims = [
            o
            for o in self._orders_matching(params)
            if o.is_open and not (flt == "StopOrder" and not o.is_conditional)
        ]
        for o in victims:
            self._cancel(o, "CancelByUser")
        rows = [{"orderId": o.order_id, "orderLinkId": o.order_link_id} for o in victims]
        return {"list": rows, "success": "1"}, "OK"

    def _r_trading_stop(self, params: Mapping[str, Any]) -> tuple[Any, str]:
        sid = self._linear_symbol(params)
        pos = self._position(sid)
        if not pos.size:
            raise _ApiError(10001, "can not set tp/sl/ts for zero position")
        if params.get("trailingStop") not in (None, "", "0"):
            raise _ApiError(10001, "fake: trailingStop is not supported")
        mode = str(params.get("tpslMode") or "Full")
        price = self._price(sid) or pos.avg_price
        for kind, key in (("TakeProfit", "takeProfit"), ("StopLoss", "stopLoss")):
            level = _as_float(params.get(key))
            if level is None:
                continue
            if mode == "Full":
                for o in self.orders.values():
                    if (
                        o.symbol == sid
                        and o.is_open
                        and o.tpsl_mode == "Full"
                        and o.stop_order_type == kind
                    ):
                        self._cancel(o, "CancelByUser")
                if level == 0:
                    continue
            rising = (kind == "TakeProfit") == (pos.direction > 0)
            if (rising and level <= price) or (not rising and level >= price):
                raise _ApiError(
                    10001,
                    f"{kind}:{level} set for {pos.side} position should be "
                    f"{'higher' if rising else 'lower'} than base_price:{price}",
                )
            size_key = "tpSize" if kind == "TakeProfit" else "slSize"
            qty = pos.size if mode == "Full" else float(params.get(size_key) or pos.size)
            self._store_order(
                FakeOrder(
                    order_id=str(uuid.uuid4()),
                    order_link_id="",
                    symbol=sid,
                    side="Sell" if pos.direction > 0 else "Buy",
                    order_type="Market",
                    qty=qty,
                    price=0.0,
                    time_in_force="IOC",
                    reduce_only=True,
                    close_on_trigger=True,
                    status="Untriggered",
                    created_ms=self._stamp(),
                    updated_ms=self._stamp(),
                    trigger_price=level,
                    trigger_direction=1 if rising else 2,
                    trigger_by=str(
                        params.get("tpTriggerBy" if kind == "TakeProfit" else "slTriggerBy")
                        or "LastPrice"
                    ),
                    stop_order_type=kind if mode == "Full" else f"Partial{kind}",
                    tpsl_mode=mode,
                    last_price_on_created=price,
                )
            )
        return {}, "OK"

    # ------------------------------------------------------------------ account engine

    def _stamp(self) -> int:
        return self._event_ms if self._event_ms is not None else self._now

    def _position(self, sid: str) -> FakePosition:
        pos = self.positions.get(sid)
        if pos is None:
            self._spec(sid)
            pos = FakePosition(symbol=sid, leverage=self.default_leverage)
            self.positions[sid] = pos
        return pos

    def _active_symbols(self) -> list[str]:
        sids = {o.symbol for o in self.orders.values() if o.is_open}
        sids |= {p.symbol for p in self.positions.values() if p.size}
        return sorted(sids)

    def _store_order(self, order: FakeOrder) -> FakeOrder:
        self.orders[order.order_id] = order
        return order

    def _create_order(self, p: Mapping[str, Any]) -> dict[str, str]:
        sid = self._linear_symbol(p)
        spec = self._instruments[sid]
        side = str(p.get("side") or "")
        if side not in {"Buy", "Sell"}:
            raise _ApiError(10001, "params error: side invalid")
        order_type = str(p.get("orderType") or "")
        if order_type not in {"Market", "Limit"}:
            raise _ApiError(10001, "params error: orderType invalid")
        if _as_int(p.get("positionIdx"), 0) != 0:
            raise _ApiError(10001, "position idx not match position mode")
        link = str(p.get("orderLinkId") or "")
        if link and not _ORDER_LINK_ID.match(link):
            raise _ApiError(10001, "params error: orderLinkId is invalid (max 36 of [A-Za-z0-9_-])")
        if link and any(o.order_link_id == link for o in self.orders.values()):
            raise _ApiError(110072, "OrderLinkedID is duplicate")
        if self._reject_next:
            code, msg = self._reject_next.pop(0)
            raise _ApiError(code, msg)
        qty = _as_float(p.get("qty"))
        if qty is None or qty <= 0:
            raise _ApiError(10001, "params error: qty invalid")
        if abs(qty / spec.step - round(qty / spec.step)) > 1e-6:
            raise _ApiError(10001, f"Qty invalid: must be a multiple of qtyStep {spec.qty_step}")
        if qty < float(spec.min_qty) - _EPS:
            raise _ApiError(10001, "The number of contracts exceeds minimum limit allowed")
        if qty > float(spec.max_mkt_qty if order_type == "Market" else spec.max_qty) + _EPS:
            raise _ApiError(10001, "The number of contracts exceeds maximum limit allowed")
        price = _as_float(p.get("price")) or 0.0
        if order_type == "Limit":
            if price <= 0:
                raise _ApiError(10001, "params error: price is required for limit orders")
            if abs(price / spec.tick - round(price / spec.tick)) > 1e-6:
                raise _ApiError(
                    10001, f"Price invalid: must be a multiple of tickSize {spec.tick_size}"
                )
        else:
            price = 0.0
        current = self._price(sid)
        if current is None:
            raise _ApiError(10001, "fake: no price for this symbol (no candles; use set_price)")
        reduce_only = _as_bool(p.get("reduceOnly", False))
        close_on_trigger = _as_bool(p.get("closeOnTrigger", False))
        trigger = _as_float(p.get("triggerPrice")) or 0.0
        direction = _as_int(p.get("triggerDirection"), 0) or 0
        if trigger:
            if direction not in (1, 2):
                raise _ApiError(10001, "params error: triggerDirection must be 1 or 2")
            if direction == 1 and trigger <= current:
                raise _ApiError(
                    110092,
                    f"expect Rising, but trigger_price[{_num(trigger)}] <= "
                    f"current[{_num(current)}]",
                )
            if direction == 2 and trigger >= current:
                raise _ApiError(
                    110093,
                    f"expect Falling, but trigger_price[{_num(trigger)}] >= "
                    f"current[{_num(current)}]",
                )
        pos = self._position(sid)
        opposite = pos.size > 0 and pos.side != side
        if reduce_only and not trigger and not opposite:
            raise _ApiError(110017, "current position is zero, cannot fix reduce-only order qty")
        ref = price or current
        if not reduce_only and qty * ref < float(spec.min_notional) - _EPS:
            raise _ApiError(
                110094, f"Order does not meet minimum order value {spec.min_notional}USDT"
            )
        if not reduce_only and not trigger:
            opening = qty - (pos.size if opposite else 0.0)
            cost = max(opening, 0.0) * ref * (1 / pos.leverage + self.taker_fee)
            if cost > self._account_totals()["available"] + _EPS:
                raise _ApiError(110007, "ab not enough for new order")
        tif = str(p.get("timeInForce") or ("IOC" if order_type == "Market" else "GTC"))
        now = self._stamp()
        order = self._store_order(
            FakeOrder(
                order_id=str(uuid.uuid4()),
                order_link_id=link,
                symbol=sid,
                side=side,
                order_type=order_type,
                qty=qty,
                price=price,
                time_in_force=tif,
                reduce_only=reduce_only,
                close_on_trigger=close_on_trigger,
                status="Untriggered" if trigger else "New",
                created_ms=now,
                updated_ms=now,
                trigger_price=trigger,
                trigger_direction=direction if trigger else 0,
                trigger_by=str(p.get("triggerBy") or "LastPrice") if trigger else "",
                stop_order_type="Stop" if trigger else "",
                last_price_on_created=current,
                take_profit=_as_float(p.get("takeProfit")) or 0.0,
                stop_loss=_as_float(p.get("stopLoss")) or 0.0,
                fill_fraction=self._partial_next.pop(0) if self._partial_next else None,
            )
        )
        if not trigger and order_type == "Market" and self._defer_next:
            self._deferred[order.order_id] = self._defer_next.pop(0)  # stays New for now
        elif not trigger:
            self._activate(order, current, at=None)
        return {"orderId": order.order_id, "orderLinkId": order.order_link_id}

    def _activate(self, order: FakeOrder, price: float, at: float | None) -> None:
        """An order reaching the book: fill what is marketable, rest the rest.

        `at` is the fill price forced by a trigger (the trigger level); default the price.
        """
        if order.order_type == "Market":
            self._fill_order(order, at if at is not None else self._slipped(order, price), False)
            if order.is_open:  # market orders are IOC: an unfilled rest is cancelled
                order.status = "PartiallyFilledCanceled" if order.cum_exec_qty else "Cancelled"
                order.cancel_type = "UNKNOWN" if order.cum_exec_qty else "CancelByUser"
            return
        marketable = (order.side == "Buy" and price <= order.price) or (
            order.side == "Sell" and price >= order.price
        )
        if marketable and order.time_in_force == "PostOnly":
            order.status, order.cancel_type = "Cancelled", "CancelByUser"
            order.reject_reason = "EC_PostOnlyWillTakeLiquidity"
            return
        if marketable:
            self._fill_order(order, price, False)
        if order.is_open and order.time_in_force in {"IOC", "FOK"}:
            order.status = "PartiallyFilledCanceled" if order.cum_exec_qty else "Cancelled"

    def _slipped(self, order: FakeOrder, price: float) -> float:
        if not self.slippage_pct:
            return price
        factor = 1 + self.slippage_pct / 100 * (1 if order.side == "Buy" else -1)
        return float(_quantize(price * factor, self._instruments[order.symbol].tick_size))

    def _fill_order(self, order: FakeOrder, price: float, is_maker: bool) -> None:
        spec = self._instruments[order.symbol]
        pos = self._position(order.symbol)
        qty = order.leaves_qty
        if order.reduce_only or order.close_on_trigger:
            if not pos.size or pos.side == order.side:
                order.status = "Deactivated" if order.is_conditional else "Cancelled"
                order.cancel_type = "CancelByReduceOnly"
                order.updated_ms = self._stamp()
                return
            if order.tpsl_mode == "Full":
                qty = pos.size
            qty = min(qty, pos.size)
        if order.fill_fraction is not None:
            qty = float(_quantize(qty * order.fill_fraction, spec.qty_step, ROUND_FLOOR))
            order.fill_fraction = None
            qty = max(qty, spec.step)
        qty = round(qty, spec.qty_decimals)
        if qty <= 0:
            return
        self._execute(order, qty, price, is_maker)
        if (
            order.cum_exec_qty >= order.qty - _EPS
            or order.tpsl_mode == "Full"
            or (order.reduce_only and not self._position(order.symbol).size)
        ):
            order.status = "Filled"
            order.qty = order.cum_exec_qty if order.tpsl_mode == "Full" else order.qty
        else:
            order.status = "PartiallyFilled"
        order.updated_ms = self._stamp()

    def _execute(self, order: FakeOrder, qty: float, price: float, is_maker: bool) -> None:
        """Book one fill: position, realised PnL, fee, wallet and an execution record."""
        spec = self._instruments[order.symbol]
        pos = self._position(order.symbol)
        fee_rate = self.maker_fee if is_maker else self.taker_fee
        value = qty * price
        fee = value * fee_rate
        closed = pnl = 0.0
        if pos.size and pos.side != order.side:
            closed = min(qty, pos.size)
            pnl = (price - pos.avg_price) * closed * pos.direction
            pos.size = round(pos.size - closed, spec.qty_decimals)
            rest = round(qty - closed, spec.qty_decimals)
            if pos.size <= 0:
                pos.size, pos.side, pos.avg_price = 0.0, "", 0.0
            if rest > 0 and not order.reduce_only:
                pos.side, pos.size, pos.avg_price = order.side, rest, price
                pos.cur_realised_pnl = 0.0
                pos.created_ms = self._stamp()
        else:
            if not pos.size:
                pos.cur_realised_pnl = 0.0
                pos.created_ms = self._stamp()
            total = pos.size + qty
            pos.avg_price = (pos.avg_price * pos.size + price * qty) / total
            pos.size, pos.side = round(total, spec.qty_decimals), order.side
        self.wallet_balance += pnl - fee
        pos.cur_realised_pnl += pnl - fee
        pos.cum_realised_pnl += pnl - fee
        pos.updated_ms = self._stamp()
        pos.seq = next(self._seq)
        order.cum_exec_qty = round(order.cum_exec_qty + qty, spec.qty_decimals)
        order.cum_exec_value += value
        order.cum_exec_fee += fee
        self.executions.append(
            FakeExecution(
                exec_id=str(uuid.uuid4()),
                symbol=order.symbol,
                order_id=order.order_id,
                order_link_id=order.order_link_id,
                side=order.side,
                order_type=order.order_type,
                stop_order_type=order.stop_order_type,
                order_price=order.price or price,
                order_qty=order.qty,
                leaves_qty=max(order.qty - order.cum_exec_qty, 0.0),
                exec_price=price,
                exec_qty=qty,
                exec_value=value,
                exec_fee=fee,
                fee_rate=fee_rate,
                is_maker=is_maker,
                exec_type="Trade",
                exec_time=self._stamp(),
                closed_size=closed,
                exec_pnl=pnl,
                mark_price=price,
                seq=pos.seq,
            )
        )
        if not pos.size:
            self._on_flat(order.symbol, keep=order.order_id)
        else:
            for o in self.orders.values():  # Full-mode TP/SL always cover the whole position
                if o.symbol == pos.symbol and o.is_open and o.tpsl_mode == "Full":
                    o.qty = pos.size

    def _on_flat(self, sid: str, keep: str) -> None:
        if not self.cancel_reduce_only_on_flat:
            return
        for o in self.orders.values():
            if (
                o.symbol == sid
                and o.is_open
                and o.order_id != keep
                and (o.reduce_only or o.close_on_trigger)
            ):
                reason = (
                    "CancelByTpSlTsClear"
                    if o.stop_order_type in _TPSL_TYPES
                    else "CancelByReduceOnly"
                )
                self._cancel(o, reason)

    def _cancel(self, order: FakeOrder, cancel_type: str) -> None:
        order.status = (
            "Deactivated"
            if order.status == "Untriggered"
            else ("PartiallyFilledCanceled" if order.cum_exec_qty else "Cancelled")
        )
        order.cancel_type = cancel_type
        order.updated_ms = self._stamp()

    def _evaluate_segment(self, sid: str, a: float, b: float, *, at_level: bool) -> None:
        """Price moved a -> b: trigger/fill resting orders of `sid` along the way.

        Orders fire in the order the path meets them; with `at_level` they fill at their level
        (or at `a` when already crossed there), otherwise at `b` (a jump, e.g. set_price).
        """
        lo, hi = min(a, b), max(a, b)
        hits: list[tuple[float, int, FakeOrder]] = []
        for n, o in enumerate(self.orders.values()):
            if o.symbol != sid or not o.is_open:
                continue
            if o.status == "Untriggered":
                level = o.trigger_price
                hit = hi >= level if o.trigger_direction == 1 else lo <= level
            elif o.order_type == "Limit":
                level = o.price
                hit = lo <= level if o.side == "Buy" else hi >= level
            else:
                continue
            if hit:
                hits.append((abs(level - a), n, o))
        for _, _, o in sorted(hits, key=lambda h: (h[0], h[1])):
            if not o.is_open:
                continue  # e.g. a TP deactivated because the SL closed the position first
            if o.status == "Untriggered":
                crossed_at_start = (
                    a >= o.trigger_price if o.trigger_direction == 1 else a <= o.trigger_price
                )
                fill = (a if crossed_at_start else o.trigger_price) if at_level else b
                o.updated_ms = self._stamp()
                o.status = "New"  # Untriggered -> Triggered -> New, same orderId
                self._activate(o, fill, at=fill if o.order_type == "Market" else None)
            else:
                self._fill_order(o, o.price, True)

    def _walk(self, old: int, new: int, before: Mapping[str, float | None]) -> None:
        """Replay the 1h bars that closed in (old, new], and funding events, in time order."""
        events: list[tuple[int, int, str, int]] = []  # (time, kind 0=bar 1=funding, sid, index)
        for sid in self._active_symbols():
            bars = self._bars.get(sid)
            if bars is not None:
                lo = int(np.searchsorted(bars.ts, old - HOUR_MS, side="right"))
                hi = int(np.searchsorted(bars.ts, new - HOUR_MS, side="right"))
                events += [(int(bars.ts[i]) + HOUR_MS, 0, sid, i) for i in range(lo, hi)]
            pts = self._funding.get(sid)
            if pts is not None:
                lo = int(np.searchsorted(pts.ts, old, side="right"))
                hi = int(np.searchsorted(pts.ts, new, side="right"))
                events += [(int(pts.ts[i]), 1, sid, i) for i in range(lo, hi)]
        last = dict(before)
        try:
            for t, kind, sid, i in sorted(events):
                self._event_ms = t
                if kind == 1:
                    self._charge_funding(sid, float(self._funding[sid].value[i]), t)
                    continue
                bars = self._bars[sid]
                o, h, lo_, c = (float(x[i]) for x in (bars.open, bars.high, bars.low, bars.close))
                path = [o, lo_, h, c] if c >= o else [o, h, lo_, c]
                prev = last.get(sid)
                self._evaluate_segment(sid, o if prev is None else prev, o, at_level=False)
                for a, b in itertools.pairwise(path):
                    self._evaluate_segment(sid, a, b, at_level=True)
                last[sid] = c
        finally:
            self._event_ms = None

    def _charge_funding(self, sid: str, rate: float, t: int) -> None:
        pos = self.positions.get(sid)
        price = self._price_at(sid, t)
        if pos is None or not pos.size or price is None:
            return
        value = pos.size * price
        paid = value * rate * pos.direction  # longs pay a positive rate, shorts receive it
        self.wallet_balance -= paid
        pos.cur_realised_pnl -= paid
        pos.cum_realised_pnl -= paid
        self.executions.append(
            FakeExecution(
                exec_id=str(uuid.uuid4()),
                symbol=sid,
                order_id="",
                order_link_id="",
                side=pos.side,
                order_type="UNKNOWN",
                stop_order_type="UNKNOWN",
                order_price=0.0,
                order_qty=0.0,
                leaves_qty=0.0,
                exec_price=price,
                exec_qty=pos.size,
                exec_value=value,
                exec_fee=paid,
                fee_rate=rate,
                is_maker=False,
                exec_type="Funding",
                exec_time=t,
                closed_size=0.0,
                exec_pnl=0.0,
                mark_price=price,
                seq=next(self._seq),
            )
        )


# --------------------------------------------------------------------------- helpers for tests


def make_ccxt(
    fake: FakeBybit,
    *,
    async_: bool = False,
    api_key: str | None = None,
    secret: str | None = None,
    enable_rate_limit: bool = False,
    timeout_ms: int = 10_000,
    config: Mapping[str, Any] | None = None,
    **options: Any,
) -> ccxt.bybit | ccxt_async.bybit:
    """A real ccxt bybit client whose every URL points at `fake`.

    `options` are merged into ccxt's `options`; `config` into the top-level constructor dict.
    Markets are limited to linear (options['fetchMarkets']['types']), so load_markets makes
    exactly two requests (instruments-info, and again with status=PreLaunch), plus
    /v5/asset/coin/query-info when credentials are set. Close async clients with
    `await exchange.close()`.
    """
    merged: dict[str, Any] = {
        "fetchMarkets": {"types": ["linear"]},
        "defaultType": "swap",
        "defaultSubType": "linear",
        "adjustForTimeDifference": False,
    }
    merged.update(options)
    cfg: dict[str, Any] = {
        "enableRateLimit": enable_rate_limit,
        "timeout": timeout_ms,
        "options": merged,
    }
    if api_key is not None:
        cfg["apiKey"] = api_key
        cfg["secret"] = secret if secret is not None else "fake-secret"
    cfg.update(config or {})
    cls = ccxt_async.bybit if async_ else ccxt.bybit
    exchange = cls(cfg)
    if async_:
        # close() sleeps timeout_on_exit (250 ms) to let aiohttp drain SSL transports;
        # plain HTTP to 127.0.0.1 has none.
        exchange.timeout_on_exit = 0
    # Every host ccxt may switch to (sandbox, demo trading) points at the fake as well.
    for group in ("api", "test", "demotrading"):
        urls = exchange.urls.get(group)
        if isinstance(urls, dict):
            for key in urls:
                urls[key] = fake.base_url
    return exchange


def _read_csv(path_without_gz: Path) -> pd.DataFrame | None:
    for candidate in (path_without_gz, path_without_gz.with_name(path_without_gz.name + ".gz")):
        if candidate.exists():
            frame = pd.read_csv(candidate)  # pandas infers gzip from the suffix
            index = pd.to_datetime(frame.pop("timestamp_ms"), unit="ms", utc=True)
            frame.index = pd.DatetimeIndex(index, name="timestamp")
            return frame.astype(np.float64)
    return None


def _stem(symbol: str) -> str:
    """'BTC/USDT:USDT' or 'BTCUSDT' -> 'BTC_USDT' (the CSV naming of ../shared/data)."""
    if "/" in symbol:
        base, rest = symbol.split("/", 1)
        return f"{base}_{rest.split(':', 1)[0]}"
    for quote in ("USDT", "USDC"):
        if symbol.endswith(quote):
            return f"{symbol[: -len(quote)]}_{quote}"
    return symbol


def load_bundled_frames(
    data_dir: str | Path,
    symbols: Iterable[str],
    start: int | str | datetime | pd.Timestamp | None = None,
    end: int | str | datetime | pd.Timestamp | None = None,
) -> BundledFrames:
    """Read the CSV layout of ../shared/data/README.md into FakeBybit's inputs.

    `futures/BASE_QUOTE-1h.csv`, `funding/BASE_QUOTE-funding.csv` and
    `open_interest/BASE_QUOTE-oi-1d.csv` (each optionally `.csv.gz`); missing files are
    skipped. Keys are the symbols as given; rows are kept when start <= time <= end.
    """
    root = Path(data_dir)
    lo = pd.Timestamp(_to_ms(start), unit="ms", tz="UTC") if start is not None else None
    hi = pd.Timestamp(_to_ms(end), unit="ms", tz="UTC") if end is not None else None

    def cut(frame: pd.DataFrame | None) -> pd.DataFrame | None:
        if frame is None:
            return None
        if lo is not None:
            frame = frame[frame.index >= lo]
        if hi is not None:
            frame = frame[frame.index <= hi]
        return frame

    out = BundledFrames({}, {}, {})
    for symbol in symbols:
        stem = _stem(symbol)
        sources = (
            (out.candles, root / "futures" / f"{stem}-1h.csv"),
            (out.funding, root / "funding" / f"{stem}-funding.csv"),
            (out.open_interest, root / "open_interest" / f"{stem}-oi-1d.csv"),
        )
        for target, path in sources:
            frame = cut(_read_csv(path))
            if frame is not None:
                target[symbol] = frame
    return out


def iter_wire_orders(fake: FakeBybit) -> Iterator[dict[str, Any]]:
    """Every order in Bybit's wire shape (handy in assertions and debugging)."""
    with fake._lock:
        items = list(fake.orders.values())
    for order in items:
        yield order.to_wire(fake._instruments[order.symbol])
