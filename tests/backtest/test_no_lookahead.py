"""No look-ahead: scrambling every price, volume, funding rate and open-interest value from
time T on changes no decision taken at or before T and no fill before T."""

import gzip
import io
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from backtest.engine import Backtest, BacktestRequest
from sextant.config import load_settings

T = datetime(2025, 11, 28, 13, tzinfo=UTC)
START = datetime(2025, 11, 20, tzinfo=UTC)
END = datetime(2025, 12, 4, tzinfo=UTC)
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "XRP/USDT:USDT", "DOGE/USDT:USDT", "LINK/USDT:USDT")


def rewrite(path: Path, fn) -> None:
    df = fn(pd.read_csv(path))
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as g:
        g.write(df.to_csv(index=False).encode())
    path.write_bytes(buf.getvalue())


def scramble_after(data_dir: Path, cutoff: datetime) -> None:
    ms = int(cutoff.timestamp() * 1000)

    def candles(df: pd.DataFrame) -> pd.DataFrame:
        later = df["timestamp_ms"] >= ms
        for col, factor in (("open", 1.7), ("high", 2.5), ("low", 0.3), ("close", 0.4)):
            df.loc[later, col] = df.loc[later, col] * factor
        df.loc[later, "volume"] = df.loc[later, "volume"] * 50
        return df

    def funding(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[df["timestamp_ms"] >= ms, "funding_rate"] = 0.05
        return df

    def oi(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[df["timestamp_ms"] >= ms, df.columns[1]] *= 3.0
        return df

    for path in (data_dir / "futures").glob("*.csv.gz"):
        rewrite(path, candles)
    for path in (data_dir / "funding").glob("*.csv.gz"):
        rewrite(path, funding)
    for path in (data_dir / "open_interest").glob("*.csv.gz"):
        rewrite(path, oi)


def run(data_dir: Path):
    settings = load_settings()
    return Backtest(settings, BacktestRequest(START, END, SYMBOLS, data_dir)).run()


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory):
    import shutil

    from sextant.config.market import BUNDLED_DATA_DIR

    copy = tmp_path_factory.mktemp("scrambled") / "data"
    shutil.copytree(BUNDLED_DATA_DIR, copy)
    scramble_after(copy, T)
    return run(BUNDLED_DATA_DIR), run(copy)


def test_decisions_and_fills_before_t_are_unchanged(both) -> None:
    base, scrambled = both
    # Decisions at T use the bars that closed by T: none of the scrambled ones.
    before = [s for s in base.signals if s.as_of <= T]
    assert before == [s for s in scrambled.signals if s.as_of <= T]
    assert [f for f in base.fills if f.time < T] == [f for f in scrambled.fills if f.time < T]
    assert [e for e in base.equity if e[0] <= T] == [e for e in scrambled.equity if e[0] <= T]
    # Not vacuous: there were decisions and fills before T ...
    assert any(s.decision != "WAIT" for s in before)
    assert sum(f.time < T for f in base.fills) >= 3
    # ... and the scrambled future does change what comes after it.
    assert [e for e in base.equity if e[0] > T] != [e for e in scrambled.equity if e[0] > T]
