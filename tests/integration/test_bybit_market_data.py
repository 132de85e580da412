"""The Bybit market-data adapter through real ccxt against a local Bybit v5 server."""

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli.main import main
from graph.context import Services
from runtime.cycle import run_cycle
from sextant.clock import FixedClock
from sextant.config import Settings, load_settings
from tests.fakes.bybit_v5 import FakeBybit, load_bundled_frames
from tools.broadcast.console import SilentBroadcaster
from tools.market_data.bybit import BybitMarketData
from tools.market_data.replay import ReplayMarketData

SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
NOW = datetime(2026, 5, 16, 11, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def frames(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    from sextant.config.market import BUNDLED_DATA_DIR

    return load_bundled_frames(BUNDLED_DATA_DIR, SYMBOLS, start="2025-05-01")


@pytest.fixture
def fake(frames):  # type: ignore[no-untyped-def]
    with FakeBybit(**frames._asdict(), now_ms=NOW, forming_bar="open") as f:
        yield f


class Sleeps:
    """Records backoff sleeps instead of waiting on the wall clock."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def bybit_settings(fake: FakeBybit, **market: object) -> Settings:
    return load_settings(
        market={
            "source": "bybit",
            "base_url": fake.base_url,
            "request_timeout_s": 10,
            "retry_backoff_s": 0.25,
            **market,
        },
    )


def adapter(fake: FakeBybit, sleeps: Sleeps | None = None, **market: object) -> BybitMarketData:
    settings = bybit_settings(fake, **market)
    md = BybitMarketData(settings, clock=FixedClock(NOW), sleep=sleeps or Sleeps())
    md.exchange.timeout_on_exit = 0  # no TLS to drain on 127.0.0.1
    return md


async def collect(md: BybitMarketData, symbols: list[str] = SYMBOLS):  # type: ignore[no-untyped-def]
    try:
        return await md.collect(symbols, NOW)
    finally:
        await md.close()


def test_snapshots_match_the_replay_source(fake: FakeBybit) -> None:
    result = asyncio.run(collect(adapter(fake)))
    assert result.errors == []
    replay = ReplayMarketData(load_settings()).collect_sync(SYMBOLS, NOW)
    for s in SYMBOLS:
        live, rep = result.snapshots[s], replay.snapshots[s]
        assert live.source == "bybit"
        # The still-forming bar is dropped: only bars closed at as_of, same as replay.
        for tf in ("1h", "4h", "1d"):
            a, b = live.candles[tf].df, rep.candles[tf].df
            assert a.index[-1] == b.index[-1], tf
            common = a.index.intersection(b.index)
            assert len(common) >= 250
            assert (
                a.loc[common, ["open", "high", "low", "close"]]
                .sub(b.loc[common, ["open", "high", "low", "close"]])
                .abs()
                .max()
                .max()
            ) < 1e-9
        assert live.ticker.bid < live.ticker.ask
        assert live.ticker.quote_volume_24h > 10_000_000
        assert live.market.amount_step > 0 and live.market.max_leverage >= 10
    assert result.snapshots["BTC/USDT:USDT"].funding is not None
    # HTTP requests: 2 for markets, 1 bulk tickers, then 5 per symbol (3 klines, funding, OI).
    assert len(fake.requests) == 3 + 5 * len(SYMBOLS)
    assert result.requests == 2 + 5 * len(SYMBOLS)  # calls: load_markets is one call


def test_the_graph_decides_the_same_on_both_sources(fake: FakeBybit) -> None:
    async def decisions(market) -> dict[str, str]:  # type: ignore[no-untyped-def]
        services = Services(settings=market.settings, market=market, clock=FixedClock(NOW),
                            broadcaster=SilentBroadcaster())
        state, _ = await run_cycle(services, as_of=NOW, symbols=SYMBOLS)
        await market.close()
        return {
            s.symbol: (s.decision, round(s.components["trend"] or 0, 6)) for s in state["signals"]
        }

    live = asyncio.run(decisions(adapter(fake)))
    rep = asyncio.run(decisions(ReplayMarketData(load_settings())))
    assert live == rep


@pytest.mark.parametrize("kind", ["429", "403", "502", "503", "timeout", "reset"])
def test_transient_errors_are_retried_with_backoff(fake: FakeBybit, kind: str) -> None:
    sleeps = Sleeps()
    # Funding history is one request per symbol, so both faults hit the same call.
    fake.fail("/v5/market/funding/history", kind, times=2)
    fake.timeout_hold_s = 3.0
    md = adapter(fake, sleeps, request_timeout_s=1.0)
    result = asyncio.run(collect(md, SYMBOLS[:1]))
    assert result.errors == [] and set(result.snapshots) == {"BTC/USDT:USDT"}
    if kind == "reset":
        # aiohttp itself retries an idempotent GET once when a pooled connection is reset.
        assert sleeps.calls in ([0.25], [0.25, 0.5])
    else:
        assert sleeps.calls == [0.25, 0.5]  # exponential backoff, injected sleep


def test_one_symbols_failure_excludes_only_that_symbol(fake: FakeBybit) -> None:
    # XRP is listed on the fake exchange but has no candles: its klines come back empty.
    result = asyncio.run(collect(adapter(fake), [*SYMBOLS, "XRP/USDT:USDT"]))
    assert set(result.snapshots) == set(SYMBOLS)
    assert [e.symbol for e in result.errors] == ["XRP/USDT:USDT"]
    assert result.codes["XRP/USDT:USDT"] == "no_data"


def test_exhausted_retries_skip_symbols_with_a_reason(fake: FakeBybit) -> None:
    sleeps = Sleeps()
    fake.fail("/v5/market/funding/history", "503", times=None)
    result = asyncio.run(collect(adapter(fake, sleeps, max_retries=1)))
    assert result.snapshots == {}
    assert {e.symbol for e in result.errors} == set(SYMBOLS)
    assert all("failed after 2 tries" in e.error for e in result.errors)
    assert all(result.codes[s] == "data_error" for s in SYMBOLS)


def test_malformed_body_is_not_retried_and_skips_the_symbol(fake: FakeBybit) -> None:
    # ccxt hands a truncated JSON body to bybit's parser as a string and returns empty data
    # without raising: the adapter must treat "no candles" as that symbol's failure.
    sleeps = Sleeps()
    fake.fail("/v5/market/kline", "malformed", times=1)
    result = asyncio.run(collect(adapter(fake, sleeps), SYMBOLS[:1]))
    assert result.snapshots == {}
    assert result.codes["BTC/USDT:USDT"] == "no_data"


def test_malformed_tickers_skip_every_symbol_with_a_reason(fake: FakeBybit) -> None:
    fake.fail("/v5/market/tickers", "malformed", times=1)
    result = asyncio.run(collect(adapter(fake), SYMBOLS[:2]))
    assert result.snapshots == {}
    assert all(result.codes[s] in ("no_data", "data_error") for s in SYMBOLS[:2])


def test_open_interest_failure_is_not_fatal(fake: FakeBybit) -> None:
    fake.fail("/v5/market/open-interest", "malformed", times=None)
    result = asyncio.run(collect(adapter(fake), SYMBOLS[:1]))
    snap = result.snapshots["BTC/USDT:USDT"]
    assert snap.open_interest is None and result.errors == []


def test_unlisted_and_hallucinated_symbols_are_skipped(fake: FakeBybit) -> None:
    result = asyncio.run(collect(adapter(fake), ["BTC/USDT:USDT", "FAKECOIN/USDT:USDT"]))
    assert set(result.snapshots) == {"BTC/USDT:USDT"}
    assert result.codes["FAKECOIN/USDT:USDT"] == "not_listed"


def test_markets_failure_fails_every_symbol_but_returns(fake: FakeBybit) -> None:
    fake.fail("/v5/market/instruments-info", "malformed", times=None)
    result = asyncio.run(collect(adapter(fake)))
    assert result.snapshots == {} and len(result.errors) == len(SYMBOLS)


def test_in_flight_requests_are_capped(fake: FakeBybit) -> None:
    fake.latency_s = 0.02
    asyncio.run(collect(adapter(fake, max_in_flight=3)))
    assert 1 < fake.max_in_flight <= 3


def test_cli_cycle_on_bybit_source(
    fake: FakeBybit,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("SEXTANT_MARKET__SOURCE", "bybit")
    monkeypatch.setenv("SEXTANT_MARKET__BASE_URL", fake.base_url)
    code = main(
        ["run", "--once", "--json", "--symbols", "BTC,ETH,NOPE", "--as-of", NOW.isoformat()]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["market"] == "bybit"
    assert {s["symbol"] for s in doc["signals"]} == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    nope = next(u for u in doc["universe"] if u["symbol"] == "NOPE/USDT:USDT")
    assert nope["reasons"][0]["code"] == "not_listed"
