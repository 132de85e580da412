import numpy as np
import pandas as pd
import pytest

from sextant.config.math import MathSettings
from sextant.math_engine import volatility
from tests.math_engine.frames import START, candles

DAY = pd.Timedelta(days=1)


def _aligned(n_days: int, hourly_close: list[float]) -> dict[str, pd.DataFrame]:
    """n_days flat daily bars (true range 2), then 1h bars of the following day."""
    daily = candles(np.full(n_days, 100.0), freq="1D")
    hourly = candles(
        hourly_close, start=START + n_days * DAY - len(hourly_close) * pd.Timedelta(hours=1)
    )
    return {"1d": daily, "1h": hourly}


def test_atr_pct_30d_by_hand() -> None:
    # 31 flat daily bars with high - low = 2: the last 30 true ranges are 2; / last 1h close 80
    # -> 2 / 80 = 2.5 %
    v = volatility(_aligned(31, [90.0, 80.0]))
    assert v.atr_pct_30d == pytest.approx(2.5)


def test_atr_pct_needs_thirty_true_ranges() -> None:
    # 30 daily bars have only 29 true ranges (the first bar has no previous close)
    assert volatility(_aligned(30, [100.0])).atr_pct_30d is None


def test_change_4h_by_hand() -> None:
    # close 4 bars ago 100, now 97 -> -3 %
    v = volatility({"1h": candles([100.0, 99, 98, 99, 97])})
    assert v.change_4h_pct == pytest.approx(-3.0)
    assert volatility({"1h": candles([100.0, 99, 98, 99])}).change_4h_pct is None


def test_volatility_ratio_by_hand() -> None:
    s = MathSettings(vol_ratio_recent_bars=2, vol_ratio_baseline_bars=4)
    # flat closes: true range = high - low = 2 * spread; spreads 1,1,1,1,3 -> TR -,2,2,2,6
    frame = candles(np.full(5, 100.0))
    frame.loc[frame.index[-1], ["high", "low"]] = [103.0, 97.0]
    # recent mean (2 + 6) / 2 = 4; baseline mean (2 + 2 + 2 + 6) / 4 = 3 -> 4 / 3
    v = volatility({"1h": frame}, s)
    assert v.volatility_ratio == pytest.approx(4 / 3)


def test_volatility_ratio_needs_the_full_baseline() -> None:
    assert volatility({"1h": candles(100.0 + np.arange(720))}).volatility_ratio is None
    ratio = volatility({"1h": candles(100.0 + np.arange(721))}).volatility_ratio
    assert ratio == pytest.approx(1.0)  # every true range is 2


def _gapped(drop: list[int]) -> pd.DataFrame:
    """Nine hourly bars closing 100..108, with the rows at `drop` removed (a hole)."""
    df = candles([100.0 + i for i in range(9)])
    return df.drop(df.index[drop])


def test_btc_4h_change_is_by_time_across_a_gap() -> None:
    """One definition of the 4h change for the cycle (`change_pct`, the BTC-dump veto's input)
    and the backtest's vectorised stage (`hourly_volatility`): the bar opened exactly 4 h
    before, never the bar 4 rows back."""
    from sextant.market_context import change_pct
    from sextant.math_engine.candles import candles_from_frame
    from sextant.math_engine.volatility import hourly_volatility

    settings = MathSettings()
    # Rows of 05:00 and 06:00 missing: the last bar (08:00, close 108) still has its 04:00 bar
    # (close 104), 4 h before, although 4 rows back is 02:00 (close 102).
    gap = _gapped([5, 6])
    cycle = change_pct(gap["close"], 4)
    vectorised = hourly_volatility(candles_from_frame(gap, "1h"), settings)["change_4h_pct"]
    assert cycle == pytest.approx(100 * (108 / 104 - 1))
    assert vectorised[-1] == pytest.approx(cycle)
    # The 04:00 bar itself missing: unknown (None / NaN) on both paths, not a made-up number.
    hole = _gapped([4])
    assert change_pct(hole["close"], 4) is None
    hole_series = hourly_volatility(candles_from_frame(hole, "1h"), settings)["change_4h_pct"]
    assert np.isnan(hole_series[-1])
    # Without gaps both are the plain close-to-close change of the last 4 bars.
    full = candles([100.0 + i for i in range(9)])
    assert change_pct(full["close"], 4) == pytest.approx(100 * (108 / 104 - 1))
    series = hourly_volatility(candles_from_frame(full, "1h"), settings)["change_4h_pct"]
    assert np.isnan(series[:4]).all()
    assert series[4:] == pytest.approx([100 * (100 + i) / (96 + i) - 100 for i in range(4, 9)])
