"""Handmade candle frames and access to the shared real data for the math-engine tests."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# The repo's bundled subset (always there, also in CI); the shared folder as a fallback.
BUNDLED_FUTURES = Path(__file__).resolve().parents[2] / "data" / "bundled" / "futures"
DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FUTURES = DATA_DIR / "futures"
START = pd.Timestamp("2025-01-01", tz="UTC")


def candles(
    close: list[float] | np.ndarray,
    *,
    spread: float = 1.0,
    volume: float | list[float] | np.ndarray = 1.0,
    freq: str = "1h",
    start: pd.Timestamp = START,
) -> pd.DataFrame:
    """Bars closing at `close`, high = close + spread, low = close - spread, open = prev close."""
    close = np.asarray(close, dtype=float)
    index = pd.date_range(start, periods=len(close), freq=freq, tz="UTC")
    open_ = np.r_[close[0], close[:-1]]
    vol = np.broadcast_to(np.asarray(volume, dtype=float), close.shape).copy()
    return pd.DataFrame(
        {
            "open": open_,
            "high": close + spread,
            "low": close - spread,
            "close": close,
            "volume": vol,
        },
        index=index,
    )


def ohlcv(rows: list[tuple[float, float, float, float, float]], freq: str = "1h") -> pd.DataFrame:
    """Bars given as (open, high, low, close, volume) tuples."""
    index = pd.date_range(START, periods=len(rows), freq=freq, tz="UTC")
    return pd.DataFrame(rows, columns=["open", "high", "low", "close", "volume"], index=index)


def random_walk(n: int, seed: int, freq: str = "1h", start: pd.Timestamp = START) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0.0, 0.005, (2, n))) * close
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + wick[0],
            "low": np.minimum(open_, close) - wick[1],
            "close": close,
            "volume": rng.uniform(10.0, 1000.0, n),
        },
        index=index,
    )


def load_futures(name: str) -> pd.DataFrame:
    """A futures CSV (bundled .csv.gz first, else ../shared/data) as a candle frame."""
    path = BUNDLED_FUTURES / f"{name}.gz"
    if not path.exists():
        path = FUTURES / name
    if not path.exists():
        pytest.skip(f"{name} not available")
    frame = pd.read_csv(path)
    frame.index = pd.to_datetime(frame.pop("timestamp_ms"), unit="ms", utc=True)
    return frame.astype(float)
