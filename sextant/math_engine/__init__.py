"""Math Engine: pure, deterministic, causal scores from candles (and open interest).

Per cycle: `analyze(symbol, frames, open_interest, settings) -> MathAnalysis`.
Backtest: `analyze_series(frames, open_interest, settings) -> DataFrame`, one row per 1h bar,
equal to what `analyze` returns at that bar (Wilder smoothing warm-up aside, see
`indicators`). Components one at a time: `trend_score`, `momentum_score`, `volume_score`,
`open_interest_score`, `regime_frame`, `timeframe_frame`.
"""

from sextant.math_engine.analysis import analyze, analyze_series
from sextant.math_engine.models import (
    ComponentScore,
    MathAnalysis,
    Regime,
    Timeframe,
    TimeframeAnalysis,
    Volatility,
)
from sextant.math_engine.momentum import momentum_score
from sextant.math_engine.open_interest import open_interest_score
from sextant.math_engine.regime import regime_frame
from sextant.math_engine.resample import resample_ohlcv
from sextant.math_engine.timeframe import analyze_timeframe, timeframe_frame
from sextant.math_engine.trend import trend_score
from sextant.math_engine.volatility import volatility
from sextant.math_engine.volume import volume_score

__all__ = [
    "ComponentScore",
    "MathAnalysis",
    "Regime",
    "Timeframe",
    "TimeframeAnalysis",
    "Volatility",
    "analyze",
    "analyze_series",
    "analyze_timeframe",
    "momentum_score",
    "open_interest_score",
    "regime_frame",
    "resample_ohlcv",
    "timeframe_frame",
    "trend_score",
    "volatility",
    "volume_score",
]
