"""Causal indicator primitives on numpy arrays: each output at index t reads inputs <= t only.

Plain numpy rather than pandas-ta: the per-cycle path runs them on hundreds of small frames per
cycle, where pandas-ta's per-call overhead dominates (see the field notes). The tests check these
against pandas-ta (`talib=False`) after warm-up. Warm-up rows are NaN.

Wilder smoothing is seeded with the simple mean of its first `n` inputs (as TA-Lib and Wilder's
book do), so a value depends on where the series starts; the dependence decays as (1 - 1/n)^k
and is below 1e-12 after ~400 bars of a 14-period smoothing.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

FloatArray = np.ndarray


def nan_array(n: int) -> FloatArray:
    return np.full(n, np.nan)


def shift(x: FloatArray, k: int) -> FloatArray:
    """x[t - k] at t (NaN for t < k)."""
    out = nan_array(len(x))
    if 0 < k < len(x):
        out[k:] = x[:-k]
    elif k == 0:
        out[:] = x
    return out


def sma(x: FloatArray, n: int) -> FloatArray:
    """Simple moving average over the last n values, n-1 warm-up NaNs.

    A mean per window (not a running cumsum) so that a value does not depend on where the
    series starts: the per-cycle window and the full backtest series give identical numbers.
    """
    out = nan_array(len(x))
    if len(x) >= n:
        out[n - 1 :] = sliding_window_view(x, n).mean(axis=1)
    return out


def rolling_median(x: FloatArray, n: int) -> FloatArray:
    out = nan_array(len(x))
    if len(x) >= n:
        out[n - 1 :] = np.median(sliding_window_view(x, n), axis=1)
    return out


def wilder(x: FloatArray, n: int, start: int = 0) -> FloatArray:
    """Wilder's smoothing (an EMA with alpha 1/n) of x[start:], seeded with their first n mean.

    Recursive, so a Python loop over a list: no scipy here, and at 500 bars this costs ~50 us.
    """
    out = nan_array(len(x))
    first = start + n - 1
    if len(x) <= first:
        return out
    values = x[start:].tolist()
    y = sum(values[:n]) / n
    smoothed = [y]
    alpha = 1.0 / n
    for v in values[n:]:
        y += (v - y) * alpha
        smoothed.append(y)
    out[first:] = smoothed
    return out


def safe_ratio(num: FloatArray, den: FloatArray, zero_over_zero: float = 0.0) -> FloatArray:
    """num / den where den != 0; +-inf for x/0 (callers clip), `zero_over_zero` for 0/0.

    NaN in either input stays NaN (unavailable stays unavailable).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    zero_den = den == 0
    out = np.where(zero_den & (num == 0), zero_over_zero, out)
    return out


def true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """Wilder's true range; NaN on the first bar, which has no previous close."""
    prev_close = shift(close, 1)
    tr = np.maximum(high - low, np.maximum(np.abs(high - prev_close), np.abs(low - prev_close)))
    tr[0] = np.nan
    return tr


def atr(high: FloatArray, low: FloatArray, close: FloatArray, n: int) -> FloatArray:
    """Wilder ATR; first value at index n (as TA-Lib)."""
    return wilder(true_range(high, low, close), n, start=1)


def rsi(close: FloatArray, n: int) -> FloatArray:
    """Wilder RSI in [0, 100]; first value at index n. Flat prices (no gain, no loss) give 50."""
    change = np.diff(close, prepend=np.nan)
    gain = wilder(np.where(change > 0, change, 0.0), n, start=1)
    loss = wilder(np.where(change < 0, -change, 0.0), n, start=1)
    return 100.0 * safe_ratio(gain, gain + loss, zero_over_zero=0.5)


def dmi(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    n: int,
    smoothed_tr: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Wilder's +DI, -DI (first at index n) and ADX (first at index 2n - 1), all in [0, 100].

    `smoothed_tr` is `atr(high, low, close, n)` when the caller has it already.
    With no range at all (flat bars) DI and DX are 0 rather than 0/0: no trend.
    """
    up = high - shift(high, 1)
    down = shift(low, 1) - low
    plus_dm = np.where((up > down) & (up > 0), up, 0.0)
    minus_dm = np.where((down > up) & (down > 0), down, 0.0)
    if smoothed_tr is None:
        smoothed_tr = atr(high, low, close, n)
    plus_di = 100.0 * safe_ratio(wilder(plus_dm, n, start=1), smoothed_tr)
    minus_di = 100.0 * safe_ratio(wilder(minus_dm, n, start=1), smoothed_tr)
    dx = 100.0 * safe_ratio(np.abs(plus_di - minus_di), plus_di + minus_di)
    adx = wilder(dx, n, start=n)
    return plus_di, minus_di, adx
