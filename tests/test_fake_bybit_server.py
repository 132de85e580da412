"""The fake Bybit v5 server, exercised through the real ccxt client (sync and async).

Market data: real Binance USDT-M 1h candles, funding and open interest of BTC and ETH
(Nov-Dec 2025, the window where the open-interest files overlap), read at test time from the
repo's data/bundled, else ../shared/data; skipped when neither is there.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ccxt
import numpy as np
import pandas as pd
import pytest

from tests.fakes.bybit_v5 import (
    BundledFrames,
    FakeBybit,
    load_bundled_frames,
    make_ccxt,
)

DATA_DIRS = (
    Path(__file__).resolve().parents[1] / "data" / "bundled",
    Path(__file__).resolve().parents[2] / "shared" / "data",
)
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
NOW = pd.Timestamp("2025-12-18T00:00:00Z")  # a funding time, inside the OI window
H = 3_600_000
NOW_MS = int(NOW.value // 1_000_000)
LINEAR_PERPS = {
    f"{b}/USDT:USDT"
    for b in ("BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "LTC", "LINK", "AVAX", "DOT", "BNB")
}


@pytest.fixture(scope="module")
def frames() -> BundledFrames:
    for data_dir in DATA_DIRS:
        loaded = load_bundled_frames(data_dir, [BTC, ETH], "2025-11-01", "2025-12-20")
        if len(loaded.candles) == 2 and len(loaded.open_interest) == 2:
            return loaded
    pytest.skip(f"real market data not found under {[str(d) for d in DATA_DIRS]}")


@pytest.fixture
def fake(frames: BundledFrames) -> Iterator[FakeBybit]:
    with FakeBybit(**frames._asdict(), now_ms=NOW, timeout_hold_s=0.6) as server:
        yield server


@pytest.fixture
def ex(fake: FakeBybit) -> ccxt.bybit:
    exchange = make_ccxt(fake)
    exchange.load_markets()
    return exchange


@pytest.fixture
def px(fake: FakeBybit) -> ccxt.bybit:
    exchange = make_ccxt(fake, api_key="key", secret="secret")
    exchange.load_markets()
    return exchange


def ms(ts: pd.Timestamp) -> int:
    return int(ts.value // 1_000_000)


def rows(frame: pd.DataFrame) -> list[list[float]]:
    cols = ["open", "high", "low", "close", "volume"]
    return [[ms(t), *map(float, r)] for t, r in zip(frame.index, frame[cols].values, strict=True)]


def resample(frame: pd.DataFrame, rule: str) -> pd.DataFrame:
    agg = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    return frame.resample(rule, label="left", closed="left").agg(agg).dropna()


def raw_get(fake: FakeBybit, path: str, headers: dict[str, str] | None = None) -> Any:
    req = urllib.request.Request(fake.base_url + path, headers=headers or {})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


# --------------------------------------------------------------------------- markets


def test_load_markets_lists_linear_perps_with_precision_and_limits(fake: FakeBybit) -> None:
    exchange = make_ccxt(fake)
    markets = exchange.load_markets()
    assert set(markets) == LINEAR_PERPS
    for m in markets.values():
        assert (m["swap"], m["linear"], m["settle"], m["active"]) == (True, True, "USDT", True)
    btc = markets[BTC]
    assert btc["id"] == "BTCUSDT"
    assert btc["precision"] == {"amount": 0.001, "price": 0.1}
    assert btc["limits"]["amount"]["min"] == 0.001
    assert btc["limits"]["cost"]["min"] == 5
    assert btc["limits"]["leverage"]["max"] == 100
    assert markets["DOGE/USDT:USDT"]["precision"] == {"amount": 1.0, "price": 0.00001}
    # ccxt asks twice (the second time for PreLaunch symbols) and nothing else
    assert [(r.path, r.query.get("status")) for r in fake.requests] == [
        ("/v5/market/instruments-info", None),
        ("/v5/market/instruments-info", "PreLaunch"),
    ]
    prelaunch = raw_get(fake, "/v5/market/instruments-info?category=linear&status=PreLaunch")
    assert prelaunch["retCode"] == 0 and prelaunch["result"]["list"] == []
    assert fake.unknown_paths == []


def test_instruments_info_paginates_with_cursor(fake: FakeBybit) -> None:
    first = raw_get(fake, "/v5/market/instruments-info?category=linear&limit=4")["result"]
    assert len(first["list"]) == 4 and first["nextPageCursor"]
    seen = [i["symbol"] for i in first["list"]]
    cursor = first["nextPageCursor"]
    while cursor:
        page = raw_get(fake, f"/v5/market/instruments-info?category=linear&limit=4&cursor={cursor}")
        seen += [i["symbol"] for i in page["result"]["list"]]
        cursor = page["result"]["nextPageCursor"]
    assert len(seen) == len(set(seen)) == len(LINEAR_PERPS)


# --------------------------------------------------------------------------- klines


def test_fetch_ohlcv_1h_equals_source(ex: ccxt.bybit, frames: BundledFrames) -> None:
    since = NOW - pd.Timedelta(hours=48)
    got = ex.fetch_ohlcv(BTC, "1h", since=ms(since), limit=24)
    src = frames.candles[BTC].loc[since : since + pd.Timedelta(hours=23)]
    assert got == rows(src)
    assert [r[0] for r in got] == sorted(r[0] for r in got)


def test_fetch_ohlcv_4h_and_1d_equal_resampled_1h(ex: ccxt.bybit, frames: BundledFrames) -> None:
    closed = frames.candles[BTC].loc[: NOW - pd.Timedelta(hours=1)]
    for timeframe, rule, since in (("4h", "4h", "2025-12-10"), ("1d", "1D", "2025-12-01")):
        start = pd.Timestamp(since, tz="UTC")
        got = ex.fetch_ohlcv(BTC, timeframe, since=ms(start), limit=10)
        want = rows(resample(closed, rule).loc[start:].iloc[:10])
        assert len(got) == 10
        for g, w in zip(got, want, strict=True):
            assert g[:5] == w[:5]
            assert g[5] == pytest.approx(w[5], rel=1e-12)


def test_fetch_ohlcv_paging_with_since_and_limit(ex: ccxt.bybit, frames: BundledFrames) -> None:
    start = NOW - pd.Timedelta(hours=400)
    collected: list[list[float]] = []
    since = ms(start)
    while len(collected) < 300:
        page = ex.fetch_ohlcv(BTC, "1h", since=since, limit=100)
        assert len(page) == 100
        collected += page
        since = page[-1][0] + H
    assert collected == rows(frames.candles[BTC].loc[start:].iloc[:300])
    # without since: the newest 200 bars, ending with the bar that opened at `now`
    latest = ex.fetch_ohlcv(BTC, "1h")
    assert len(latest) == 200 and latest[-1][0] == NOW_MS
    assert latest[:-1] == rows(frames.candles[BTC].loc[: NOW - pd.Timedelta(hours=1)].iloc[-199:])


def test_nothing_after_now_is_visible(
    fake: FakeBybit, ex: ccxt.bybit, frames: BundledFrames
) -> None:
    now = NOW - pd.Timedelta(hours=29, minutes=30)  # 30 minutes into a 1h bar
    fake.set_now(now)
    forming_open = now.floor("h")
    src = frames.candles[BTC]
    assert ex.fetch_time() == ms(now)
    bars = ex.fetch_ohlcv(BTC, "1h", limit=5)
    # default "open" policy: the forming bar is flat at its open, volume 0
    o = float(src.loc[forming_open, "open"])
    assert bars[-1] == [ms(forming_open), o, o, o, o, 0.0]
    assert bars[:-1] == rows(src.loc[: forming_open - pd.Timedelta(hours=1)].iloc[-4:])
    assert ex.fetch_ticker(BTC)["last"] == o
    # the forming 4h bar holds only what has happened so far
    four = ex.fetch_ohlcv(BTC, "4h", limit=1)[0]
    part = src.loc[forming_open.floor("4h") : forming_open - pd.Timedelta(hours=1)]
    assert four[0] == ms(forming_open.floor("4h"))
    assert four[2] == max(part["high"].max(), o) and four[4] == o
    assert four[5] == pytest.approx(part["volume"].sum())
    for tf in ("1h", "4h", "1d"):
        assert max(r[0] for r in ex.fetch_ohlcv(BTC, tf, limit=1000)) <= ms(now)
    assert ex.fetch_ohlcv(BTC, "1h", since=ms(now) + H) == []
    assert max(f["timestamp"] for f in ex.fetch_funding_rate_history(BTC)) <= ms(now)
    assert max(i["timestamp"] for i in ex.fetch_open_interest_history(BTC, "1d")) <= ms(now)

    fake.forming_bar = "full"  # look-ahead variant: final values of the forming bar
    assert ex.fetch_ohlcv(BTC, "1h", limit=1) == rows(src.loc[forming_open:forming_open])
    assert ex.fetch_ticker(BTC)["last"] == float(src.loc[forming_open, "close"])
    fake.forming_bar = "exclude"
    assert ex.fetch_ohlcv(BTC, "1h", limit=1)[0][0] == ms(forming_open) - H


# --------------------------------------------------------------------------- tickers, funding, OI


def test_tickers_bid_ask_and_quote_volume(
    fake: FakeBybit, ex: ccxt.bybit, frames: BundledFrames
) -> None:
    src = frames.candles[BTC]
    ticker = ex.fetch_ticker(BTC)
    assert ticker["last"] == float(src.loc[NOW, "open"])  # bar opened at `now`, still forming
    bid, ask, last = ticker["bid"], ticker["ask"], ticker["last"]
    assert bid < last < ask
    assert (ask - bid) / last == pytest.approx(0.0002, abs=0.3 / last)  # 0.02 % +/- a tick
    day = src.loc[NOW - pd.Timedelta(hours=23) : NOW - pd.Timedelta(hours=1)]
    typical = (day["open"] + day["high"] + day["low"] + day["close"]) / 4
    assert ticker["baseVolume"] == pytest.approx(day["volume"].sum())
    assert ticker["quoteVolume"] == pytest.approx((day["volume"] * typical).sum(), rel=1e-6)
    assert ticker["open"] == float(src.loc[NOW - pd.Timedelta(hours=23), "open"])

    fake.spread_pct[BTC] = 0.5
    wide = ex.fetch_ticker(BTC)
    assert (wide["ask"] - wide["bid"]) / wide["last"] == pytest.approx(0.005, abs=0.3 / last)

    # symbols listed without candles (BNB and friends here) are left out of the bulk call
    assert set(ex.fetch_tickers()) == {BTC, ETH}
    assert set(ex.fetch_tickers([BTC, ETH])) == {BTC, ETH}
    assert [r.query.get("symbol") for r in fake.requests_to("/v5/market/tickers")][-1] is None
    fake.set_price("BNB/USDT:USDT", 612.34)
    assert ex.fetch_ticker("BNB/USDT:USDT")["last"] == 612.34


def test_funding_rate_and_history(fake: FakeBybit, ex: ccxt.bybit, frames: BundledFrames) -> None:
    src = frames.funding[BTC]["funding_rate"]
    rate = ex.fetch_funding_rate(BTC)
    assert rate["fundingRate"] == float(src.loc[:NOW].iloc[-1])
    assert rate["fundingTimestamp"] == NOW_MS + 8 * H
    assert rate["interval"] == "8h"
    since = NOW - pd.Timedelta(days=10)
    hist = ex.fetch_funding_rate_history(BTC, since=ms(since), limit=5)
    # ccxt asks [since, since + 5 x 8h]; Bybit answers the newest 5 rows of that window, so
    # the row at `since` itself is not among them (same as the live open-interest endpoint)
    assert [(h["timestamp"], h["fundingRate"]) for h in hist] == [
        (ms(t), float(v)) for t, v in src.loc[since:].iloc[1:6].items()
    ]
    latest = ex.fetch_funding_rate_history(BTC)
    assert latest[-1]["timestamp"] == NOW_MS and len(latest) == len(src.loc[:NOW])
    fake.funding_rate_override[BTC] = -0.0003
    assert ex.fetch_funding_rate(BTC)["fundingRate"] == -0.0003


def test_open_interest_history(ex: ccxt.bybit, frames: BundledFrames) -> None:
    oi = frames.open_interest[BTC]["open_interest_value_usd"]
    close = frames.candles[BTC]["close"]
    got = ex.fetch_open_interest_history(BTC, "1d", limit=5)
    want = oi.loc[:NOW].iloc[-5:]
    assert [g["timestamp"] for g in got] == [ms(t) for t in want.index]
    for g, (t, usd) in zip(got, want.items(), strict=True):
        # Bybit reports linear OI in base coin: the USD value / the close at that time
        assert g["openInterestAmount"] == pytest.approx(usd / close.loc[t - pd.Timedelta(hours=1)])
    since = pd.Timestamp("2025-11-10", tz="UTC")
    page = ex.fetch_open_interest_history(BTC, "1d", since=ms(since), limit=3)
    # newest 3 of [since, since + 3d], as measured live in ccxt PR #30016
    assert [p["timestamp"] for p in page] == [ms(since + pd.Timedelta(days=d)) for d in (1, 2, 3)]
    hourly = ex.fetch_open_interest_history(ETH, "1h", limit=3)  # daily data served as given
    assert np.diff([h["timestamp"] for h in hourly]).tolist() == [24 * H, 24 * H]
    assert ex.fetch_open_interest_history("SOL/USDT:USDT", "1d") == []
    # ccxt's fetch_open_interest indexes list[0] of an empty answer: a plain IndexError
    with pytest.raises(IndexError):
        ex.fetch_open_interest("SOL/USDT:USDT")


# --------------------------------------------------------------------------- faults

FAULTS_SYNC = [
    ("429", ccxt.RateLimitExceeded),
    ("403", ccxt.RateLimitExceeded),
    ("10006", ccxt.RateLimitExceeded),
    ("500", ccxt.ExchangeNotAvailable),
    ("502", ccxt.ExchangeNotAvailable),
    ("503", ccxt.ExchangeNotAvailable),
    ("504", ccxt.RequestTimeout),
    ("timeout", ccxt.RequestTimeout),
    ("reset", ccxt.NetworkError),
]


@pytest.mark.parametrize(("kind", "error"), FAULTS_SYNC)
def test_fault_kinds_raise_ccxt_errors_sync(fake: FakeBybit, kind: str, error: type) -> None:
    exchange = make_ccxt(fake, timeout_ms=300)
    exchange.load_markets()
    fake.fail("/v5/market/kline", kind)
    with pytest.raises(ccxt.BaseError) as info:
        exchange.fetch_ohlcv(BTC, "1h", limit=2)
    assert type(info.value) is error
    assert len(exchange.fetch_ohlcv(BTC, "1h", limit=2)) == 2  # the fault was used up


FAULTS_ASYNC = [*FAULTS_SYNC[:-1], ("reset", ccxt.ExchangeNotAvailable)]


@pytest.mark.parametrize(("kind", "error"), FAULTS_ASYNC)
def test_fault_kinds_raise_ccxt_errors_async(fake: FakeBybit, kind: str, error: type) -> None:
    async def scenario() -> None:
        exchange = make_ccxt(fake, async_=True, timeout_ms=300)
        try:
            await exchange.load_markets()
            # aiohttp silently retries a GET once when a reused connection is dropped
            fake.fail("/v5/market/kline", kind, times=2 if kind == "reset" else 1)
            with pytest.raises(ccxt.BaseError) as info:
                await exchange.fetch_ohlcv(BTC, "1h", limit=2)
            assert type(info.value) is error
            assert len(await exchange.fetch_ohlcv(BTC, "1h", limit=2)) == 2
        finally:
            await exchange.close()

    asyncio.run(scenario())


def test_malformed_body_is_not_an_error_for_ccxt(fake: FakeBybit, ex: ccxt.bybit) -> None:
    # A truncated JSON body with HTTP 200 is returned to bybit's parser as a string: no
    # exception, just empty results. Callers must treat empty/None data as a failure.
    fake.fail("/v5/market/kline", "malformed")
    assert ex.fetch_ohlcv(BTC, "1h", limit=5) == []
    fake.fail("/v5/market/tickers", "malformed")
    assert ex.fetch_ticker(BTC)["last"] is None


def test_fault_times_and_prefixes(fake: FakeBybit, ex: ccxt.bybit) -> None:
    fake.fail("/v5/market", "503", times=2)
    for _ in range(2):
        with pytest.raises(ccxt.ExchangeNotAvailable):
            ex.fetch_ticker(BTC)
    assert ex.fetch_ticker(BTC)["last"] is not None
    fake.fail("/v5/market/funding", "429", times=None)
    for _ in range(3):
        with pytest.raises(ccxt.RateLimitExceeded):
            ex.fetch_funding_rate_history(BTC)
    fake.clear_faults()
    assert ex.fetch_funding_rate_history(BTC, limit=1)
    with pytest.raises(ValueError):
        fake.fail("/v5", "418")


def test_ip_and_order_rate_limits(frames: BundledFrames) -> None:
    limits = {"ip_limit": (7, 60.0), "order_rate_limit": (1, 60.0)}
    with FakeBybit(**frames._asdict(), now_ms=NOW, **limits) as fake:
        exchange = make_ccxt(fake, api_key="key")
        exchange.load_markets()  # coin info + instruments x2
        exchange.fetch_ticker(BTC)
        exchange.create_order(BTC, "market", "buy", 0.01)  # + query-api, account/info, create
        assert len(fake.requests) == 7
        with pytest.raises(ccxt.RateLimitExceeded, match="403"):
            exchange.fetch_ticker(BTC)
        assert fake.ip_limit_hits == 1
        fake.ip_limit = None
        with pytest.raises(ccxt.RateLimitExceeded, match="10006"):
            exchange.create_order(BTC, "market", "buy", 0.01)
        assert fake.order_limit_hits == 1 and len(fake.orders) == 1


def test_a_bug_in_the_fake_is_an_http_500_with_the_traceback(
    fake: FakeBybit, ex: ccxt.bybit
) -> None:
    fake._route_table[("GET", "/v5/market/tickers")] = lambda params: 1 / 0
    with pytest.raises(ccxt.ExchangeNotAvailable):
        ex.fetch_ticker(BTC)
    assert "ZeroDivisionError" in fake.errors[-1]


def test_latency_and_max_in_flight_with_async_client(fake: FakeBybit) -> None:
    fake.latency_s = 0.05

    async def scenario() -> float:
        exchange = make_ccxt(fake, async_=True)
        try:
            await exchange.load_markets()
            fake.reset_requests()
            t0 = time.monotonic()
            await asyncio.gather(*(exchange.fetch_ohlcv(BTC, "1h", limit=10) for _ in range(8)))
            return time.monotonic() - t0
        finally:
            await exchange.close()

    elapsed = asyncio.run(scenario())
    assert fake.max_in_flight == 8
    assert elapsed < 8 * 0.05
    assert all(r.path == "/v5/market/kline" for r in fake.requests)


# --------------------------------------------------------------------------- private endpoints


def test_private_endpoints_require_key_and_signature_headers(fake: FakeBybit) -> None:
    path = "/v5/position/list?category=linear&settleCoin=USDT"
    assert raw_get(fake, path)["retCode"] == 10003
    ok = raw_get(fake, path, {"X-BAPI-API-KEY": "k", "X-BAPI-SIGN": "anything"})
    assert ok["retCode"] == 0 and ok["result"]["list"] == []


def test_signature_is_checked_when_a_secret_is_configured(frames: BundledFrames) -> None:
    with FakeBybit(**frames._asdict(), now_ms=NOW, api_secret="right") as fake:
        good = make_ccxt(fake, api_key="k", secret="right")
        good.load_markets()
        assert good.fetch_balance()["USDT"]["total"] == 10_000
        bad = make_ccxt(fake, api_key="k", secret="wrong")
        with pytest.raises(ccxt.AuthenticationError):
            bad.fetch_balance()


def test_private_flow_entry_stop_and_take_profit(fake: FakeBybit, px: ccxt.bybit) -> None:
    assert px.set_margin_mode("isolated", BTC)["retMsg"] == "Request accepted"
    assert fake.margin_mode == "ISOLATED_MARGIN"
    px.set_leverage(5, BTC)
    with pytest.raises(ccxt.BadRequest, match="110043"):  # "leverage not modified"
        px.set_leverage(5, BTC)

    entry = px.create_order(BTC, "market", "buy", 0.02, params={"clientOrderId": "sig-1-entry"})
    assert entry["clientOrderId"] == "sig-1-entry"
    with pytest.raises(ccxt.InvalidOrder, match="110072"):  # OrderLinkedID is duplicate
        px.create_order(BTC, "market", "buy", 0.02, params={"clientOrderId": "sig-1-entry"})
    price = fake.price(BTC)
    assert price is not None
    (pos,) = px.fetch_positions()
    assert (pos["symbol"], pos["side"], pos["contracts"]) == (BTC, "long", 0.02)
    assert (pos["entryPrice"], pos["leverage"]) == (price, 5)
    assert pos["liquidationPrice"] < price * 0.82

    sl = px.create_order(
        BTC,
        "market",
        "sell",
        0.02,
        params={
            "stopLossPrice": round(price * 0.97, 1),
            "reduceOnly": True,
            "clientOrderId": "sig-1-sl",
        },
    )
    tp = px.create_order(
        BTC,
        "market",
        "sell",
        0.01,
        params={
            "takeProfitPrice": round(price * 1.03, 1),
            "reduceOnly": True,
            "clientOrderId": "sig-1-tp",
        },
    )
    body = fake.requests_to("/v5/order/create")[-1].body
    assert body["triggerDirection"] == 1 and body["reduceOnly"] is True
    opened = {o["clientOrderId"]: o for o in px.fetch_open_orders(BTC)}
    assert set(opened) == {"sig-1-sl", "sig-1-tp"}
    assert opened["sig-1-sl"]["stopLossPrice"] == round(price * 0.97, 1)
    assert opened["sig-1-tp"]["takeProfitPrice"] == round(price * 1.03, 1)
    assert {o["info"]["orderStatus"] for o in opened.values()} == {"Untriggered"}

    fake.set_price(BTC, price * 1.05)  # crosses the TP: half the position is closed there
    assert fake.orders[tp["id"]].status == "Filled"
    assert px.fetch_positions()[0]["contracts"] == 0.01
    fake.set_price(BTC, price * 0.96)  # crosses the SL: the rest is closed
    assert fake.orders[sl["id"]].status == "Filled"
    assert fake.orders[sl["id"]].cum_exec_qty == 0.01  # reduce-only: capped at the position
    assert px.fetch_positions() == []
    assert px.fetch_open_orders(BTC) == []
    trades = px.fetch_my_trades(BTC)
    # all three share the frozen clock's timestamp, so only the multiset is meaningful
    assert sorted(t["side"] for t in trades) == ["buy", "sell", "sell"]
    fees = sum(t["fee"]["cost"] for t in trades)
    exits = sorted(t["price"] for t in trades if t["side"] == "sell")
    assert exits == [round(price * 0.96, 1), round(price * 1.05, 1)]  # fills on the tick grid
    pnl = sum(0.01 * (x - price) for x in exits)
    assert px.fetch_balance()["USDT"]["total"] == pytest.approx(10_000 + pnl - fees, abs=1e-6)


def test_limit_order_rests_fills_as_maker_and_cancel(fake: FakeBybit, px: ccxt.bybit) -> None:
    price = fake.price(ETH)
    assert price is not None
    resting = px.create_order(
        ETH, "limit", "buy", 0.5, round(price * 0.95, 2), {"clientOrderId": "l1"}
    )
    other = px.create_order(
        ETH, "limit", "buy", 0.5, round(price * 0.90, 2), {"clientOrderId": "l2"}
    )
    assert {o["id"] for o in px.fetch_open_orders(ETH)} == {resting["id"], other["id"]}
    canceled = px.cancel_order(other["id"], ETH)
    assert canceled["id"] == other["id"]
    assert fake.orders[other["id"]].status == "Cancelled"
    with pytest.raises(ccxt.OrderNotFound):
        px.cancel_order(other["id"], ETH)
    fake.set_price(ETH, price * 0.94)
    filled = px.fetch_closed_orders(ETH)
    assert [o["id"] for o in filled] == [resting["id"]]
    assert filled[0]["average"] == round(price * 0.95, 2)
    (trade,) = px.fetch_my_trades(ETH)
    assert trade["takerOrMaker"] == "maker" and trade["fee"]["rate"] == 0.0002
    assert px.cancel_all_orders(ETH) == []


def test_rejected_orders(fake: FakeBybit, px: ccxt.bybit) -> None:
    fake.reject_next_order()
    with pytest.raises(ccxt.InsufficientFunds, match="110007"):
        px.create_order(BTC, "market", "buy", 0.01, params={"clientOrderId": "r1"})
    assert fake.orders == {}
    with pytest.raises(ccxt.InsufficientFunds):  # the real margin check: 10 BTC at 10x
        px.create_order(BTC, "market", "buy", 10)
    fake.set_price("XRP/USDT:USDT", 2.0)
    with pytest.raises(ccxt.InvalidOrder, match="110094"):  # 2 XRP = 4 USDT < 5 USDT
        px.create_order("XRP/USDT:USDT", "market", "buy", 2)
    with pytest.raises(ccxt.InvalidOrder, match="110017"):  # reduce-only with no position
        px.create_order(BTC, "market", "sell", 0.01, params={"reduceOnly": True})
    with pytest.raises(ccxt.InvalidOrder, match="110093"):  # a falling trigger above price
        px.create_order(
            BTC,
            "market",
            "sell",
            0.01,
            params={"stopLossPrice": fake.price(BTC) * 1.1, "reduceOnly": True},
        )
    fake.reject_next_order(10001, "params error: something")
    with pytest.raises(ccxt.BadRequest):
        px.create_order(BTC, "market", "buy", 0.01)
    ok = px.create_order(BTC, "market", "buy", 0.01, params={"clientOrderId": "r1"})
    assert fake.orders[ok["id"]].status == "Filled"


def test_partial_fill(fake: FakeBybit, px: ccxt.bybit) -> None:
    fake.partial_fill_next_order(0.5)
    order = px.create_order(BTC, "market", "buy", 0.02, params={"clientOrderId": "p1"})
    fetched = px.fetch_order(order["id"], BTC, {"acknowledged": True})
    assert (fetched["filled"], fetched["amount"], fetched["status"]) == (0.01, 0.02, "closed")
    assert fetched["info"]["orderStatus"] == "PartiallyFilledCanceled"
    assert px.fetch_positions()[0]["contracts"] == 0.01


def test_timeout_after_apply_does_not_double_submit(fake: FakeBybit) -> None:
    exchange = make_ccxt(fake, api_key="key", timeout_ms=300)
    exchange.load_markets()
    fake.fail("/v5/order/create", "timeout_after_apply")
    with pytest.raises(ccxt.RequestTimeout):
        exchange.create_order(BTC, "market", "buy", 0.01, params={"clientOrderId": "sig-7"})
    assert [o.order_link_id for o in fake.orders.values()] == ["sig-7"]  # it did happen
    with pytest.raises(ccxt.InvalidOrder, match="110072"):  # a blind retry is refused
        exchange.create_order(BTC, "market", "buy", 0.01, params={"clientOrderId": "sig-7"})
    found = exchange.private_get_v5_order_realtime({"category": "linear", "orderLinkId": "sig-7"})
    assert [o["orderStatus"] for o in found["result"]["list"]] == ["Filled"]
    assert exchange.fetch_positions()[0]["contracts"] == 0.01


def test_injected_position_and_order_for_reconciliation(fake: FakeBybit, px: ccxt.bybit) -> None:
    fake.inject_position(ETH, "long", 0.5, 3000.0, leverage=3)
    stop = fake.inject_order(
        ETH, "Sell", 0.5, trigger_price=2500.0, reduce_only=True, order_link_id="orphan-sl"
    )
    (pos,) = px.fetch_positions()
    assert (pos["symbol"], pos["side"], pos["contracts"], pos["entryPrice"]) == (
        ETH,
        "long",
        0.5,
        3000,
    )
    (order,) = px.fetch_open_orders(ETH)
    assert (order["id"], order["stopLossPrice"], order["reduceOnly"]) == (stop.order_id, 2500, True)
    px.cancel_all_orders(ETH)
    assert fake.open_orders() == []


def test_trading_stop_when_both_sl_and_tp_are_given(fake: FakeBybit, px: ccxt.bybit) -> None:
    px.create_order(BTC, "market", "buy", 0.01)
    price = fake.price(BTC)
    assert price is not None
    # ccxt sends SL+TP together to /v5/position/trading-stop (tpslMode Partial with sizes)
    answer = px.create_order(
        BTC,
        "market",
        "sell",
        0.01,
        params={"stopLossPrice": round(price * 0.9), "takeProfitPrice": round(price * 1.1)},
    )
    assert answer["id"] is None
    assert fake.requests_to("/v5/position/trading-stop")[-1].body["tpslMode"] == "Partial"
    kinds = {o["info"]["stopOrderType"] for o in px.fetch_open_orders(BTC)}
    assert kinds == {"PartialStopLoss", "PartialTakeProfit"}
    fake.set_price(BTC, price * 0.89)
    assert fake.position(BTC) is None
    assert fake.open_orders() == []


def test_set_now_walks_bars_and_charges_funding(fake: FakeBybit, frames: BundledFrames) -> None:
    src = frames.candles[ETH]
    funding = frames.funding[ETH]["funding_rate"]
    fake.set_now(NOW - pd.Timedelta(hours=20))  # 04:00: the next funding is at 08:00
    exchange = make_ccxt(fake, api_key="key")
    exchange.load_markets()
    exchange.create_order(ETH, "market", "buy", 1.0)
    start = fake.now_ms
    entry = fake.price(ETH)
    assert entry is not None
    nxt = src.loc[pd.Timestamp(start, unit="ms", tz="UTC") :].iloc[:12]
    level = round(float(nxt["low"].min()) + 0.5, 2)  # touched intrabar within 12 hours
    assert level < entry
    stop = fake.inject_order(ETH, "Sell", 1.0, trigger_price=level, reduce_only=True)
    wallet = fake.wallet_balance
    fake.advance(12 * H)
    assert fake.orders[stop.order_id].status == "Filled"
    (close,) = [e for e in fake.executions if e.order_id == stop.order_id]
    first_touch = nxt.index[nxt["low"] <= level][0]
    assert close.exec_time == ms(first_touch) + H and close.exec_price in (
        level,
        float(nxt.loc[first_touch, "open"]),
    )
    paid = [e for e in fake.executions if e.exec_type == "Funding"]
    t8 = pd.Timestamp(start, unit="ms", tz="UTC") + pd.Timedelta(hours=4)
    if first_touch >= t8:  # the position was still open at 08:00: it paid funding
        (f,) = paid
        assert f.exec_time == ms(t8) and f.fee_rate == float(funding.loc[t8])
    pnl = (close.exec_price - entry) * 1.0 - close.exec_fee - sum(e.exec_fee for e in paid)
    assert fake.wallet_balance == pytest.approx(wallet + pnl)


def test_async_private_flow(fake: FakeBybit) -> None:
    async def scenario() -> None:
        exchange = make_ccxt(fake, async_=True, api_key="key")
        try:
            await exchange.load_markets()
            await exchange.set_leverage(3, ETH)
            await exchange.create_order(ETH, "market", "sell", 0.3, params={"clientOrderId": "a1"})
            (pos,) = await exchange.fetch_positions()
            assert (pos["side"], pos["contracts"], pos["leverage"]) == ("short", 0.3, 3)
            balance = await exchange.fetch_balance()
            assert balance["USDT"]["total"] < 10_000  # the taker fee
        finally:
            await exchange.close()

    asyncio.run(scenario())
    assert [r.path for r in fake.requests if r.path.startswith("/v5/user")] == [
        "/v5/user/query-api"
    ]


def test_classic_account_uses_switch_isolated(frames: BundledFrames) -> None:
    with FakeBybit(**frames._asdict(), now_ms=NOW, unified=False) as fake:
        exchange = make_ccxt(fake, api_key="key")
        exchange.load_markets()
        exchange.set_margin_mode("isolated", BTC, {"leverage": 4})
        assert fake.positions[BTC].isolated and fake.positions[BTC].leverage == 4
        with pytest.raises(ccxt.MarginModeAlreadySet):
            exchange.set_margin_mode("isolated", BTC, {"leverage": 4})


# --------------------------------------------------------------------------- loader


def test_load_bundled_frames_reads_plain_and_gzip_csv(
    tmp_path: Path, frames: BundledFrames
) -> None:
    def write(frame: pd.DataFrame, path: Path) -> None:
        out = frame.copy()
        out.insert(0, "timestamp_ms", [ms(t) for t in out.index])
        text = out.to_csv(index=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(text.encode()) if path.suffix == ".gz" else text.encode())

    write(frames.candles[BTC], tmp_path / "futures" / "BTC_USDT-1h.csv.gz")
    write(frames.funding[BTC], tmp_path / "funding" / "BTC_USDT-funding.csv")
    got = load_bundled_frames(tmp_path, [BTC, ETH], "2025-12-01", None)
    pd.testing.assert_frame_equal(got.candles[BTC], frames.candles[BTC].loc["2025-12-01":])
    pd.testing.assert_frame_equal(got.funding[BTC], frames.funding[BTC].loc["2025-12-01":])
    assert got.open_interest == {} and ETH not in got.candles
    assert str(got.candles[BTC].index.tz) == "UTC"
    assert list(got.candles[BTC].columns) == ["open", "high", "low", "close", "volume"]
