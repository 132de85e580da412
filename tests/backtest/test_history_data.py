"""The bundled in-sample history (data/history): intact, in-sample only, read like the rest."""

import csv
import hashlib
import lzma
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from backtest.engine import Backtest, BacktestRequest
from sextant.config import load_settings
from sextant.config.market import BUNDLED_DATA_DIR, HISTORY_DATA_DIR
from tools.market_data import csv_store

OOS_START = pd.Timestamp("2025-06-01", tz="UTC")
LONG = ("BTC/USDT:USDT", "ETH/USDT:USDT", "XRP/USDT:USDT", "ADA/USDT:USDT", "LTC/USDT:USDT")


def manifest() -> list[dict[str, str]]:
    with (HISTORY_DATA_DIR / "MANIFEST.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_file_matches_its_manifest_row() -> None:
    rows = manifest()
    assert {r["symbol"] for r in rows} == set(LONG)
    assert {r["kind"] for r in rows} == {"ohlcv", "funding"}
    on_disk = sorted(str(p.relative_to(HISTORY_DATA_DIR)) for p in HISTORY_DATA_DIR.rglob("*.xz"))
    assert on_disk == sorted(r["file"] for r in rows)
    for r in rows:
        raw = lzma.decompress((HISTORY_DATA_DIR / r["file"]).read_bytes())
        assert hashlib.sha256(raw).hexdigest() == r["sha256_csv"], r["file"]
        assert raw.count(b"\n") == int(r["rows"]) + 1  # header + rows
        assert r["source_repo"] == "Roshan7869/algotrading" and r["source_commit"]
    # The repository stays small: the whole folder is a few MB.
    size = sum(p.stat().st_size for p in HISTORY_DATA_DIR.rglob("*") if p.is_file())
    assert size < 4_000_000, size


@pytest.mark.parametrize("symbol", LONG)
def test_in_sample_only_gapless_and_equal_to_the_bundled_rows(symbol: str) -> None:
    path = csv_store.ohlcv_path(HISTORY_DATA_DIR, symbol, "1h")
    assert path is not None and path.name.endswith(".csv.xz")
    hist = csv_store.read_frame(path)
    assert hist.index[0] < pd.Timestamp("2020-02-01", tz="UTC")
    assert hist.index[-1] == OOS_START - pd.Timedelta(hours=1)  # the last in-sample bar
    assert (np.diff(hist.index.asi8) == 3_600_000_000_000).all()
    funding = csv_store.read_frame(csv_store.funding_path(HISTORY_DATA_DIR, symbol))
    assert funding.index[-1] < OOS_START
    assert (np.diff(funding.index.asi8) == 8 * 3_600_000_000_000).all()
    # Both folders were cut from the same source: where they overlap, the bars are the same.
    bundled = csv_store.read_frame(csv_store.ohlcv_path(BUNDLED_DATA_DIR, symbol, "1h"))
    overlap = bundled.loc[bundled.index < OOS_START]
    assert len(overlap) > 6000
    pd.testing.assert_frame_equal(hist.loc[overlap.index], overlap)


def test_a_backtest_reads_the_history_folder() -> None:
    settings = load_settings()
    request = BacktestRequest(
        datetime(2021, 5, 1, tzinfo=UTC), datetime(2021, 5, 8, tzinfo=UTC), LONG,
        HISTORY_DATA_DIR,
    )
    result = Backtest(settings, request).run()
    assert result.symbols == list(LONG) and result.symbol_hours == 5 * 7 * 24
    assert not [w for w in result.warnings if "funding" in w]
