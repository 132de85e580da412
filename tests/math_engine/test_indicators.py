import numpy as np
import pandas_ta as ta
import pytest

from sextant.math_engine.indicators import atr, dmi, rolling_median, rsi, safe_ratio, sma, wilder
from tests.math_engine.frames import random_walk


def test_sma_by_hand() -> None:
    np.testing.assert_array_equal(sma(np.array([1.0, 2, 3, 4]), 2), [np.nan, 1.5, 2.5, 3.5])
    assert np.isnan(sma(np.array([1.0, 2]), 3)).all()


def test_rolling_median_by_hand() -> None:
    np.testing.assert_array_equal(
        rolling_median(np.array([5.0, 1, 3, 2]), 3), [np.nan, np.nan, 3.0, 2.0]
    )


def test_wilder_is_seeded_with_the_simple_mean() -> None:
    # seed = (2 + 4) / 2 = 3 at index 1; then 3 + (2 - 3)/2 = 2.5; 2.5 + (5 - 2.5)/2 = 3.75
    np.testing.assert_allclose(wilder(np.array([2.0, 4, 2, 5]), 2), [np.nan, 3, 2.5, 3.75])


def test_atr_by_hand() -> None:
    high = np.array([11.0, 12, 15, 14, 13, 20])
    low = np.array([9.0, 10, 11, 12, 8, 19])
    close = np.array([10.0, 11, 14, 13, 9, 19.5])
    # TR: -, max(2,|12-10|,|10-10|)=2, max(4,4,0)=4, max(2,0,|12-14|)=2, max(5,0,|8-13|)=5,
    #     gap up: max(1, |20-9|, |19-9|) = 11
    # ATR(2): seed (2+4)/2 = 3; 3+(2-3)/2 = 2.5; 2.5+(5-2.5)/2 = 3.75; 3.75+(11-3.75)/2 = 7.375
    np.testing.assert_allclose(atr(high, low, close, 2), [np.nan, np.nan, 3.0, 2.5, 3.75, 7.375])


def test_rsi_by_hand() -> None:
    close = np.array([10.0, 11, 12, 11, 12, 13])
    # changes +1 +1 -1 +1 +1; RSI(3) seed at index 3: gain (1+1+0)/3, loss (0+0+1)/3 -> 66.67
    # index 4: gain 2/3 + (1 - 2/3)/3 = 7/9, loss 1/3 - (1/3)/3 = 2/9 -> 100 * 7/9 = 77.78
    # index 5: gain 7/9 + (1 - 7/9)/3 = 23/27, loss 2/9 - (2/9)/3 = 4/27 -> 100 * 23/27 = 85.19
    expected = [np.nan, np.nan, np.nan, 200 / 3, 700 / 9, 2300 / 27]
    np.testing.assert_allclose(rsi(close, 3), expected)


def test_rsi_of_flat_prices_is_50() -> None:
    assert rsi(np.full(30, 7.0), 14)[-1] == 50.0


def test_dmi_by_hand() -> None:
    high = np.array([10.0, 12, 11, 13, 14])
    low = np.array([8.0, 9, 7, 8, 11])
    close = np.array([9.0, 11, 8, 12, 13])
    # +DM: -, 2, 0, 2, 1   -DM: -, 0, 2, 0, 0   TR: -, 3, 4, 5, 3   (n = 2)
    # idx 2: s+ = 1, s- = 1, sTR = 3.5 -> +DI = -DI = 28.57, DX = 0
    # idx 3: s+ = 1.5, s- = 0.5, sTR = 4.25 -> +DI 35.29, -DI 11.76, DX = 100 * 1 / 2 = 50
    #        ADX seed = (0 + 50) / 2 = 25
    # idx 4: s+ = 1.25, s- = 0.25, sTR = 3.625 -> DX = 100 * 1 / 1.5 = 66.67,
    #        ADX = 25 + (66.67 - 25) / 2 = 45.83
    plus_di, minus_di, adx = dmi(high, low, close, 2)
    np.testing.assert_allclose(plus_di, [np.nan, np.nan, 100 / 3.5, 150 / 4.25, 125 / 3.625])
    np.testing.assert_allclose(minus_di, [np.nan, np.nan, 100 / 3.5, 50 / 4.25, 25 / 3.625])
    np.testing.assert_allclose(adx, [np.nan, np.nan, np.nan, 25.0, 25 + (200 / 3 - 25) / 2])


def test_safe_ratio_edges() -> None:
    out = safe_ratio(np.array([1.0, 0.0, -1.0, np.nan]), np.array([0.0, 0.0, 0.0, 1.0]))
    assert out[0] == np.inf and out[1] == 0.0 and out[2] == -np.inf and np.isnan(out[3])


@pytest.mark.parametrize("period", [14, 5])
def test_matches_pandas_ta_after_warm_up(period: int) -> None:
    # pandas-ta seeds its Wilder averages differently; after 400 bars the seeds are forgotten.
    f = random_walk(1500, seed=3)
    h, lo, c = (f[k].to_numpy() for k in ("high", "low", "close"))
    warm = slice(400, None)
    ref_rsi = ta.rsi(f["close"], length=period, talib=False).to_numpy()
    ref_atr = ta.atr(f["high"], f["low"], f["close"], length=period, talib=False).to_numpy()
    ref_adx = ta.adx(f["high"], f["low"], f["close"], length=period, talib=False)
    ref_sma = ta.sma(f["close"], length=period, talib=False).to_numpy()
    plus_di, minus_di, adx = dmi(h, lo, c, period)
    np.testing.assert_allclose(rsi(c, period)[warm], ref_rsi[warm], rtol=1e-9)
    np.testing.assert_allclose(atr(h, lo, c, period)[warm], ref_atr[warm], rtol=1e-9)
    np.testing.assert_allclose(adx[warm], ref_adx[f"ADX_{period}"].to_numpy()[warm], rtol=1e-9)
    np.testing.assert_allclose(plus_di[warm], ref_adx[f"DMP_{period}"].to_numpy()[warm], rtol=1e-9)
    np.testing.assert_allclose(minus_di[warm], ref_adx[f"DMN_{period}"].to_numpy()[warm], rtol=1e-9)
    np.testing.assert_allclose(sma(c, period)[period:], ref_sma[period:], rtol=1e-12)
