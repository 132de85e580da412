import numpy as np

from sextant.math_engine import regime_frame
from tests.math_engine.frames import candles


def test_linear_uptrend_is_trending_up() -> None:
    # +DM = 1 and -DM = 0 on every bar: +DI = 100 * 1 / 2 = 50, -DI = 0, ADX = 100 >= 25.
    out = regime_frame(candles(100.0 + np.arange(150)))
    last = out.iloc[-1]
    assert (last["plus_di"], last["minus_di"], last["adx"]) == (50.0, 0.0, 100.0)
    assert last["regime"] == "trending_up"
    assert (out["regime"].iloc[27:] == "trending_up").all()  # ADX exists from bar 2n - 1


def test_linear_downtrend_is_trending_down() -> None:
    assert regime_frame(candles(400.0 - np.arange(150)))["regime"].iloc[-1] == "trending_down"


def test_flat_and_warm_up_are_ranging() -> None:
    out = regime_frame(candles(np.full(150, 10.0)))
    assert (out["regime"] == "ranging").all()
    assert out["adx"].iloc[-1] == 0.0


def test_zigzag_is_ranging_and_a_shock_is_volatile() -> None:
    zigzag = np.where(np.arange(150) % 2 == 0, 100.0, 101.0)
    frame = candles(zigzag, spread=0.5)
    assert regime_frame(frame)["regime"].iloc[-1] == "ranging"
    # Zigzag true range: |101.5 - 100| = 1.5. One bar reaching 130 (from a 100 close): true
    # range 30, ATR jumps from 1.5 to 1.5 + (30 - 1.5) / 14 = 3.54 > 1.5 x its median (1.5).
    frame.iloc[-1, frame.columns.get_loc("high")] = 130.0
    out = regime_frame(frame)
    assert out["atr_pct"].iloc[-1] / out["atr_pct_median"].iloc[-1] > 1.5
    assert out["regime"].iloc[-1] == "volatile"
