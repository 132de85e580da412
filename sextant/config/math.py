"""Settings of the Math Engine: indicator periods, score scales, blend weights and the daily veto.

Defaults are textbook values (Wilder's 14-period RSI/ATR/ADX and ADX 25 trend line, 20/50/200
moving averages, 70/30 RSI bands, Chaikin's 20-bar money flow) or round numbers chosen from the
design rationale written next to each field. None of them was fitted to market data.
"""

from typing import Self

from pydantic import Field, model_validator

from sextant.config.base import Section

TIMEFRAMES: tuple[str, ...] = ("1h", "4h", "1d")
COMPONENTS: tuple[str, ...] = ("trend", "momentum", "volume", "open_interest")
_WEIGHT_TOLERANCE = 1e-9


def _check_weights(name: str, weights: dict[str, float], keys: tuple[str, ...]) -> None:
    if set(weights) != set(keys):
        raise ValueError(f"{name} must have exactly the keys {list(keys)}, got {sorted(weights)}")
    if any(w < 0 for w in weights.values()):
        raise ValueError(f"{name} must be non-negative, got {weights}")
    total = sum(weights.values())
    if abs(total - 1.0) > _WEIGHT_TOLERANCE:
        raise ValueError(f"{name} must sum to 1 (within 1e-9), got {total!r}")


class MathSettings(Section):
    """Every number the Math Engine uses. Frozen; unknown fields are refused."""

    # --- trend -------------------------------------------------------------------------------
    ma_fast: int = Field(20, gt=1, le=1000, description="Fast simple moving average, in bars.")
    ma_mid: int = Field(50, gt=1, le=1000, description="Middle simple moving average, in bars.")
    ma_slow: int = Field(
        200,
        gt=1,
        le=2000,
        description="Slow simple moving average, in bars. With shorter history the trend score "
        "is computed from the faster averages and the missing one is noted.",
    )
    slope_lookback: int = Field(
        10,
        gt=0,
        le=500,
        description="Bars over which the fast and middle averages' slopes are measured.",
    )
    atr_period: int = Field(
        14,
        gt=1,
        le=500,
        description="Wilder ATR period, in bars: the unit for price-to-average distances, "
        "slopes, price moves and the volatile-regime test.",
    )
    trend_distance_full_atr: float = Field(
        2.0,
        gt=0,
        le=100,
        description="Distance of the close from an average, in ATRs, that scores a full +/-1 "
        "(two ATRs is the edge of the usual Keltner band). Linear and clipped below that.",
    )
    trend_slope_full_atr: float = Field(
        1.0,
        gt=0,
        le=100,
        description="Change of an average over `slope_lookback` bars, in ATRs, that scores a full "
        "+/-1 slope. Linear and clipped below that.",
    )
    trend_weight_position: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Weight of price-vs-averages (mean over the available averages) in the trend.",
    )
    trend_weight_slope: float = Field(
        0.3, ge=0, le=1, description="Weight of the averages' slope in the trend score."
    )
    trend_weight_alignment: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Weight of the averages' order (fast > mid > slow is +1) in the trend score.",
    )

    # --- momentum (smart RSI) -----------------------------------------------------------------
    rsi_period: int = Field(14, gt=1, le=500, description="Wilder RSI period, in bars.")
    rsi_trend_strength: float = Field(
        70.0,
        gt=50,
        lt=100,
        description="In an up-trend, RSI at which momentum scores a full +1 (linear from 0 at 50); "
        "mirrored (100 - value) in a down-trend.",
    )
    rsi_exhaustion: float = Field(
        80.0,
        gt=50,
        lt=100,
        description="In an up-trend, RSI above which the strength reading is damped as exhaustion "
        "(mirrored in a down-trend).",
    )
    rsi_exhaustion_floor: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Momentum left at RSI 100 in an up-trend (0 at RSI 0 in a down-trend): the "
        "score falls linearly from 1 at `rsi_exhaustion` to this value.",
    )
    rsi_overbought: float = Field(
        70.0,
        gt=50,
        lt=100,
        description="Ranging regime: RSI at or above this scores -1 (overbought); linear to 0 "
        "at 50.",
    )
    rsi_oversold: float = Field(
        30.0,
        gt=0,
        lt=50,
        description="Ranging regime: RSI at or below this scores +1 (oversold); linear to 0 at 50.",
    )

    # --- volume -------------------------------------------------------------------------------
    volume_lookback: int = Field(
        20,
        gt=1,
        le=1000,
        description="Bars of the buyer/seller pressure (Chaikin money flow: volume-weighted close "
        "location) and of the mean volume that relative volume is measured against.",
    )
    volume_rv_cap: float = Field(
        2.0,
        gt=0,
        le=100,
        description="Relative volume (bar volume / mean of the previous `volume_lookback` bars) is "
        "capped at this before it multiplies the pressure: quiet bars damp, busy bars amplify.",
    )

    # --- regime -------------------------------------------------------------------------------
    adx_period: int = Field(14, gt=1, le=500, description="Wilder ADX/DI period, in bars.")
    adx_trend_threshold: float = Field(
        25.0,
        gt=0,
        lt=100,
        description="ADX at or above this is a trend (direction from +DI vs -DI); below, a range.",
    )
    volatile_atr_ratio: float = Field(
        1.5,
        gt=1,
        le=100,
        description="Regime is 'volatile' when ATR% is at least this multiple of its rolling "
        "median.",
    )
    volatile_median_bars: int = Field(
        100,
        gt=1,
        le=5000,
        description="Bars of the rolling median of ATR% that the volatile test compares against.",
    )

    # --- open interest ------------------------------------------------------------------------
    oi_lookback_hours: int = Field(
        24,
        gt=0,
        le=24 * 90,
        description="Horizon of the OI change and price change compared, in hours (in bars of "
        "each timeframe: hours / bar hours, at least one bar).",
    )
    oi_change_full_pct: float = Field(
        5.0,
        gt=0,
        le=1000,
        description="OI change over the horizon, in percent, at which the OI strength is full.",
    )
    oi_unwind_weight: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Scale of the unwinding cases (price up with OI down = short covering, price "
        "down with OI down = long liquidation) relative to fresh positioning (OI up).",
    )
    oi_max_age_hours: float = Field(
        48.0,
        gt=0,
        le=24 * 30,
        description="An OI value older than this at a bar's close is stale and not used.",
    )

    # --- blending -----------------------------------------------------------------------------
    component_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "trend": 0.45,
            "momentum": 0.30,
            "volume": 0.10,
            "open_interest": 0.15,
        },
        description="Fixed blend of the components inside one timeframe (score and vote); "
        "renormalised over the available ones. Defaults: the midpoints of the risk stage's "
        "ranges without news, renormalised and rounded. Regime-dependent weighting is the "
        "Risk Manager's job, not this one.",
    )
    timeframe_weights: dict[str, float] = Field(
        default_factory=lambda: {"1h": 0.3, "4h": 0.5, "1d": 0.2},
        description="Weights of the 1h, 4h and 1d timeframes; renormalised over the available "
        "ones. Must sum to 1.",
    )
    daily_veto_threshold: float = Field(
        0.5,
        gt=0,
        le=1,
        description="The 1d timeframe vetoes longs when its score is <= -this and shorts when "
        "it is >= +this.",
    )

    # --- volatility for the risk stage --------------------------------------------------------
    atr_stop_days: int = Field(
        30,
        gt=0,
        le=365,
        description="Completed daily bars whose mean true range (as % of the last close) sizes "
        "the stop and the leverage.",
    )
    vol_ratio_recent_bars: int = Field(
        24,
        gt=0,
        le=24 * 30,
        description="1h bars of recent mean true range in the volatility ratio (news regime).",
    )
    vol_ratio_baseline_bars: int = Field(
        720,
        gt=1,
        le=24 * 365,
        description="1h bars of the normal mean true range in the volatility ratio (30 days). The "
        "ratio is unavailable with less history.",
    )

    excursion_horizon_hours: int = Field(
        24,
        gt=0,
        le=24 * 14,
        description="Quantile stop: the adverse excursion of an entry is its worst move against "
        "it over this many 1h bars after the entry bar's close.",
    )
    excursion_lookback_hours: int = Field(
        720,
        ge=24,
        le=24 * 180,
        description="Quantile stop: the excursions of the entries of this many recent 1h bars "
        "(whose horizon has closed) make the sample.",
    )
    excursion_quantile: float = Field(
        0.8,
        gt=0,
        lt=1,
        description="Quantile stop: the stop distance is this quantile of the sample (linear "
        "interpolation), before the multiplier and the stop bounds.",
    )

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        if not self.ma_fast < self.ma_mid < self.ma_slow:
            raise ValueError(
                f"need ma_fast < ma_mid < ma_slow, got {self.ma_fast}, {self.ma_mid}, "
                f"{self.ma_slow}"
            )
        trend_total = (
            self.trend_weight_position + self.trend_weight_slope + self.trend_weight_alignment
        )
        if abs(trend_total - 1.0) > _WEIGHT_TOLERANCE:
            raise ValueError(
                f"trend_weight_position + trend_weight_slope + trend_weight_alignment must sum "
                f"to 1, got {trend_total!r}"
            )
        if not self.rsi_trend_strength <= self.rsi_exhaustion:
            raise ValueError(
                f"need rsi_trend_strength <= rsi_exhaustion, got {self.rsi_trend_strength}, "
                f"{self.rsi_exhaustion}"
            )
        if not self.rsi_oversold < 50 < self.rsi_overbought:
            raise ValueError("need rsi_oversold < 50 < rsi_overbought")
        if not self.vol_ratio_recent_bars < self.vol_ratio_baseline_bars:
            raise ValueError("need vol_ratio_recent_bars < vol_ratio_baseline_bars")
        _check_weights("component_weights", self.component_weights, COMPONENTS)
        if self.excursion_quantile * self.excursion_lookback_hours < 1:
            raise ValueError("excursion_quantile x excursion_lookback_hours must be >= 1")
        _check_weights("timeframe_weights", self.timeframe_weights, TIMEFRAMES)
        return self


def required_daily_bars(settings: MathSettings) -> int:
    """Completed daily bars the daily indicators need before each is fully warmed up: the slow
    average and its slope, the 30-day ATR (each true range needs the previous close), Wilder's
    ADX (two smoothing passes), RSI, the volume window and the volatile-regime median."""
    return max(
        settings.ma_slow + settings.slope_lookback,
        settings.atr_stop_days + 1,
        2 * settings.adx_period,
        settings.rsi_period + 1,
        settings.volume_lookback + 1,
        settings.volatile_median_bars + settings.atr_period,
    )
