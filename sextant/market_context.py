"""Market-wide context computed from the reference symbol (BTC). Pure."""

import pandas as pd


def change_pct(closes: pd.Series, bars: int) -> float | None:
    """Close-to-close change over the last `bars` closed bars, in percent."""
    if len(closes) <= bars:
        return None
    start = float(closes.iloc[-bars - 1])
    if start <= 0:
        return None
    return (float(closes.iloc[-1]) / start - 1) * 100


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
