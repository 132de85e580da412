"""Multi-timeframe analysis: per cycle (`analyze`) and as a whole series (`analyze_series`).

Both run `timeframe_arrays` on each timeframe, pick the bar of each slower timeframe that the
current 1h bar may see (`alignment`), and `combine` them with the same array arithmetic; the
per-cycle path simply works on one row.
"""

from collections.abc import Mapping

import numpy as np
import pandas as pd

from sextant.config.math import COMPONENTS, TIMEFRAMES, MathSettings
from sextant.math_engine.alignment import aligned_index, prepare, take
from sextant.math_engine.blend import clip_unit, confidence, nan_weighted_mean
from sextant.math_engine.candles import candles_from_frame, to_frame
from sextant.math_engine.models import Direction, MathAnalysis, TimeframeAnalysis
from sextant.math_engine.open_interest import OpenInterest, to_open_interest
from sextant.math_engine.regime import REGIMES
from sextant.math_engine.timeframe import TimeframeArrays, analysis_at, timeframe_arrays
from sextant.math_engine.volatility import (
    atr_pct,
    daily_mean_true_range,
    hourly_volatility,
    volatility_at,
)

OpenInterestInput = pd.DataFrame | pd.Series | OpenInterest | None
# Per timeframe, per key (score, vote, regime and the four components), aligned arrays.
Rows = dict[str, dict[str, np.ndarray]]


def _rows(t: TimeframeArrays, idx: np.ndarray) -> dict[str, np.ndarray]:
    rows = {key: take(getattr(t, key), idx) for key in ("score", "vote", "confidence")}
    for name in COMPONENTS:
        rows[name] = take(t.components[name]["score"], idx)
    rows["regime"] = take(t.regime["regime"], idx)
    rows["close"] = take(t.candles.close, idx)
    # int64 with NaT's sentinel where there is no bar, so times stay exact.
    rows["bar_ns"] = np.where(
        idx >= 0, t.candles.open_ns[np.maximum(idx, 0)], np.iinfo(np.int64).min
    )
    return rows


def weighted_regime(rows: Rows, settings: MathSettings, n: int) -> np.ndarray:
    """Weighted majority of the timeframes' regimes (timeframes with a score only).

    Ties go to the heavier timeframe. With the default weights (0.3/0.5/0.2) 1h and 1d together
    only tie 4h, so the combined regime is the 4h regime whenever 4h is available.
    """
    order = sorted(rows, key=lambda tf: -settings.timeframe_weights[tf])
    totals = {r: np.zeros(n) for r in REGIMES}
    for tf in order:
        available = ~np.isnan(rows[tf]["score"])
        for r in REGIMES:
            totals[r] += settings.timeframe_weights[tf] * (available & (rows[tf]["regime"] == r))
    best = np.max(np.stack([totals[r] for r in REGIMES]), axis=0) if n else np.zeros(0)
    result = np.full(n, None, dtype=object)
    decided = np.zeros(n, dtype=bool)
    for tf in order:
        regime = rows[tf]["regime"]
        own_total = np.select([regime == r for r in REGIMES], [totals[r] for r in REGIMES], 0.0)
        wins = (
            ~decided
            & ~np.isnan(rows[tf]["score"])
            & (best > 0)
            & np.isclose(own_total, best, rtol=0, atol=1e-12)
        )
        result = np.where(wins, regime, result)
        decided |= wins
    return result


def combine(rows: Rows, settings: MathSettings, n: int) -> dict[str, np.ndarray]:
    """Combine aligned timeframe rows (arrays of length n) into the multi-timeframe reading.

    components[c] = sum_tf W_tf x c_tf / sum_tf W_tf over the timeframes where c is available
    score, vote   = the same weighted mean of the timeframes' scores and votes
    confidence    = sqrt(max(0, sign(score) x vote) x |score|), as within a timeframe
    regime        = `weighted_regime`
    daily_veto    = "long" when the 1d score <= -threshold, "short" when >= +threshold
    """
    tfs = [tf for tf in TIMEFRAMES if tf in rows]
    weights = [settings.timeframe_weights[tf] for tf in tfs]
    nan = np.full(n, np.nan)

    def mean(key: str) -> np.ndarray:
        return clip_unit(nan_weighted_mean([rows[tf][key] for tf in tfs], weights)) if tfs else nan

    out = {name: mean(name) for name in COMPONENTS}
    out["score"] = mean("score")
    out["vote"] = mean("vote")
    out["confidence"] = confidence(out["score"], out["vote"])
    out["regime"] = weighted_regime(rows, settings, n)
    daily = rows["1d"]["score"] if "1d" in rows else nan
    threshold = settings.daily_veto_threshold
    out["daily_veto"] = np.where(
        daily <= -threshold, "long", np.where(daily >= threshold, "short", None)
    ).astype(object)
    out["daily_score"] = daily
    return out


def veto_reason(veto: Direction | None, daily_score: float, settings: MathSettings) -> str | None:
    if veto is None:
        return None
    t = settings.daily_veto_threshold
    if veto == "long":
        return f"1d score {daily_score:+.3f} <= -{t:.2f}: the daily timeframe vetoes longs"
    return f"1d score {daily_score:+.3f} >= +{t:.2f}: the daily timeframe vetoes shorts"


def _optional(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def analyze(
    symbol: str,
    frames: Mapping[str, pd.DataFrame | None],
    open_interest: OpenInterestInput = None,
    settings: MathSettings | None = None,
) -> MathAnalysis:
    """Per-cycle analysis of one symbol from its closed 1h/4h/1d candles (any subset).

    The analysis time is the close of the last 1h bar; slower bars closing later are ignored
    and a stale slower timeframe is left out with a note (see `alignment.prepare`).
    """
    settings = settings or MathSettings()
    oi = to_open_interest(open_interest)
    prepared = prepare(frames)
    notes = list(prepared.notes)
    analyses: dict[str, TimeframeAnalysis] = {}
    rows: Rows = {}
    for tf, c in prepared.candles.items():
        t = timeframe_arrays(c, tf, oi, settings)  # type: ignore[arg-type]
        last = np.array([len(c) - 1])
        analysis = analysis_at(t, len(c) - 1, settings)
        if analysis is None:
            notes.append(f"{tf}: not enough bars for any component ({len(c)})")
            continue
        analyses[tf] = analysis
        rows[tf] = _rows(t, last)
    combined = combine(rows, settings, 1)
    veto = combined["daily_veto"][0]
    daily_score = float(combined["daily_score"][0])
    if "1d" not in rows:
        notes.append("no daily timeframe: no daily veto")
    c1h = prepared.candles.get("1h")
    return MathAnalysis(
        symbol=symbol,
        as_of=(
            None
            if prepared.ref_close_ns is None
            else pd.Timestamp(prepared.ref_close_ns, tz="UTC").to_pydatetime()
        ),
        timeframes=analyses,
        components={name: _optional(combined[name][0]) for name in COMPONENTS},
        score=_optional(combined["score"][0]),
        regime=combined["regime"][0],
        vote=_optional(combined["vote"][0]),
        confidence=_optional(combined["confidence"][0]),
        daily_veto=veto,
        daily_veto_reason=veto_reason(veto, daily_score, settings),
        volatility=volatility_at(c1h, prepared.candles.get("1d"), settings),
        daily_bars=len(prepared.candles["1d"]) if "1d" in prepared.candles else 0,
        notes=tuple(notes),
    )


def analyze_series(
    frames: Mapping[str, pd.DataFrame | None],
    open_interest: OpenInterestInput = None,
    settings: MathSettings | None = None,
) -> pd.DataFrame:
    """The analysis for every 1h bar at once (vectorised, causal), indexed by 1h bar open time.

    Row t is what `analyze` returns when given the bars that have closed by the close of 1h
    bar t: each slower timeframe contributes its last bar whose close <= that close (an as-of
    join on close times). Columns:
      close, trend, momentum, volume, open_interest, score, vote, confidence, regime,
      daily_veto, atr_pct_30d, daily_bars, volatility_ratio, change_4h_pct,
      adverse_long_pct, adverse_short_pct, and per timeframe tf:
      tf.score, tf.vote, tf.confidence, tf.regime, tf.<component>, tf.close, tf.bar_time
    """
    settings = settings or MathSettings()
    one_hour = frames.get("1h")
    if one_hour is None or not len(one_hour):
        raise ValueError("analyze_series needs a non-empty 1h frame: its bars are the rows")
    oi = to_open_interest(open_interest)
    c1h = candles_from_frame(frames["1h"], "1h")  # type: ignore[arg-type]
    n = len(c1h)
    ref = c1h.close_ns
    rows: Rows = {}
    columns: dict[str, np.ndarray] = {"close": c1h.close}
    daily_idx = None
    for tf in TIMEFRAMES:
        frame = frames.get(tf)
        if frame is None or not len(frame):
            continue
        c = c1h if tf == "1h" else candles_from_frame(frame, tf)  # type: ignore[arg-type]
        idx = aligned_index(ref, c.close_ns, c.bar_ns)
        rows[tf] = _rows(timeframe_arrays(c, tf, oi, settings), idx)  # type: ignore[arg-type]
        if tf == "1d":
            daily_idx, c1d = idx, c
    combined = combine(rows, settings, n)
    for key in (*COMPONENTS, "score", "vote", "confidence", "regime", "daily_veto"):
        columns[key] = combined[key]
    if daily_idx is not None:
        daily_mtr = take(daily_mean_true_range(c1d, settings), daily_idx)
        columns["atr_pct_30d"] = atr_pct(daily_mtr, c1h.close)
        columns["daily_bars"] = (daily_idx + 1).astype(np.int64)  # -1 (none yet) -> 0
    else:
        columns["atr_pct_30d"] = np.full(n, np.nan)
        columns["daily_bars"] = np.zeros(n, dtype=np.int64)
    columns.update(hourly_volatility(c1h, settings))
    for tf, tf_rows in rows.items():
        for key in ("score", "vote", "confidence", "regime", *COMPONENTS, "close"):
            columns[f"{tf}.{key}"] = tf_rows[key]
        columns[f"{tf}.bar_time"] = pd.DatetimeIndex(  # type: ignore[assignment]
            tf_rows["bar_ns"].view("datetime64[ns]"), tz="UTC"
        )
    return to_frame(columns, c1h.open_ns)
