"""The vectorised stage: everything that is elementwise over the 1h bars of one symbol.

Per symbol, once per backtest:
- the Math Engine over the whole series (`analyze_series`: causal, equal to `analyze` at every
  bar, see tests/math_engine/test_consistency.py);
- the inputs the replay source would put in a snapshot at each bar's close (bid/ask from the
  assumed spread, 24h quote volume, the last funding rate, whether open interest is served);
- the final score and its side through the Risk Manager's own array functions
  (`sextant.risk.weights`), the very functions the per-cycle path calls on single values.

The engine asks the full Risk Manager only about bars whose side is not WAIT: for those, this
module builds the same `MathAnalysis` and `MarketSnapshot` objects a cycle would hold.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from backtest.data import SymbolData
from sextant.config import Settings
from sextant.config.math import COMPONENTS as MATH_COMPONENTS
from sextant.config.math import TIMEFRAMES
from sextant.config.risk import COMPONENTS as RISK_COMPONENTS
from sextant.math_engine import analyze_series
from sextant.math_engine.analysis import veto_reason
from sextant.math_engine.models import ComponentScore, MathAnalysis, TimeframeAnalysis, Volatility
from sextant.models import CandleFrame, FundingInfo, MarketSnapshot, Ticker
from sextant.risk.weights import (
    base_weight_arrays,
    effective_weight_arrays,
    final_score_array,
    score_sides,
)
from tools.market_data.replay import FUNDING_MAX_AGE, OI_MAX_AGE

HOUR_NS = 3_600_000_000_000
# The replay source serves open interest only when its last point is at most this old.
REPLAY_OI_MAX_AGE_NS = int(OI_MAX_AGE.total_seconds()) * 1_000_000_000
QUOTE_VOLUME_BARS = 24  # the replay ticker's 24h quote volume: the last 24 closed 1h bars
_BAR_TIME_SUFFIX = ".bar_time"


def _opt(x: float) -> float | None:
    return None if x != x else float(x)  # NaN -> None


@lru_cache(maxsize=4096)
def _dt(ns: int) -> datetime:
    return pd.Timestamp(int(ns), tz="UTC").to_pydatetime()


def rolling_sum(x: np.ndarray, n: int) -> np.ndarray:
    """Sum of the last n values (fewer at the start, like `frame.iloc[-n:].sum()`)."""
    out = np.cumsum(x)
    if len(x) >= n:
        out[n - 1 :] = sliding_window_view(x, n).sum(axis=1)
    return out


def scores_and_sides(
    columns: dict[str, np.ndarray], settings: Settings, news: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Final score and side (1 LONG, -1 SHORT, 0 WAIT) per bar, news NaN = unavailable."""
    n = len(columns["score"])
    comps = {k: columns[k] for k in MATH_COMPONENTS}
    comps["news"] = news if news is not None else np.full(n, np.nan)
    base = base_weight_arrays(columns["regime"], settings.risk)
    available = {k: ~np.isnan(comps[k]) for k in RISK_COMPONENTS}
    weights = effective_weight_arrays(base, available, settings.risk.weight_redistribution)
    score = np.asarray(final_score_array(comps, weights), dtype=np.float64)
    return score, score_sides(score, settings.risk)


def _served_open_interest(close_ns: np.ndarray, points_ns: np.ndarray) -> np.ndarray:
    """Whether the replay source would hand the cycle open interest at each close time."""
    idx = np.searchsorted(points_ns, close_ns, side="right") - 1
    safe = np.maximum(idx, 0)
    return (idx >= 0) & (close_ns - points_ns[safe] <= REPLAY_OI_MAX_AGE_NS)


def math_columns(data: SymbolData, settings: Settings) -> dict[str, np.ndarray]:
    """`analyze_series` as numpy columns, with open interest exactly where a cycle gets it."""
    series = analyze_series(data.frames, None, settings.math)
    columns = {c: series[c].to_numpy() for c in series.columns}
    oi = data.open_interest_base
    if oi is not None and len(oi) and data.open_interest is not None:
        with_oi = analyze_series(data.frames, oi, settings.math)
        close_ns = data.hourly.index.asi8 + HOUR_NS
        served = _served_open_interest(close_ns, data.open_interest.index.asi8)
        for c in series.columns:
            if not c.endswith(_BAR_TIME_SUFFIX):
                columns[c] = np.where(served, with_oi[c].to_numpy(), columns[c])
    for c in list(columns):
        if c.endswith(_BAR_TIME_SUFFIX):
            columns[c] = pd.DatetimeIndex(series[c]).asi8.astype(np.int64)
    return columns


@dataclass
class SymbolSeries:
    """One symbol, every 1h bar: prices, the math, snapshot inputs, final score and side."""

    data: SymbolData
    settings: Settings
    open_ns: np.ndarray = field(init=False)
    open: np.ndarray = field(init=False)
    high: np.ndarray = field(init=False)
    low: np.ndarray = field(init=False)
    close: np.ndarray = field(init=False)
    columns: dict[str, np.ndarray] = field(init=False)
    score: np.ndarray = field(init=False)
    side: np.ndarray = field(init=False)
    bid: np.ndarray = field(init=False)
    ask: np.ndarray = field(init=False)
    quote_volume_24h: np.ndarray = field(init=False)
    funding_idx: np.ndarray = field(init=False)
    funding_ns: np.ndarray = field(init=False)
    funding_rate: np.ndarray = field(init=False)
    timeframes: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        h = self.data.hourly
        self.open_ns = h.index.asi8.astype(np.int64)
        self.open, self.high, self.low, self.close = (
            h[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close")
        )
        self.columns = math_columns(self.data, self.settings)
        self.timeframes = tuple(tf for tf in TIMEFRAMES if f"{tf}.score" in self.columns)
        self.score, self.side = scores_and_sides(self.columns, self.settings)
        # The replay ticker: bid/ask around the close with the assumed spread, 24h quote volume.
        half = self.settings.market.assumed_spread_pct / 100 / 2
        self.bid = self.close * (1 - half)
        self.ask = self.close * (1 + half)
        typical = (self.high + self.low + self.close) / 3
        volume = h["volume"].to_numpy(dtype=np.float64)
        self.quote_volume_24h = rolling_sum(volume * typical, QUOTE_VOLUME_BARS)
        # The last funding settlement at or before each bar's close, if fresh enough.
        if self.data.funding is not None and len(self.data.funding):
            self.funding_ns = self.data.funding.index.asi8.astype(np.int64)
            self.funding_rate = self.data.funding.to_numpy(dtype=np.float64)
        else:
            self.funding_ns = np.zeros(0, dtype=np.int64)
            self.funding_rate = np.zeros(0)
        close_ns = self.open_ns + HOUR_NS
        idx = np.searchsorted(self.funding_ns, close_ns, side="right") - 1
        max_age = int(FUNDING_MAX_AGE.total_seconds()) * 1_000_000_000
        fresh = (idx >= 0) & (close_ns - self.funding_ns[np.maximum(idx, 0)] <= max_age)
        self.funding_idx = np.where(fresh, idx, -1)

    @property
    def symbol(self) -> str:
        return self.data.symbol

    def __len__(self) -> int:
        return len(self.close)

    # -- the objects a cycle would hold at the close of bar i --------------------------------

    def snapshot(self, i: int, as_of: datetime) -> MarketSnapshot:
        funding = None
        j = int(self.funding_idx[i])
        if j >= 0:
            last = _dt(int(self.funding_ns[j]))
            funding = FundingInfo(
                rate=float(self.funding_rate[j]),
                interval_hours=8,
                next_time=last + timedelta(hours=8),
                assumed=True,
            )
        return MarketSnapshot.model_construct(
            symbol=self.symbol,
            as_of=as_of,
            source="replay",
            market=self.data.market,
            candles={
                "1h": CandleFrame.model_construct(
                    symbol=self.symbol, timeframe="1h", df=self.data.hourly.iloc[i : i + 1]
                )
            },
            ticker=Ticker(
                bid=float(self.bid[i]),
                ask=float(self.ask[i]),
                last=float(self.close[i]),
                quote_volume_24h=float(self.quote_volume_24h[i]),
                assumed_fields=("bid", "ask"),
            ),
            funding=funding,
            open_interest=None,
            assumptions=[],
        )

    def analysis(self, i: int, as_of: datetime) -> MathAnalysis:
        c = self.columns
        timeframes: dict[str, TimeframeAnalysis] = {}
        for tf in self.timeframes:
            score = c[f"{tf}.score"][i]
            if score != score:
                continue
            parts = {
                name: ComponentScore(name=name, value=_opt(c[f"{tf}.{name}"][i]))
                for name in MATH_COMPONENTS
            }
            timeframes[tf] = TimeframeAnalysis(
                timeframe=tf,
                bar_time=_dt(int(c[f"{tf}.bar_time"][i])),
                close=float(c[f"{tf}.close"][i]),
                regime=c[f"{tf}.regime"][i],
                score=float(score),
                vote=float(c[f"{tf}.vote"][i]),
                confidence=float(c[f"{tf}.confidence"][i]),
                **parts,
            )
        veto = c["daily_veto"][i]
        daily = float(c["1d.score"][i]) if "1d.score" in c else float("nan")
        return MathAnalysis(
            symbol=self.symbol,
            as_of=as_of,
            timeframes=timeframes,
            components={name: _opt(c[name][i]) for name in MATH_COMPONENTS},
            score=_opt(c["score"][i]),
            regime=c["regime"][i],
            vote=_opt(c["vote"][i]),
            confidence=_opt(c["confidence"][i]),
            daily_veto=veto,
            daily_veto_reason=veto_reason(veto, daily, self.settings.math),
            volatility=Volatility(
                atr_pct_30d=_opt(c["atr_pct_30d"][i]),
                volatility_ratio=_opt(c["volatility_ratio"][i]),
                change_4h_pct=_opt(c["change_4h_pct"][i]),
                adverse_long_pct=_opt(c["adverse_long_pct"][i]),
                adverse_short_pct=_opt(c["adverse_short_pct"][i]),
            ),
            # A cycle's snapshot carries at most market.history.1d daily bars.
            daily_bars=min(int(c["daily_bars"][i]), self.settings.market.history.d1),
            notes=(),
        )
