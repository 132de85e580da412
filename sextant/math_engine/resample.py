"""1h candles to 4h or 1d candles, UTC-aligned, complete buckets only."""

from typing import Literal

import numpy as np
import pandas as pd

from sextant.math_engine.candles import HOUR_NS, OHLCV, TIMEFRAME_HOURS, to_frame, utc_index


def resample_ohlcv(frame_1h: pd.DataFrame, rule: Literal["4h", "1d"]) -> pd.DataFrame:
    """Aggregate 1h bars into `rule` buckets aligned on UTC midnight (00:00, 04:00, ...).

    open = first, high = max, low = min, close = last, volume = sum. A bucket is kept only when
    all of its 1h bars are present: a trailing bucket that has not closed yet is dropped, and
    so is a bucket with an exchange gap (no partial bar is passed off as a full one). This is how
    the exchange's native 4h/1d bars relate to its 1h bars.
    """
    if rule not in ("4h", "1d"):
        raise ValueError(f"rule must be '4h' or '1d', got {rule!r}")
    hours = TIMEFRAME_HOURS[rule]
    index = utc_index(frame_1h.index)
    if len(index) == 0:
        return pd.DataFrame({c: np.array([], dtype=float) for c in OHLCV}, index=index)
    open_ns = index.asi8
    bucket = open_ns - open_ns % (hours * HOUR_NS)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(bucket)] - 1
    counts = ends - starts + 1
    values = {c: frame_1h[c].to_numpy(dtype=np.float64) for c in OHLCV}
    columns = {
        "open": values["open"][starts],
        "high": np.maximum.reduceat(values["high"], starts),
        "low": np.minimum.reduceat(values["low"], starts),
        "close": values["close"][ends],
        "volume": np.add.reduceat(values["volume"], starts),
    }
    complete = counts == hours
    return to_frame({k: v[complete] for k, v in columns.items()}, bucket[starts][complete])
