"""The vectorised series equals the per-cycle analysis on real data.

Tolerance 1e-9 (absolute, on scores in [-1, 1] and on % figures): the only difference is the
seed of Wilder's smoothing (RSI, ATR, ADX), which the per-cycle path starts at the beginning of
its trailing window; after ~400 bars of a 14-period smoothing its effect is below 1e-12.
"""

import numpy as np
import pandas as pd
import pytest

from sextant.math_engine import analyze, analyze_series, resample_ohlcv
from tests.math_engine.frames import DATA_DIR, load_futures

TOL = 1e-9
WINDOW = {"1h": 800, "4h": 500, "1d": 500}  # 800 1h bars: the volatility ratio needs 721


def _load_oi() -> pd.DataFrame | None:
    path = DATA_DIR / "open_interest" / "ETH_USDT-oi-1d.csv"
    return pd.read_csv(path) if path.exists() else None


def _close(a: float | None, b: float) -> bool:
    return (a is None and np.isnan(b)) or (a is not None and abs(a - b) <= TOL)


def test_series_equals_per_cycle_on_eth() -> None:
    hourly_all = load_futures("ETH_USDT-1h.csv")
    hourly_all = hourly_all.loc["2023-06-01":"2025-12-20"]  # type: ignore[misc]
    frames_all = {
        "1h": hourly_all,
        "4h": resample_ohlcv(hourly_all, "4h"),
        "1d": resample_ohlcv(hourly_all, "1d"),
    }
    oi = _load_oi()
    # The series starts later than the data, so its own warm-up is long enough too.
    span = {tf: f for tf, f in frames_all.items()}
    span["1h"] = hourly_all.loc["2025-05-01":]  # type: ignore[misc]
    series = analyze_series(span, oi)

    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(np.arange(1000, len(series)), size=200, replace=False))
    for row in rows:
        t = series.index[row]
        close_time = t + pd.Timedelta(hours=1)
        frames = {}
        for tf, frame in frames_all.items():
            closed = frame.loc[: close_time - pd.Timedelta(tf)]  # type: ignore[misc]
            frames[tf] = closed.iloc[-WINDOW[tf] :]
        a = analyze("ETH/USDT:USDT", frames, oi)
        expected = series.iloc[row]
        assert a.regime == expected["regime"], t
        assert a.daily_veto == expected["daily_veto"], t
        for key in ("score", "vote", "confidence"):
            assert _close(getattr(a, key), expected[key]), (t, key)
        for key, value in a.components.items():
            assert _close(value, expected[key]), (t, key)
        for key in ("atr_pct_30d", "volatility_ratio", "change_4h_pct"):
            assert _close(getattr(a.volatility, key), expected[key]), (t, key)
        for tf, tfa in a.timeframes.items():
            assert tfa.regime == expected[f"{tf}.regime"], (t, tf)
            assert tfa.score == pytest.approx(expected[f"{tf}.score"], abs=TOL), (t, tf)
            assert tfa.bar_time == expected[f"{tf}.bar_time"], (t, tf)
        assert set(a.timeframes) == {
            tf for tf in ("1h", "4h", "1d") if not np.isnan(expected[f"{tf}.score"])
        }
