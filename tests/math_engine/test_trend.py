import numpy as np
import pytest

from sextant.config.math import MathSettings
from sextant.math_engine import analyze_timeframe, trend_score
from tests.math_engine.frames import candles

# Tiny averages so every number below can be worked out by hand.
SMALL = MathSettings(ma_fast=2, ma_mid=3, ma_slow=4, slope_lookback=1, atr_period=2)


def test_linear_uptrend_by_hand() -> None:
    # close = 100 + t, high = close + 1, low = close - 1: every true range is 2, so ATR = 2.
    # MA2 lags close by 0.5, MA3 by 1, MA4 by 1.5 -> distances 0.25, 0.5, 0.75 ATR;
    # / trend_distance_full_atr (2) -> 0.125, 0.25, 0.375 -> position = 0.25.
    # Slopes: MA2 and MA3 rise 1 per bar = 0.5 ATR -> / full (1 ATR) -> slope = 0.5.
    # MA2 > MA3 > MA4 -> alignment = +1.
    # score = 0.5 * 0.25 + 0.3 * 0.5 + 0.2 * 1 = 0.475
    out = trend_score(candles(100.0 + np.arange(10)), SMALL)
    last = out.iloc[-1]
    assert last["atr"] == pytest.approx(2.0)
    assert last["position"] == pytest.approx(0.25)
    assert last["slope"] == pytest.approx(0.5)
    assert last["alignment"] == 1.0
    assert last["score"] == pytest.approx(0.475)


def test_linear_trends_score_plus_and_minus_one_after_warm_up() -> None:
    up = trend_score(candles(100.0 + np.arange(300)))
    down = trend_score(candles(400.0 - np.arange(300)))
    # Default settings: MA20 lags 9.5 = 4.75 ATR (saturates at 2), MA20 rises 10 per 10 bars
    # = 5 ATR (saturates at 1), averages in order.
    assert (up["score"].iloc[210:] == 1.0).all()
    assert (down["score"].iloc[210:] == -1.0).all()


def test_flat_prices_score_zero() -> None:
    out = trend_score(candles(np.full(250, 50.0)))
    assert out["score"].iloc[-1] == 0.0


def test_score_is_nan_before_the_fast_average_exists() -> None:
    out = trend_score(candles(100.0 + np.arange(30)))
    assert out["score"].iloc[:19].isna().all()
    assert out["score"].iloc[19:].notna().all()


def test_missing_slow_average_is_noted_not_raised() -> None:
    analysis = analyze_timeframe(candles(100.0 + np.arange(150), freq="1D"), "1d")
    assert analysis is not None
    trend = analysis.trend
    assert trend.value == 1.0  # computed from MA20 and MA50
    assert trend.inputs["ma_slow"] is None
    assert "ma_slow (200 bars)" in trend.note and "150 bars" in trend.note


def test_too_short_history_gives_none_with_reason() -> None:
    analysis = analyze_timeframe(candles(100.0 + np.arange(16)), "1h")
    assert analysis is not None  # momentum (RSI 14) exists already
    assert analysis.trend.value is None
    assert "unavailable" in analysis.trend.note
