"""Reads the shared CSV layout (futures/, funding/, open_interest/): plain, gzip or xz CSV."""

from functools import lru_cache
from pathlib import Path

import pandas as pd


def base_name(symbol: str) -> str:
    """'BTC/USDT:USDT' -> 'BTC_USDT' (the file-name stem used by the data layout)."""
    pair = symbol.split(":", 1)[0]
    return pair.replace("/", "_")


def symbol_of(stem: str) -> str:
    base, quote = stem.split("_", 1)
    return f"{base}/{quote}:{quote}"


# pandas picks the decompressor from the suffix; a plain file wins over a compressed twin.
SUFFIXES = (".csv", ".csv.gz", ".csv.xz")


def find_file(data_dir: Path, sub: str, stem: str) -> Path | None:
    for suffix in SUFFIXES:
        p = data_dir / sub / f"{stem}{suffix}"
        if p.is_file():
            return p
    return None


@lru_cache(maxsize=256)
def _read(path: str, mtime_ns: int) -> pd.DataFrame:
    # mtime in the key: a file rewritten by `sextant data download` is read again.
    df = pd.read_csv(path)
    if "timestamp_ms" not in df.columns:
        raise ValueError(f"{path}: no timestamp_ms column")
    idx = pd.to_datetime(df.pop("timestamp_ms").astype("int64"), unit="ms", utc=True)
    df.index = pd.DatetimeIndex(idx, name="time")
    if not df.index.is_monotonic_increasing or df.index.has_duplicates:
        raise ValueError(f"{path}: timestamps not strictly increasing")
    return df.astype("float64")


def read_frame(path: Path) -> pd.DataFrame:
    """A cached, read-only view: callers slice, never mutate."""
    return _read(str(path), path.stat().st_mtime_ns)


def available_symbols(data_dir: Path) -> list[str]:
    out = []
    for p in sorted((data_dir / "futures").glob("*-1h.csv*")):
        stem = p.name.split("-1h.csv")[0]
        out.append(symbol_of(stem))
    return out


def ohlcv_path(data_dir: Path, symbol: str, timeframe: str) -> Path | None:
    return find_file(data_dir, "futures", f"{base_name(symbol)}-{timeframe}")


def funding_path(data_dir: Path, symbol: str) -> Path | None:
    return find_file(data_dir, "funding", f"{base_name(symbol)}-funding")


def open_interest_path(data_dir: Path, symbol: str) -> Path | None:
    return find_file(data_dir, "open_interest", f"{base_name(symbol)}-oi-1d")
