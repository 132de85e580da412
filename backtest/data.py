"""The data a backtest reads, in the CSV layout of the replay source, cut at the end of the span.

Per symbol: the 1h candles, the 4h/1d frames composed exactly as the replay source composes
them (native bars where the folder has them, the 1h resample after), the funding history and
the open-interest history (USD notional). Nothing after the end of the span is ever loaded.
"""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from sextant.config import Settings
from sextant.errors import DataError
from sextant.market_context import open_interest_in_base
from sextant.models import MarketInfo
from tools.market_data import csv_store
from tools.market_data.replay import ReplayMarketData, load_market_rules


@dataclass(frozen=True)
class SymbolData:
    symbol: str
    market: MarketInfo
    frames: dict[str, pd.DataFrame]  # "1h", "4h", "1d": closed bars, index = bar open time
    funding: pd.Series | None  # realised rate per funding time (fraction)
    open_interest: pd.Series | None  # USD notional per observation time
    open_interest_base: pd.Series | None  # the same in base-coin units (as the cycle uses it)

    @property
    def hourly(self) -> pd.DataFrame:
        return self.frames["1h"]


@dataclass(frozen=True)
class DataSet:
    data_dir: Path
    symbols: dict[str, SymbolData]  # in the order asked for
    skipped: dict[str, str]  # symbol -> why it is not in the backtest


def _cut(frame: pd.DataFrame, end: pd.Timestamp, inclusive: bool) -> pd.DataFrame:
    return frame.loc[frame.index <= end] if inclusive else frame.loc[frame.index < end]


def load_symbol(
    replay: ReplayMarketData, symbol: str, market: MarketInfo, end: datetime
) -> SymbolData | str:
    """One symbol's data closed by `end`, or the reason it has none."""
    data_dir = replay.data_dir
    path = csv_store.ohlcv_path(data_dir, symbol, "1h")
    if path is None:
        return f"no 1h candles in {data_dir}"
    stop = pd.Timestamp(end)
    try:
        # A 1h bar is usable once closed: open time + 1h <= end.
        hourly = _cut(csv_store.read_frame(path), stop - pd.Timedelta(hours=1), inclusive=True)
    except (ValueError, OSError) as exc:
        return f"bad data: {exc}"
    if len(hourly) < 2:
        return f"no candles before {stop:%Y-%m-%d %H:%M}"
    frames = {"1h": hourly}
    for tf in ("4h", "1d"):
        # The replay source's own composition (native bars, then the 1h resample).
        frames[tf] = replay.higher_timeframe(symbol, tf, hourly, end)
    funding = None
    fpath = csv_store.funding_path(data_dir, symbol)
    if fpath is not None:
        funding = _cut(csv_store.read_frame(fpath), stop, inclusive=True)["funding_rate"]
    oi = oi_base = None
    opath = csv_store.open_interest_path(data_dir, symbol)
    if opath is not None:
        frame = _cut(csv_store.read_frame(opath), stop, inclusive=True)
        if len(frame):
            oi = frame[frame.columns[0]]
            # Base-coin units, converted with the close known at each point (as the cycle does).
            oi_base = open_interest_in_base(oi, "usd", hourly["close"])
    return SymbolData(symbol, market, frames, funding, oi, oi_base)


def load_data(
    settings: Settings, symbols: list[str], end: datetime, data_dir: Path | None = None
) -> DataSet:
    folder = Path(data_dir or settings.market.data_dir)
    if not (folder / "futures").is_dir():
        raise DataError(f"no futures/ folder in {folder}")
    replay = ReplayMarketData(settings, folder)
    rules = load_market_rules(folder)
    loaded: dict[str, SymbolData] = {}
    skipped: dict[str, str] = {}
    for symbol in symbols:
        market = rules.get(symbol)
        if market is None:
            skipped[symbol] = "no trading rules (markets.json)"
            continue
        got = load_symbol(replay, symbol, market, end)
        if isinstance(got, str):
            skipped[symbol] = got
        else:
            loaded[symbol] = got
    return DataSet(folder, loaded, skipped)
