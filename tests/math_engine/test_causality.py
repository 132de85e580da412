"""Nothing at or before a bar depends on anything after it."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from sextant.config.math import MathSettings
from sextant.math_engine import analyze_series, resample_ohlcv
from tests.math_engine.frames import random_walk

# Short periods so that every component is warm well inside a few hundred bars.
SMALL = MathSettings(
    ma_fast=3,
    ma_mid=5,
    ma_slow=8,
    slope_lookback=2,
    atr_period=3,
    rsi_period=3,
    adx_period=3,
    volume_lookback=4,
    volatile_median_bars=10,
    atr_stop_days=3,
    vol_ratio_recent_bars=4,
    vol_ratio_baseline_bars=48,
)
N = 24 * 12


def _series(hourly: pd.DataFrame, oi: pd.Series) -> pd.DataFrame:
    frames = {"1h": hourly, "4h": resample_ohlcv(hourly, "4h"), "1d": resample_ohlcv(hourly, "1d")}
    return analyze_series(frames, oi, SMALL)


def _open_interest(hourly: pd.DataFrame, seed: int) -> pd.Series:
    # observed every 2 h, at a bar close
    times = hourly.index[1::2] + pd.Timedelta(hours=1)
    rng = np.random.default_rng(seed)
    return pd.Series(1e9 * np.exp(np.cumsum(rng.normal(0, 0.02, len(times)))), index=times)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    cut=st.integers(30, N - 2),
    scale=st.floats(0.5, 2.0),
    extra=st.integers(0, 30),
)
def test_future_bars_change_no_earlier_row(seed: int, cut: int, scale: float, extra: int) -> None:
    hourly = random_walk(N, seed)
    oi = _open_interest(hourly, seed)
    base = _series(hourly, oi)

    future = random_walk(N + extra, seed + 1)
    changed = pd.concat([hourly.iloc[: cut + 1], future.iloc[cut + 1 :] * scale])
    cut_close = hourly.index[cut] + pd.Timedelta(hours=1)
    long_oi = _open_interest(changed, seed)
    later = long_oi.index > cut_close
    long_oi[later] = long_oi[later] * scale + 1.0
    long_oi[~later] = oi[oi.index <= cut_close]
    moved = _series(changed, long_oi)

    assert not moved.iloc[cut + 1 :].equals(base.iloc[cut + 1 :]) or extra == 0 or scale == 1.0
    pd.testing.assert_frame_equal(moved.iloc[: cut + 1], base.iloc[: cut + 1], check_exact=True)
