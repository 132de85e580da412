"""Trend component: price vs the fast/mid/slow averages, their slope and their order."""

import numpy as np
import pandas as pd

from sextant.config.math import MathSettings
from sextant.math_engine.blend import nan_mean, nan_weighted_mean
from sextant.math_engine.candles import Candles, candles_from_frame, to_frame
from sextant.math_engine.indicators import atr, safe_ratio, shift, sma


def trend_arrays(
    c: Candles, settings: MathSettings, atr_values: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Per-bar trend score in [-1, 1] and its inputs.

    position  = mean over the available averages of clip((close - MA) / ATR / full, -1, 1)
    slope     = mean over fast and mid of clip((MA_t - MA_{t-L}) / ATR_t / full, -1, 1)
    alignment = mean over the available pairs (fast, mid), (mid, slow), (fast, slow) of
                sign(first - second): +1 when fast > mid > slow
    score     = weighted mean of the available parts (settings.trend_weight_*), renormalised.
    An average without enough history is NaN and simply drops out (noted per cycle).
    """
    s = settings
    if atr_values is None:
        atr_values = atr(c.high, c.low, c.close, s.atr_period)
    close = c.close
    out: dict[str, np.ndarray] = {"close": close, "atr": atr_values}
    positions, slopes = [], []
    mas = {}
    for key, period in (("fast", s.ma_fast), ("mid", s.ma_mid), ("slow", s.ma_slow)):
        ma = sma(close, period)
        mas[key] = ma
        distance = safe_ratio(close - ma, atr_values)
        out[f"ma_{key}"] = ma
        out[f"dist_{key}_atr"] = distance
        positions.append(np.clip(distance / s.trend_distance_full_atr, -1.0, 1.0))
        if key != "slow":
            slope = safe_ratio(ma - shift(ma, s.slope_lookback), atr_values)
            out[f"slope_{key}_atr"] = slope
            slopes.append(np.clip(slope / s.trend_slope_full_atr, -1.0, 1.0))
    pairs = [(mas["fast"], mas["mid"]), (mas["mid"], mas["slow"]), (mas["fast"], mas["slow"])]
    alignment = nan_mean([np.sign(a - b) for a, b in pairs])
    position = nan_mean(positions)
    slope = nan_mean(slopes)
    out["position"] = position
    out["slope"] = slope
    out["alignment"] = alignment
    score = nan_weighted_mean(
        [position, slope, alignment],
        [s.trend_weight_position, s.trend_weight_slope, s.trend_weight_alignment],
    )
    # Without the price-vs-average part there is no trend reading at all.
    out["score"] = np.where(np.isnan(position), np.nan, score)
    return out


def trend_note(arrays: dict[str, np.ndarray], i: int, settings: MathSettings) -> str:
    n_bars = i + 1
    if np.isnan(arrays["score"][i]):
        return (
            f"unavailable: needs {max(settings.ma_fast, settings.atr_period + 1)} bars, "
            f"got {n_bars}"
        )
    missing = [
        f"{name} ({period} bars)"
        for name, period in (
            ("ma_fast", settings.ma_fast),
            ("ma_mid", settings.ma_mid),
            ("ma_slow", settings.ma_slow),
        )
        if np.isnan(arrays[name][i])
    ]
    if np.isnan(arrays["slope"][i]):
        missing.append(f"slope ({settings.ma_fast + settings.slope_lookback} bars)")
    if not missing:
        return ""
    return f"computed without {', '.join(missing)}: only {n_bars} bars"


def trend_score(frame: pd.DataFrame, settings: MathSettings | None = None) -> pd.DataFrame:
    """Per-bar trend: column `score` in [-1, 1] plus the inputs that produced it."""
    settings = settings or MathSettings()
    c = candles_from_frame(frame, "1h")
    return to_frame(trend_arrays(c, settings), c.open_ns)
