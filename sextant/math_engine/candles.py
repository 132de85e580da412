"""Candle frames in, numpy arrays out: the one place that knows the DataFrame layout.

A candle frame has a UTC DatetimeIndex of bar OPEN times (ascending, unique) and float columns
open, high, low, close, volume; only closed bars are passed in.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sextant.math_engine.models import Timeframe

OHLCV = ("open", "high", "low", "close", "volume")
HOUR_NS = 3_600_000_000_000
TIMEFRAME_HOURS: dict[str, int] = {"1h": 1, "4h": 4, "1d": 24}


def timeframe_ns(timeframe: Timeframe) -> int:
    return TIMEFRAME_HOURS[timeframe] * HOUR_NS


def utc_index(index: pd.Index) -> pd.DatetimeIndex:
    """The index as UTC nanoseconds; a naive index is taken to be UTC already."""
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError(f"candle frames need a DatetimeIndex of bar open times, got {type(index)}")
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return index.as_unit("ns")


@dataclass(frozen=True, slots=True)
class Candles:
    """Arrays of one candle frame. `open_ns` / `close_ns` are epoch nanoseconds (UTC)."""

    open_ns: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    bar_ns: int

    def __len__(self) -> int:
        return len(self.close)

    @property
    def close_ns(self) -> np.ndarray:
        return self.open_ns + self.bar_ns

    def head(self, n: int) -> "Candles":
        """The first n bars (used to drop bars that close after the analysis time)."""
        return Candles(
            self.open_ns[:n],
            self.open[:n],
            self.high[:n],
            self.low[:n],
            self.close[:n],
            self.volume[:n],
            self.bar_ns,
        )


def candles_from_frame(frame: pd.DataFrame, timeframe: Timeframe) -> Candles:
    missing = [c for c in OHLCV if c not in frame.columns]
    if missing:
        raise ValueError(f"candle frame lacks columns {missing}")
    index = utc_index(frame.index)
    if len(index) > 1 and not index.is_monotonic_increasing:
        raise ValueError("candle frame index must be ascending")

    def col(name: str) -> np.ndarray:
        return np.asarray(frame[name].to_numpy(), dtype=np.float64)

    return Candles(
        open_ns=index.asi8.astype(np.int64, copy=False),
        open=col("open"),
        high=col("high"),
        low=col("low"),
        close=col("close"),
        volume=col("volume"),
        bar_ns=timeframe_ns(timeframe),
    )


def to_frame(columns: dict[str, np.ndarray], open_ns: np.ndarray) -> pd.DataFrame:
    """Per-bar arrays back to a DataFrame indexed by UTC bar open times."""
    return pd.DataFrame(columns, index=pd.DatetimeIndex(open_ns.view("datetime64[ns]"), tz="UTC"))
