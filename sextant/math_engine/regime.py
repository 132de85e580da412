"""Market regime per bar: volatile, trending up/down (ADX and directional indicators) or ranging."""

import numpy as np
import pandas as pd

from sextant.config.math import MathSettings
from sextant.math_engine.candles import Candles, candles_from_frame, to_frame
from sextant.math_engine.indicators import atr, dmi, rolling_median

REGIMES = ("trending_up", "trending_down", "ranging", "volatile")


def regime_arrays(
    c: Candles, settings: MathSettings, atr_values: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Per-bar regime and its inputs.

    - volatile: ATR% >= `volatile_atr_ratio` x its rolling median (checked first: a shock
      dominates whatever trend there was);
    - trending_up / trending_down: ADX >= `adx_trend_threshold`, direction from +DI vs -DI;
    - ranging: otherwise, including warm-up bars where ADX is not yet defined.

    `trend_direction` (+1/-1/0) is the ADX/DI reading alone; the momentum component uses it to
    read RSI even when volatility has put the bar in the volatile regime.
    """
    if atr_values is None:
        atr_values = atr(c.high, c.low, c.close, settings.atr_period)
    same_period = settings.adx_period == settings.atr_period
    plus_di, minus_di, adx = dmi(
        c.high, c.low, c.close, settings.adx_period, atr_values if same_period else None
    )
    atr_pct = 100.0 * atr_values / c.close
    median = rolling_median(atr_pct, settings.volatile_median_bars)
    # median > 0 guards flat history, where 0 >= k x 0 would call dead calm "volatile".
    volatile = (median > 0) & (atr_pct >= settings.volatile_atr_ratio * median)
    trending = adx >= settings.adx_trend_threshold
    direction = np.where(
        trending, np.where(plus_di > minus_di, 1.0, np.where(minus_di > plus_di, -1.0, 0.0)), 0.0
    )
    regime = np.select(
        [volatile, direction > 0, direction < 0],
        ["volatile", "trending_up", "trending_down"],
        "ranging",
    ).astype(object)
    return {
        "regime": regime,
        "trend_direction": direction,
        "adx": adx,
        "plus_di": plus_di,
        "minus_di": minus_di,
        "atr_pct": atr_pct,
        "atr_pct_median": median,
    }


def regime_note(arrays: dict[str, np.ndarray], i: int, settings: MathSettings) -> str:
    notes = []
    if np.isnan(arrays["adx"][i]):
        notes.append(f"ADX needs {2 * settings.adx_period} bars: regime defaults to ranging")
    if np.isnan(arrays["atr_pct_median"][i]):
        notes.append(
            f"volatile test needs {settings.volatile_median_bars + settings.atr_period} bars"
        )
    return "; ".join(notes)


def regime_frame(frame: pd.DataFrame, settings: MathSettings | None = None) -> pd.DataFrame:
    """Per-bar regime (column `regime`) with ADX, +DI, -DI, ATR% and its rolling median."""
    settings = settings or MathSettings()
    c = candles_from_frame(frame, "1h")
    return to_frame(regime_arrays(c, settings), c.open_ns)
