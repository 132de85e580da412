"""One timeframe: every component per bar, their fixed blend, and the last bar as a model."""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sextant.config.math import COMPONENTS, MathSettings
from sextant.math_engine.blend import clip_unit, confidence, nan_weighted_mean, sign_vote
from sextant.math_engine.candles import Candles, candles_from_frame, to_frame
from sextant.math_engine.indicators import atr
from sextant.math_engine.models import ComponentScore, InputValue, Timeframe, TimeframeAnalysis
from sextant.math_engine.momentum import momentum_arrays, momentum_note
from sextant.math_engine.open_interest import (
    OpenInterest,
    open_interest_arrays,
    open_interest_note,
    to_open_interest,
)
from sextant.math_engine.regime import regime_arrays, regime_note
from sextant.math_engine.trend import trend_arrays, trend_note
from sextant.math_engine.volume import volume_arrays, volume_note


@dataclass(frozen=True, slots=True)
class TimeframeArrays:
    """Per-bar results of one timeframe (all arrays as long as the candles)."""

    timeframe: Timeframe
    candles: Candles
    components: dict[str, dict[str, np.ndarray]]
    regime: dict[str, np.ndarray]
    score: np.ndarray
    vote: np.ndarray
    confidence: np.ndarray
    has_open_interest: bool


def timeframe_arrays(
    c: Candles, timeframe: Timeframe, oi: OpenInterest | None, settings: MathSettings
) -> TimeframeArrays:
    """Compute every component once (sharing the ATR) and blend them.

    score      = sum(w_c x value_c) / sum(w_c) over the available components, with the fixed
                 `settings.component_weights` (default trend .45, momentum .30, volume .10,
                 open_interest .15)
    vote       = the same weighted mean of sign(value_c)
    confidence = sqrt(max(0, sign(score) x vote) x |score|)
    """
    atr_values = atr(c.high, c.low, c.close, settings.atr_period)
    regime = regime_arrays(c, settings, atr_values)
    components = {
        "trend": trend_arrays(c, settings, atr_values),
        "momentum": momentum_arrays(c, settings, regime),
        "volume": volume_arrays(c, settings),
        "open_interest": open_interest_arrays(c, oi, settings, atr_values),
    }
    parts = [components[name]["score"] for name in COMPONENTS]
    weights = [settings.component_weights[name] for name in COMPONENTS]
    score = clip_unit(nan_weighted_mean(parts, weights))
    vote = clip_unit(sign_vote(parts, weights))
    return TimeframeArrays(
        timeframe=timeframe,
        candles=c,
        components=components,
        regime=regime,
        score=score,
        vote=vote,
        confidence=confidence(score, vote),
        has_open_interest=oi is not None and len(oi.times_ns) > 0,
    )


def _python(value: object) -> InputValue:
    """A numpy scalar as a JSON-friendly Python value; NaN and infinities become None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return bool(value)
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def _component(name: str, arrays: dict[str, np.ndarray], i: int, note: str) -> ComponentScore:
    value = _python(arrays["score"][i])
    inputs = {key: _python(column[i]) for key, column in arrays.items() if key != "score"}
    return ComponentScore(name=name, value=value, inputs=inputs, note=note)


def analysis_at(t: TimeframeArrays, i: int, settings: MathSettings) -> TimeframeAnalysis | None:
    """The timeframe at bar i as a model; None when no component is available there."""
    if np.isnan(t.score[i]):
        return None
    comps = t.components
    momentum_notes = [momentum_note(comps["momentum"], i, settings)]
    if not momentum_notes[0]:
        momentum_notes.append(regime_note(t.regime, i, settings))
    return TimeframeAnalysis(
        timeframe=t.timeframe,
        bar_time=pd.Timestamp(int(t.candles.open_ns[i]), tz="UTC").to_pydatetime(),
        close=float(t.candles.close[i]),
        trend=_component("trend", comps["trend"], i, trend_note(comps["trend"], i, settings)),
        momentum=_component(
            "momentum", comps["momentum"], i, "; ".join(n for n in momentum_notes if n)
        ),
        volume=_component("volume", comps["volume"], i, volume_note(comps["volume"], i, settings)),
        open_interest=_component(
            "open_interest",
            comps["open_interest"],
            i,
            open_interest_note(comps["open_interest"], i, settings, t.has_open_interest),
        ),
        regime=t.regime["regime"][i],
        score=float(t.score[i]),
        vote=float(t.vote[i]),
        confidence=float(t.confidence[i]),
    )


def flatten(t: TimeframeArrays) -> dict[str, np.ndarray]:
    """Per-bar columns: close, regime, score, vote, confidence, one column per component, and
    `<component>.<input>` / `regime.<input>` for the inputs."""
    columns: dict[str, np.ndarray] = {
        "close": t.candles.close,
        "regime": t.regime["regime"],
        "score": t.score,
        "vote": t.vote,
        "confidence": t.confidence,
    }
    for name, arrays in t.components.items():
        columns[name] = arrays["score"]
    for name, arrays in t.components.items():
        for key, column in arrays.items():
            if key != "score":
                columns[f"{name}.{key}"] = column
    for key, column in t.regime.items():
        if key != "regime":
            columns[f"regime.{key}"] = column
    return columns


def timeframe_frame(
    frame: pd.DataFrame,
    timeframe: Timeframe,
    open_interest: pd.DataFrame | pd.Series | None = None,
    settings: MathSettings | None = None,
) -> pd.DataFrame:
    """Every component, the regime and the blend for every bar of one timeframe (vectorised)."""
    settings = settings or MathSettings()
    c = candles_from_frame(frame, timeframe)
    t = timeframe_arrays(c, timeframe, to_open_interest(open_interest), settings)
    return to_frame(flatten(t), c.open_ns)


def analyze_timeframe(
    frame: pd.DataFrame,
    timeframe: Timeframe,
    open_interest: pd.DataFrame | pd.Series | None = None,
    settings: MathSettings | None = None,
) -> TimeframeAnalysis | None:
    """The last bar of `timeframe_frame`, as a model (None if the frame is too short)."""
    settings = settings or MathSettings()
    c = candles_from_frame(frame, timeframe)
    if len(c) == 0:
        return None
    t = timeframe_arrays(c, timeframe, to_open_interest(open_interest), settings)
    return analysis_at(t, len(c) - 1, settings)
