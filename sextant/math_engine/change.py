"""Price change over a span of hours, by time (never by row position)."""

import numpy as np

from sextant.math_engine.candles import HOUR_NS


def change_over_hours(open_ns: np.ndarray, close: np.ndarray, hours: int) -> np.ndarray:
    """Per 1h bar: its close against the close of the bar that opened exactly `hours` earlier,
    in percent; NaN when that bar is not in the data (a gap) or its close is not positive.

    Time decides, never position: across a hole in the data the bar "4 rows back" is not the
    bar 4 hours back. The one definition of the BTC-dump veto's 4h change (`hours=4`), used by
    the cycle (`change_pct`) and the backtest's vectorised stage alike.
    """
    n = len(close)
    out = np.full(n, np.nan)
    if n == 0:
        return out
    then = open_ns - hours * HOUR_NS
    idx = np.searchsorted(open_ns, then)
    safe = np.minimum(idx, n - 1)
    found = (idx < n) & (open_ns[safe] == then)
    prev = np.where(found, close[safe], np.nan)
    ok = found & (prev > 0)
    out[ok] = 100.0 * (close[ok] / prev[ok] - 1.0)
    return out
