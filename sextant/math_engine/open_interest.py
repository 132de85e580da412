"""Open-interest component: who is opening or closing positions, from OI change vs price change.

The OI series (index: the time each value was observed, UTC; values: USD notional) is joined
to the bars as of each bar's CLOSE: a bar sees the last value observed at or before its close,
and none older than `oi_max_age_hours`.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sextant.config.math import MathSettings
from sextant.math_engine.candles import HOUR_NS, Candles, candles_from_frame, to_frame, utc_index
from sextant.math_engine.indicators import atr, nan_array, shift
from sextant.math_engine.models import Timeframe

_VALUE_COLUMNS = ("open_interest_value_usd", "open_interest_value", "open_interest", "value")
SIGNALS = ("new_longs", "short_squeeze", "new_shorts", "long_liquidation", "neutral")


@dataclass(frozen=True, slots=True)
class OpenInterest:
    """OI observations: epoch-ns times (ascending, unique) and USD values."""

    times_ns: np.ndarray
    values: np.ndarray


def to_open_interest(data: pd.DataFrame | pd.Series | OpenInterest | None) -> OpenInterest | None:
    """Accept a Series, a DataFrame (DatetimeIndex or a `timestamp_ms` column; the value column
    named as in the data folder, or the only column) or None."""
    if data is None or isinstance(data, OpenInterest):
        return data
    if isinstance(data, pd.DataFrame):
        frame = data
        if "timestamp_ms" in frame.columns:
            frame = frame.set_index(pd.to_datetime(frame["timestamp_ms"], unit="ms", utc=True))
            frame = frame.drop(columns="timestamp_ms")
        names = [c for c in _VALUE_COLUMNS if c in frame.columns]
        if names:
            series = frame[names[0]]
        elif frame.shape[1] == 1:
            series = frame.iloc[:, 0]
        else:
            raise ValueError(f"cannot tell the open-interest column among {list(frame.columns)}")
    else:
        series = data
    series = pd.Series(series.to_numpy(dtype=np.float64), index=utc_index(series.index)).dropna()
    series = series[~series.index.duplicated(keep="last")].sort_index()
    return OpenInterest(series.index.asi8.astype(np.int64), series.to_numpy())


def as_of(oi: OpenInterest, times_ns: np.ndarray, max_age_ns: int) -> np.ndarray:
    """The last OI value observed at or before each time, NaN if none or older than max age."""
    if len(oi.times_ns) == 0:
        return nan_array(len(times_ns))
    idx = np.searchsorted(oi.times_ns, times_ns, side="right") - 1
    safe = np.maximum(idx, 0)
    fresh = (idx >= 0) & (times_ns - oi.times_ns[safe] <= max_age_ns)
    return np.where(fresh, oi.values[safe], np.nan)


def lookback_bars(settings: MathSettings, bar_ns: int) -> int:
    """The OI horizon in bars of this timeframe (24 h: 24 x 1h, 6 x 4h, 1 x 1d)."""
    return max(1, settings.oi_lookback_hours * HOUR_NS // bar_ns)


def open_interest_arrays(
    c: Candles,
    oi: OpenInterest | None,
    settings: MathSettings,
    atr_values: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-bar OI score in [-1, 1] and its inputs; all NaN without OI data.

    Over k = `lookback_bars` bars:
      oi_change_pct    = OI_t / OI_{t-k} - 1 (in %)
      price_change_pct = close_t / close_{t-k} - 1 (in %)
      price_strength   = min(1, |close_t - close_{t-k}| / (ATR_t x sqrt(k))): a move of one
                         random-walk-scaled ATR counts as a full move
      oi_strength      = min(1, |oi_change_pct| / oi_change_full_pct)
      score = sign(price change) x sqrt(price_strength x oi_strength) x w, where w = 1 when OI
              rises (new longs: positive / new shorts: negative) and `oi_unwind_weight` when it
              falls (short covering: weaker positive / long liquidation: weaker negative).
    """
    n = len(c)
    k = lookback_bars(settings, c.bar_ns)
    if atr_values is None:
        atr_values = atr(c.high, c.low, c.close, settings.atr_period)
    if oi is None:
        oi_now = nan_array(n)
    else:
        oi_now = as_of(oi, c.close_ns, int(settings.oi_max_age_hours * HOUR_NS))
    oi_then = shift(oi_now, k)
    close_then = shift(c.close, k)
    oi_change = 100.0 * (oi_now / oi_then - 1.0)
    price_change = 100.0 * (c.close / close_then - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        price_atr = np.abs(c.close - close_then) / (atr_values * np.sqrt(k))
    # Zero ATR (no range in the whole window) with a move is a full move; warm-up stays NaN.
    price_strength = np.where(
        np.isnan(atr_values), np.nan, np.minimum(1.0, np.where(atr_values > 0, price_atr, 1.0))
    )
    oi_strength = np.minimum(1.0, np.abs(oi_change) / settings.oi_change_full_pct)
    weight = np.where(oi_change < 0, settings.oi_unwind_weight, 1.0)
    score = np.sign(price_change) * np.sqrt(price_strength * oi_strength) * weight
    score = np.where(np.isnan(price_change) | np.isnan(price_strength), np.nan, score)
    up, down = price_change > 0, price_change < 0
    signal = np.select(
        [
            up & (oi_change > 0),
            up & (oi_change < 0),
            down & (oi_change > 0),
            down & (oi_change < 0),
        ],
        list(SIGNALS[:4]),
        "neutral",
    ).astype(object)
    signal = np.where(np.isnan(score), None, signal)
    return {
        "score": score,
        "open_interest": oi_now,
        "oi_change_pct": oi_change,
        "price_change_pct": price_change,
        "price_strength": price_strength,
        "oi_strength": oi_strength,
        "signal": signal,
        "squeeze": np.isin(signal, ["short_squeeze", "long_liquidation"]),
    }


def open_interest_note(
    arrays: dict[str, np.ndarray], i: int, settings: MathSettings, has_data: bool
) -> str:
    if not has_data:
        return "no open-interest data"
    if np.isnan(arrays["open_interest"][i]):
        return f"no open-interest value within {settings.oi_max_age_hours:g} h of the bar close"
    if np.isnan(arrays["oi_change_pct"][i]):
        return f"open-interest history shorter than {settings.oi_lookback_hours} h"
    if np.isnan(arrays["score"][i]):
        return f"not enough price history (ATR needs {settings.atr_period + 1} bars)"
    signal = arrays["signal"][i]
    if signal == "short_squeeze":
        return "price up while OI falls: short covering (squeeze), weaker bullish"
    if signal == "long_liquidation":
        return "price down while OI falls: long liquidation, weaker bearish"
    return ""


def open_interest_score(
    frame: pd.DataFrame,
    open_interest: pd.DataFrame | pd.Series | None,
    timeframe: Timeframe,
    settings: MathSettings | None = None,
) -> pd.DataFrame:
    """Per-bar OI score: column `score` in [-1, 1] (NaN without data) plus its inputs."""
    settings = settings or MathSettings()
    c = candles_from_frame(frame, timeframe)
    arrays = open_interest_arrays(c, to_open_interest(open_interest), settings)
    return to_frame(arrays, c.open_ns)
