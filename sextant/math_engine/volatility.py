"""Volatility figures for the risk stage: 30-day ATR %, the news volatility ratio, 4h change."""

from collections.abc import Mapping

import numpy as np
import pandas as pd

from sextant.config.math import MathSettings
from sextant.math_engine.alignment import prepare
from sextant.math_engine.candles import Candles
from sextant.math_engine.change import change_over_hours
from sextant.math_engine.indicators import safe_ratio, sma, true_range
from sextant.math_engine.models import Volatility

CHANGE_BARS = 4  # fixed by the field's meaning (change_4h_pct) and the BTC veto it feeds


def daily_mean_true_range(c1d: Candles, settings: MathSettings) -> np.ndarray:
    """Mean true range of the last `atr_stop_days` daily bars (each needs its previous close)."""
    return sma(true_range(c1d.high, c1d.low, c1d.close), settings.atr_stop_days)


def hourly_volatility(c1h: Candles, settings: MathSettings) -> dict[str, np.ndarray]:
    """Per 1h bar: volatility_ratio and change_4h_pct.

    volatility_ratio = mean TR of the last `vol_ratio_recent_bars` / mean TR of the last
                       `vol_ratio_baseline_bars` (NaN until the baseline window is full)
    change_4h_pct    = close_t / close of the bar opened 4 h before - 1, in %; NaN when that
                       bar is missing (`change_over_hours`, also the cycle's BTC 4h change)
    """
    tr = true_range(c1h.high, c1h.low, c1h.close)
    recent = sma(tr, settings.vol_ratio_recent_bars)
    baseline = sma(tr, settings.vol_ratio_baseline_bars)
    ratio = safe_ratio(recent, baseline)
    ratio = np.where(np.isinf(ratio), np.nan, ratio)
    change = change_over_hours(c1h.open_ns, c1h.close, CHANGE_BARS)
    return {"volatility_ratio": ratio, "change_4h_pct": change, **adverse_excursions(c1h, settings)}


def adverse_excursions(c1h: Candles, settings: MathSettings) -> dict[str, np.ndarray]:
    """Per 1h bar t, the quantile stop's inputs, from closed bars only:

    excursion_long[t]  = 100 x (1 - min(low over bars t-H+1..t) / close[t-H])
    excursion_short[t] = 100 x (max(high over bars t-H+1..t) / close[t-H] - 1)
    (the worst move against an entry at bar t-H's close within H = excursion_horizon_hours
    bars, known once bar t has closed; never negative), and
    adverse_long_pct[t] / adverse_short_pct[t] = the `excursion_quantile` of the last
    L = excursion_lookback_hours excursions (linear interpolation; NaN until L exist).
    Windows count bars; the per-cycle path runs this on its last 1h bars and takes the last
    value, which sees the same L + H bars.
    """
    h, lookback, q = (
        settings.excursion_horizon_hours,
        settings.excursion_lookback_hours,
        settings.excursion_quantile,
    )
    low, high, close = pd.Series(c1h.low), pd.Series(c1h.high), pd.Series(c1h.close)
    entry = close.shift(h)
    long_ = (100.0 * (1.0 - low.rolling(h).min() / entry)).clip(lower=0.0)
    short = (100.0 * (high.rolling(h).max() / entry - 1.0)).clip(lower=0.0)
    return {
        "adverse_long_pct": long_.rolling(lookback).quantile(q).to_numpy(dtype=np.float64),
        "adverse_short_pct": short.rolling(lookback).quantile(q).to_numpy(dtype=np.float64),
    }


def atr_pct(daily_mtr: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Daily mean true range as % of the latest close (the price a stop is placed from)."""
    return 100.0 * daily_mtr / close


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def volatility_at(c1h: Candles | None, c1d: Candles | None, settings: MathSettings) -> Volatility:
    """The figures at the last bars of already-aligned 1h and 1d candles (either may be None).

    atr_pct_30d divides by the last 1h close when there is one, else by the last daily close.
    """
    atr_value = np.nan
    if c1d is not None and len(c1d):
        close = c1h.close[-1] if c1h is not None and len(c1h) else c1d.close[-1]
        atr_value = atr_pct(daily_mean_true_range(c1d, settings)[-1:], np.array([close]))[0]
    ratio = change = adverse_long = adverse_short = np.nan
    if c1h is not None and len(c1h):
        hourly = hourly_volatility(c1h, settings)
        ratio, change = hourly["volatility_ratio"][-1], hourly["change_4h_pct"][-1]
        adverse_long, adverse_short = (
            hourly["adverse_long_pct"][-1], hourly["adverse_short_pct"][-1]
        )
    return Volatility(
        atr_pct_30d=_finite(atr_value),
        volatility_ratio=_finite(ratio),
        change_4h_pct=_finite(change),
        adverse_long_pct=_finite(adverse_long),
        adverse_short_pct=_finite(adverse_short),
    )


def volatility(
    frames: Mapping[str, pd.DataFrame], settings: MathSettings | None = None
) -> Volatility:
    """Volatility at the latest bars of `frames` (keys "1h" and "1d"), aligned like `analyze`."""
    settings = settings or MathSettings()
    prepared = prepare(frames)
    return volatility_at(prepared.candles.get("1h"), prepared.candles.get("1d"), settings)
