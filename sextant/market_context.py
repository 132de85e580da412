"""Market-wide context computed from the reference symbol (BTC). Pure."""

import numpy as np
import pandas as pd

from sextant.math_engine.candles import utc_index
from sextant.math_engine.change import change_over_hours


def change_pct(closes: pd.Series, hours: int) -> float | None:
    """The change of the last closed 1h bar over `hours` hours, in percent (None: unknown).
    `closes` is indexed by bar open time."""
    if closes.empty:
        return None
    open_ns = utc_index(closes.index).asi8
    last = change_over_hours(open_ns, closes.to_numpy(float), hours)[-1]
    return float(last) if np.isfinite(last) else None


def open_interest_in_base(points: pd.Series, unit: str, closes_1h: pd.Series) -> pd.Series:
    """Open interest in base-coin units, so its change measures positioning, not price.

    USD notional is divided by the close known at each point's time (the 1h bar that closed at
    or before it); `closes_1h` is indexed by bar open time.
    """
    if unit == "base" or points.empty:
        return points
    by_close_time = closes_1h.copy()
    by_close_time.index = by_close_time.index + pd.Timedelta(hours=1)
    price = by_close_time.reindex(points.index, method="ffill")
    out = (points / price).dropna()
    return out[out > 0]
