"""Momentum component ("smart RSI"): RSI read differently in a trend and in a range."""

import numpy as np
import pandas as pd

from sextant.config.math import MathSettings
from sextant.math_engine.candles import Candles, candles_from_frame, to_frame
from sextant.math_engine.indicators import rsi
from sextant.math_engine.regime import regime_arrays


def _with_trend(r: np.ndarray, s: MathSettings) -> np.ndarray:
    """Up-trend reading: strength rises linearly from 0 at RSI 50 to 1 at `rsi_trend_strength`
    (and falls to -1 at the mirror level below 50); above `rsi_exhaustion` the trend is
    stretched, so the score falls linearly to `rsi_exhaustion_floor` at RSI 100."""
    strength = np.clip((r - 50.0) / (s.rsi_trend_strength - 50.0), -1.0, 1.0)
    damped = 1.0 - (1.0 - s.rsi_exhaustion_floor) * (r - s.rsi_exhaustion) / (
        100.0 - s.rsi_exhaustion
    )
    return np.where(r > s.rsi_exhaustion, damped, strength)


def _in_range(r: np.ndarray, s: MathSettings) -> np.ndarray:
    """Range reading: overbought is bearish, oversold bullish; linear through 0 at RSI 50."""
    above = -(r - 50.0) / (s.rsi_overbought - 50.0)
    below = (50.0 - r) / (50.0 - s.rsi_oversold)
    return np.clip(np.where(r >= 50.0, above, below), -1.0, 1.0)


def momentum_arrays(
    c: Candles, settings: MathSettings, regime: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Per-bar momentum in [-1, 1] from RSI and the regime arrays of the same bars.

    The reading follows the ADX/DI trend direction of the same bar (causal): up-trend ->
    `_with_trend(rsi)`, down-trend -> `-_with_trend(100 - rsi)` (mirror), no trend ->
    `_in_range(rsi)`. A volatile bar is read by its ADX/DI direction too (a breakout with high
    RSI is strength; a volatile bar without trend is read as a range).
    """
    r = rsi(c.close, settings.rsi_period)
    direction = regime["trend_direction"]
    score = np.select(
        [direction > 0, direction < 0],
        [_with_trend(r, settings), -_with_trend(100.0 - r, settings)],
        _in_range(r, settings),
    )
    mode = np.select([direction > 0, direction < 0], ["trend_up", "trend_down"], "range").astype(
        object
    )
    return {
        "score": np.where(np.isnan(r), np.nan, score),
        "rsi": r,
        "rsi_mode": mode,
        "regime": regime["regime"],
        "adx": regime["adx"],
    }


def momentum_note(arrays: dict[str, np.ndarray], i: int, settings: MathSettings) -> str:
    if np.isnan(arrays["rsi"][i]):
        return f"unavailable: RSI needs {settings.rsi_period + 1} bars, got {i + 1}"
    if np.isnan(arrays["adx"][i]):
        return f"RSI read as in a range: ADX needs {2 * settings.adx_period} bars, got {i + 1}"
    return ""


def momentum_score(
    frame: pd.DataFrame,
    settings: MathSettings | None = None,
    regime: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per-bar smart-RSI momentum: column `score` in [-1, 1] plus its inputs.

    `regime` is `regime_frame` of the same frame; computed here when not given.
    """
    settings = settings or MathSettings()
    c = candles_from_frame(frame, "1h")
    if regime is None:
        arrays = regime_arrays(c, settings)
    else:
        arrays = {k: regime[k].to_numpy() for k in ("regime", "trend_direction", "adx")}
    return to_frame(momentum_arrays(c, settings, arrays), c.open_ns)
