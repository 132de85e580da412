"""`sextant data download` through real ccxt against the local Bybit v5 server (no network)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from cli.main import main
from sextant.config.market import BUNDLED_DATA_DIR
from tests.fakes.bybit_v5 import FakeBybit, load_bundled_frames

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
NOW = pd.Timestamp("2025-12-18T00:30:00Z")  # half an hour into a bar: it is still forming
SINCE = "2025-10-20"
HOUR = pd.Timedelta(hours=1)


@pytest.fixture(scope="module")
def frames():
    return load_bundled_frames(BUNDLED_DATA_DIR, [BTC, ETH], "2025-10-01", "2025-12-31")


@pytest.fixture
def fake(frames, monkeypatch: pytest.MonkeyPatch):
    with FakeBybit(candles=frames.candles, funding=frames.funding, now_ms=NOW) as server:
        monkeypatch.setenv("SEXTANT_MARKET__BASE_URL", server.base_url)
        monkeypatch.setenv("SEXTANT_MARKET__RETRY_BACKOFF_S", "0")
        yield server


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path).set_index("timestamp_ms")


def ms(ts: pd.Timestamp) -> int:
    return int(ts.value // 1_000_000)


def test_download_writes_closed_bars_and_funding(fake, frames, tmp_path: Path, capsys) -> None:
    out = tmp_path / "data"
    fake.fail("/v5/market/kline", "429")  # one rate-limit answer: retried, not fatal
    code = main(["data", "download", "--symbols", "BTC,ETH", "--since", SINCE,
                 "--data-dir", str(out)])
    assert code == 0, capsys.readouterr().err
    for symbol, stem in ((BTC, "BTC_USDT"), (ETH, "ETH_USDT")):
        got = read(out / "futures" / f"{stem}-1h.csv")
        assert list(got.columns) == ["open", "high", "low", "close", "volume"]
        src = frames.candles[symbol].loc[pd.Timestamp(SINCE, tz="UTC") : NOW.floor("h") - HOUR]
        assert list(got.index) == [ms(t) for t in src.index]  # closed bars only, no gap
        assert (got.to_numpy() == src[["open", "high", "low", "close", "volume"]].to_numpy()).all()
        funding = read(out / "funding" / f"{stem}-funding.csv")
        fsrc = frames.funding[symbol].loc[pd.Timestamp(SINCE, tz="UTC") : NOW]
        assert list(funding.index) == [ms(t) for t in fsrc.index]
        assert (funding["funding_rate"].to_numpy() == fsrc["funding_rate"].to_numpy()).all()
    rules = json.loads((out / "markets.json").read_text())
    assert rules[BTC]["price_tick"] == "0.1" and rules[BTC]["amount_step"] == "0.001"
    assert rules[BTC]["max_leverage"] == 100
    kline_calls = [r for r in fake.requests if r.path == "/v5/market/kline"]
    assert len(kline_calls) >= 4  # pages per symbol, plus the retry after the 429

    # Later, the same command appends what is new and keeps what was there.
    fake.set_now(NOW + pd.Timedelta(hours=30))
    assert main(["data", "download", "--symbols", "BTC", "--since", "2025-12-17",
                 "--data-dir", str(out)]) == 0
    got = read(out / "futures" / "BTC_USDT-1h.csv")
    assert got.index.is_unique and got.index.is_monotonic_increasing
    assert got.index[0] == ms(pd.Timestamp(SINCE, tz="UTC"))
    assert got.index[-1] == ms(NOW.floor("h") + pd.Timedelta(hours=29))

    # The folder is a backtest data set.
    capsys.readouterr()
    code = main(["backtest", "--data-dir", str(out), "--symbols", "BTC,ETH", "--from",
                 "2025-12-10", "--to", "2025-12-18", "--json", "--quiet"])
    assert code == 0, capsys.readouterr().err
    doc = json.loads(capsys.readouterr().out)
    assert doc["symbols"] == [BTC, ETH] and doc["data_dir"] == str(out)


def test_unknown_symbol_fails_that_symbol_only(fake, tmp_path: Path, capsys) -> None:
    out = tmp_path / "data"
    code = main(["data", "download", "--symbols", "BTC,NOPE", "--since", "2025-12-15",
                 "--data-dir", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert "NOPE/USDT:USDT: FAILED" in err
    assert (out / "futures" / "BTC_USDT-1h.csv").is_file()


def test_refuses_to_write_into_the_bundled_data(capsys) -> None:
    code = main(["data", "download", "--symbols", "BTC", "--since", "2025-12-15",
                 "--data-dir", str(BUNDLED_DATA_DIR)])
    assert code == 2
    assert "bundled" in capsys.readouterr().err
