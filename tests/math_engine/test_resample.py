import numpy as np
import pandas as pd
import pytest

from sextant.math_engine import resample_ohlcv
from tests.math_engine.frames import START, load_futures


def _hours(n: int) -> pd.DataFrame:
    i = np.arange(n, dtype=float)
    index = pd.date_range(START, periods=n, freq="1h", tz="UTC")
    return pd.DataFrame(
        {"open": i, "high": i + 10, "low": i - 10, "close": i + 0.5, "volume": 1.0 + i},
        index=index,
    )


def test_four_hour_buckets_by_hand() -> None:
    out = resample_ohlcv(_hours(10), "4h")  # 00:00-03:00, 04:00-07:00, then 08:00-09:00 only
    assert list(out.index) == [START, START + pd.Timedelta(hours=4)]  # partial 08:00 dropped
    # bucket 00:00: open 0, high max(10..13) = 13, low min(-10..-7) = -10, close 3.5,
    # volume 1 + 2 + 3 + 4 = 10
    assert list(out.iloc[0]) == [0.0, 13.0, -10.0, 3.5, 10.0]
    assert list(out.iloc[1]) == [4.0, 17.0, -6.0, 7.5, 5 + 6 + 7 + 8]


def test_bucket_with_a_missing_hour_is_dropped() -> None:
    hours = _hours(12).drop(START + pd.Timedelta(hours=5))
    out = resample_ohlcv(hours, "4h")
    assert list(out.index) == [START, START + pd.Timedelta(hours=8)]


def test_daily_buckets_are_utc_days() -> None:
    out = resample_ohlcv(_hours(24 * 2 + 5).iloc[3:], "1d")  # starts at 03:00 day 1
    assert list(out.index) == [START + pd.Timedelta(days=1)]  # day 1 incomplete, day 3 too
    assert out["open"].iloc[0] == 24.0 and out["close"].iloc[0] == 47.5


@pytest.mark.parametrize("rule", ["4h", "1d"])
def test_matches_the_native_exchange_bars(rule: str) -> None:
    native = load_futures(f"BTC_USDT-{rule}.csv")
    hourly = load_futures("BTC_USDT-1h.csv")
    start, end = native.index[0], native.index[-1] + pd.Timedelta(rule)
    resampled = resample_ohlcv(hourly.loc[start : end - pd.Timedelta(hours=1)], rule)  # type: ignore[arg-type]
    assert resampled.index.equals(native.index)
    for col in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(resampled[col], native[col])
    np.testing.assert_allclose(resampled["volume"], native["volume"], rtol=1e-9)


def test_trailing_incomplete_bucket_of_real_data_is_dropped() -> None:
    hourly = load_futures("BTC_USDT-1h.csv").iloc[-500:]
    last_open = hourly.index[-1]
    out = resample_ohlcv(hourly, "1d")
    assert out.index[-1] + pd.Timedelta(days=1) <= last_open + pd.Timedelta(hours=1)
