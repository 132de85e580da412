"""What the Math Engine hands to the rest of the system: frozen, validated values."""

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Timeframe = Literal["1h", "4h", "1d"]
Regime = Literal["trending_up", "trending_down", "ranging", "volatile"]
Direction = Literal["long", "short"]
InputValue = float | str | bool | None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ComponentScore(_Frozen):
    """One component on one timeframe. `value` None means unavailable; `note` says why."""

    name: str
    value: float | None = Field(default=None, ge=-1.0, le=1.0)
    inputs: dict[str, InputValue] = Field(default_factory=dict)
    note: str = ""


class TimeframeAnalysis(_Frozen):
    """The components of one timeframe at its last closed bar, and their blend."""

    timeframe: Timeframe
    bar_time: AwareDatetime = Field(description="Open time (UTC) of the last closed bar.")
    close: float
    trend: ComponentScore
    momentum: ComponentScore
    volume: ComponentScore
    open_interest: ComponentScore
    regime: Regime
    score: float = Field(ge=-1.0, le=1.0, description="Fixed blend of the available components.")
    vote: float = Field(ge=-1.0, le=1.0, description="Weighted mean of the components' signs.")
    confidence: float = Field(ge=0.0, le=1.0)


class Volatility(_Frozen):
    """Volatility figures for the risk stage; None when the history is too short."""

    atr_pct_30d: float | None = Field(
        default=None,
        description="Mean true range of the last 30 completed daily bars / latest close, in %.",
    )
    volatility_ratio: float | None = Field(
        default=None,
        description="Mean true range of the last 24 1h bars / that of the last 720 1h bars.",
    )
    change_4h_pct: float | None = Field(
        default=None, description="Close-to-close change over the last 4 closed 1h bars, in %."
    )
    adverse_long_pct: float | None = Field(
        default=None,
        description="Quantile of recent long entries' adverse excursions (worst move against "
        "them within the horizon), in % (quantile stop).",
    )
    adverse_short_pct: float | None = Field(
        default=None, description="The same for short entries, in %."
    )


class MathAnalysis(_Frozen):
    """The multi-timeframe reading of one symbol at one point in time."""

    symbol: str
    as_of: datetime | None = Field(
        default=None, description="Close time (UTC) of the last 1h bar the analysis used."
    )
    timeframes: dict[str, TimeframeAnalysis]
    components: dict[str, float | None] = Field(
        description="trend, momentum, volume, open_interest: each weighted over the timeframes "
        "where it is available (weights renormalised); None when unavailable everywhere."
    )
    score: float | None = Field(default=None, ge=-1.0, le=1.0)
    regime: Regime | None = None
    vote: float | None = Field(default=None, ge=-1.0, le=1.0)
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    daily_veto: Direction | None = None
    daily_veto_reason: str | None = None
    volatility: Volatility
    daily_bars: int = Field(
        default=0, ge=0, description="Completed daily bars the analysis saw (history guard)."
    )
    notes: tuple[str, ...] = Field(
        default=(), description="Why a timeframe or figure is missing, when one is."
    )
