import numpy as np
import pytest

from sextant.config.math import MathSettings
from sextant.math_engine import volume_score
from tests.math_engine.frames import candles, ohlcv

SMALL = MathSettings(volume_lookback=2)


def test_volume_score_by_hand() -> None:
    frame = ohlcv(
        [
            (10.0, 11, 9, 10.5, 100),  # clv = (1.5 - 0.5) / 2 = +0.5
            (10.5, 11, 9, 9.5, 300),  # clv = (0.5 - 1.5) / 2 = -0.5
            (9.5, 12, 10, 12, 400),  # clv = +1 (closes on the high)
            (12.0, 12, 10, 11, 50),  # clv = 0
        ]
    )
    out = volume_score(frame, SMALL)
    # bar 2: pressure = (-0.5*300 + 1*400) / 700 = 0.35714; rel volume = 400 / mean(100, 300) = 2
    #        score = 0.35714 * min(2, cap 2) = 0.71429
    # bar 3: pressure = (400 + 0) / 450 = 0.8889; rel volume = 50 / mean(300, 400) = 0.142857
    #        score = (8/9) * (1/7) = 8/63
    assert np.isnan(out["score"].iloc[1])  # no previous lookback to compare volume with
    assert out["cmf"].iloc[2] == pytest.approx(250 / 700)
    assert out["rel_volume"].iloc[2] == pytest.approx(2.0)
    assert out["score"].iloc[2] == pytest.approx(500 / 700)
    assert out["score"].iloc[3] == pytest.approx(8 / 63)
    assert out["quote_volume"].iloc[2] == 12 * 400
    assert out["avg_quote_volume"].iloc[3] == pytest.approx((12 * 400 + 11 * 50) / 2)


def test_busy_bars_are_capped_and_the_score_bounded() -> None:
    frame = candles(100.0 + np.arange(30), volume=[1.0] * 29 + [1000.0])
    frame["close"] = frame["high"]  # every bar closes on its high: pressure +1
    out = volume_score(frame)
    assert out["rel_volume"].iloc[-1] == pytest.approx(1000.0)
    assert out["score"].iloc[-1] == 1.0  # 1 * min(1000, 2) clipped to 1


def test_bars_without_range_or_volume_score_zero() -> None:
    out = volume_score(candles(np.full(30, 5.0), spread=0.0, volume=0.0))
    assert out["score"].iloc[-1] == 0.0
