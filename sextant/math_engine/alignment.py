"""Which bar of a slower timeframe a 1h bar may use: the last one CLOSED by the 1h bar's close.

A 4h bar opening 08:00 closes 12:00, so the 1h bar opening 11:00 (closing 12:00) is the first
that sees it. The same rule serves the per-cycle path (trim, then take the last bar) and the
backtest series (one index per 1h row), which is what keeps them equal.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sextant.math_engine.candles import TIMEFRAME_HOURS, Candles, candles_from_frame


def aligned_index(ref_close_ns: np.ndarray, close_ns: np.ndarray, bar_ns: int) -> np.ndarray:
    """For each reference close time, the index of the last bar with close <= it, or -1.

    -1 also when that bar is stale, i.e. a later bar should have closed by then (the frame
    stops early or has a hole): an old bar is never passed off as the current one.
    """
    idx = np.searchsorted(close_ns, ref_close_ns, side="right") - 1
    safe = np.maximum(idx, 0)
    fresh = (idx >= 0) & (ref_close_ns - close_ns[safe] < bar_ns) if len(close_ns) else idx >= 0
    return np.where(fresh, idx, -1)


def take(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """values[idx] with NaN (None for object arrays) where idx is -1."""
    if len(values) == 0:
        fill = None if values.dtype == object else np.nan
        return np.full(len(idx), fill, dtype=values.dtype if values.dtype == object else float)
    picked = values[np.maximum(idx, 0)]
    if values.dtype == object:
        return np.where(idx >= 0, picked, None)
    return np.where(idx >= 0, picked, np.nan)


@dataclass(frozen=True, slots=True)
class Prepared:
    """Candles trimmed to the analysis time; `ref_close_ns` is that time (epoch ns)."""

    ref_close_ns: int | None
    candles: dict[str, Candles]
    notes: tuple[str, ...]


def prepare(frames: Mapping[str, pd.DataFrame | None]) -> Prepared:
    """Per-cycle alignment: the analysis time is the close of the last 1h bar (else the latest
    close of any frame); slower bars closing after it are dropped, and a timeframe whose last
    bar is stale (see `aligned_index`) is left out with a note."""
    unknown = set(frames) - set(TIMEFRAME_HOURS)
    if unknown:
        raise ValueError(f"unknown timeframes {sorted(unknown)}; expected {list(TIMEFRAME_HOURS)}")
    raw = {
        tf: candles_from_frame(frame, tf)  # type: ignore[arg-type]
        for tf, frame in frames.items()
        if frame is not None and len(frame)
    }
    notes = [f"{tf}: no bars" for tf in TIMEFRAME_HOURS if tf in frames and tf not in raw]
    if not raw:
        return Prepared(None, {}, tuple(notes))
    ref = (
        int(raw["1h"].close_ns[-1])
        if "1h" in raw
        else max(int(c.close_ns[-1]) for c in raw.values())
    )
    kept: dict[str, Candles] = {}
    for tf in TIMEFRAME_HOURS:
        if tf not in raw:
            continue
        c = raw[tf]
        idx = int(aligned_index(np.array([ref]), c.close_ns, c.bar_ns)[0])
        if idx < 0:
            notes.append(f"{tf}: no bar closed within one {tf} of the analysis time (stale data)")
            continue
        kept[tf] = c if idx == len(c) - 1 else c.head(idx + 1)
    return Prepared(ref, kept, tuple(notes))
