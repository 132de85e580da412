import numpy as np
import pandas as pd
import pytest

from sextant.config.math import MathSettings
from sextant.math_engine import momentum_score, regime_frame
from tests.math_engine.frames import candles

FAST_RSI = MathSettings(rsi_period=3)
# closes 10 11 12 11 12 13 -> RSI(3) = -, -, -, 66.67, 77.78, 85.19 (see test_indicators)
CLOSES = [10.0, 11, 12, 11, 12, 13]


def _with_direction(frame: pd.DataFrame, direction: float) -> pd.DataFrame:
    regime = regime_frame(frame, FAST_RSI)
    regime["trend_direction"] = direction
    return regime


def test_flat_prices_give_zero_momentum() -> None:
    out = momentum_score(candles(np.full(200, 42.0)))
    assert out["rsi"].iloc[-1] == 50.0
    assert out["regime"].iloc[-1] == "ranging"
    assert out["score"].iloc[-1] == 0.0


def test_range_reading_by_hand() -> None:
    # Too few bars for ADX: the regime is ranging, RSI is read as an oscillator:
    # RSI >= 50: -(RSI - 50) / (70 - 50); 66.67 -> -0.8333; 77.78 and 85.19 -> clipped -1.
    out = momentum_score(candles(CLOSES), FAST_RSI)
    np.testing.assert_allclose(out["score"], [np.nan, np.nan, np.nan, -(50 / 3) / 20, -1, -1])
    assert list(out["rsi_mode"].iloc[3:]) == ["range"] * 3


def test_oversold_in_a_range_is_bullish() -> None:
    # mirror closes: RSI = 100 - above: 33.33 -> (50 - 33.33) / (50 - 30) = +0.8333
    out = momentum_score(candles([20.0 - c for c in CLOSES]), FAST_RSI)
    assert out["score"].iloc[3] == pytest.approx((50 / 3) / 20)
    assert out["score"].iloc[5] == 1.0


def test_uptrend_reading_by_hand() -> None:
    # In an up-trend: (RSI - 50) / (70 - 50) up to 1, and above 80 damped linearly to 0.5 at 100:
    # 66.67 -> 0.8333; 77.78 -> 1; 85.19 -> 1 - 0.5 * (85.19 - 80) / 20 = 0.8704
    frame = candles(CLOSES)
    out = momentum_score(frame, FAST_RSI, regime=_with_direction(frame, 1.0))
    expected = [(50 / 3) / 20, 1.0, 1 - 0.5 * (2300 / 27 - 80) / 20]
    np.testing.assert_allclose(out["score"].iloc[3:], expected)
    assert list(out["rsi_mode"].iloc[3:]) == ["trend_up"] * 3


def test_downtrend_reading_is_the_mirror() -> None:
    # Down-trend: -f(100 - RSI). Falling closes give RSI 33.33, 22.22, 14.81:
    # -> -0.8333, -1, -(1 - 0.5 * (85.19 - 80) / 20) = -0.8704
    frame = candles([20.0 - c for c in CLOSES])
    out = momentum_score(frame, FAST_RSI, regime=_with_direction(frame, -1.0))
    expected = [-(50 / 3) / 20, -1.0, -(1 - 0.5 * (2300 / 27 - 80) / 20)]
    np.testing.assert_allclose(out["score"].iloc[3:], expected)


def test_linear_downtrend_uses_the_regime_of_the_same_bar() -> None:
    # A falling line: ADX 100 with -DI > +DI from bar 27 on; RSI 0 -> -f(100) = -0.5.
    out = momentum_score(candles(300.0 - np.arange(60)))
    assert out["regime"].iloc[-1] == "trending_down"
    assert out["score"].iloc[-1] == pytest.approx(-0.5)
    # Before ADX exists (bar 26 and earlier) the same RSI 0 is read as oversold: +1.
    assert out["regime"].iloc[20] == "ranging"
    assert out["score"].iloc[20] == 1.0
