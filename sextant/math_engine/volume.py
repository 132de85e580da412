"""Volume component: buyer/seller pressure weighted by how busy the market is."""

import numpy as np
import pandas as pd

from sextant.config.math import MathSettings
from sextant.math_engine.candles import Candles, candles_from_frame, to_frame
from sextant.math_engine.indicators import safe_ratio, shift, sma


def volume_arrays(c: Candles, settings: MathSettings) -> dict[str, np.ndarray]:
    """Per-bar volume score in [-1, 1] and its inputs.

    clv       = ((close - low) - (high - close)) / (high - low), 0 for a bar without range:
                +1 closing on the high (buyers won the bar), -1 on the low
    pressure  = sum(clv x volume) / sum(volume) over `volume_lookback` bars (Chaikin money flow)
    rel_vol   = bar volume / mean volume of the previous `volume_lookback` bars
    score     = clip(pressure x min(rel_vol, volume_rv_cap), -1, 1)
    Quote volume (close x volume, in USDT) is reported as an input, for liquidity.
    """
    n = settings.volume_lookback
    clv = safe_ratio((c.close - c.low) - (c.high - c.close), c.high - c.low)
    pressure = safe_ratio(sma(clv * c.volume, n), sma(c.volume, n))
    baseline = shift(sma(c.volume, n), 1)
    rel_volume = safe_ratio(c.volume, baseline)
    factor = np.minimum(rel_volume, settings.volume_rv_cap)
    quote_volume = c.close * c.volume
    return {
        "score": np.clip(pressure * factor, -1.0, 1.0),
        "cmf": pressure,
        # x / 0 after a silent lookback is reported as unknown rather than infinite.
        "rel_volume": np.where(np.isinf(rel_volume), np.nan, rel_volume),
        "quote_volume": quote_volume,
        "avg_quote_volume": sma(quote_volume, n),
    }


def volume_note(arrays: dict[str, np.ndarray], i: int, settings: MathSettings) -> str:
    if np.isnan(arrays["score"][i]):
        return f"unavailable: needs {settings.volume_lookback + 1} bars, got {i + 1}"
    return ""


def volume_score(frame: pd.DataFrame, settings: MathSettings | None = None) -> pd.DataFrame:
    """Per-bar volume pressure: column `score` in [-1, 1] plus its inputs."""
    settings = settings or MathSettings()
    c = candles_from_frame(frame, "1h")
    return to_frame(volume_arrays(c, settings), c.open_ns)
