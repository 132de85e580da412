"""Risk Manager settings: score weights, thresholds, stops, targets, leverage, sizing, vetoes."""

from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from sextant.config.base import Section

COMPONENTS = ("trend", "momentum", "volume", "open_interest", "news")
# The spec's allowed range for each component weight, whatever the regime.
WEIGHT_BOUNDS: dict[str, tuple[float, float]] = {
    "trend": (0.35, 0.45),
    "momentum": (0.15, 0.35),
    "volume": (0.05, 0.10),
    "open_interest": (0.15, 0.15),
    "news": (0.15, 0.20),
}


class ComponentWeights(Section):
    """Weights of the five components in the final score; they sum to 1."""

    trend: float
    momentum: float
    volume: float
    open_interest: float
    news: float

    @model_validator(mode="after")
    def _check(self) -> "ComponentWeights":
        for name, (lo, hi) in WEIGHT_BOUNDS.items():
            value = getattr(self, name)
            if not lo - 1e-9 <= value <= hi + 1e-9:
                raise ValueError(f"{name} weight {value} outside the allowed range [{lo}, {hi}]")
        total = sum(getattr(self, n) for n in COMPONENTS)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"weights must sum to 1, got {total:.6f}")
        return self

    def as_dict(self) -> dict[str, float]:
        return {n: getattr(self, n) for n in COMPONENTS}


class TrendingWeights(ComponentWeights):
    trend: float = 0.45
    momentum: float = 0.15
    volume: float = 0.10
    open_interest: float = 0.15
    news: float = 0.15


class RangingWeights(ComponentWeights):
    trend: float = 0.35
    momentum: float = 0.30
    volume: float = 0.05
    open_interest: float = 0.15
    news: float = 0.15


class VolatileWeights(ComponentWeights):
    trend: float = 0.40
    momentum: float = 0.20
    volume: float = 0.05
    open_interest: float = 0.15
    news: float = 0.20


class RegimeWeights(Section):
    """Weights by market regime: trend-following in trends, mean-reversion weight in ranges.

    Each regime has its own defaults, so overriding two weights keeps the other three.
    """

    trending: TrendingWeights = Field(default_factory=TrendingWeights)
    ranging: RangingWeights = Field(default_factory=RangingWeights)
    volatile: VolatileWeights = Field(default_factory=VolatileWeights)


class LeverageBand(Section):
    min_atr_pct: float = Field(ge=0, description="Daily ATR% at or above which this band applies.")
    leverage: int = Field(ge=1, le=125)


DEFAULT_BANDS = (
    LeverageBand(min_atr_pct=4.0, leverage=3),
    LeverageBand(min_atr_pct=3.0, leverage=5),
    LeverageBand(min_atr_pct=2.0, leverage=7),
)

DEFAULT_GROUPS: dict[str, list[str]] = {
    "btc": ["BTC/USDT:USDT"],
    "layer1": [
        "ETH/USDT:USDT",
        "SOL/USDT:USDT",
        "ADA/USDT:USDT",
        "AVAX/USDT:USDT",
        "DOT/USDT:USDT",
        "NEAR/USDT:USDT",
        "SUI/USDT:USDT",
        "APT/USDT:USDT",
        "TON/USDT:USDT",
        "TRX/USDT:USDT",
        "BNB/USDT:USDT",
    ],
    "memecoins": [
        "DOGE/USDT:USDT",
        "SHIB1000/USDT:USDT",
        "1000PEPE/USDT:USDT",
        "WIF/USDT:USDT",
        "1000BONK/USDT:USDT",
        "FLOKI/USDT:USDT",
    ],
}


class RiskSettings(Section):
    weights: RegimeWeights = Field(default_factory=RegimeWeights)
    weight_redistribution: Literal["proportional", "capped"] = Field(
        "proportional",
        description="Where an unavailable component's weight goes: proportional = to the "
        "available ones pro rata (the spec's reading; weights can leave the spec's ranges, e.g. "
        "trend 0.64 without OI and news); capped = pro rata but never above the top of a "
        "component's range, the rest left out (the score's range shrinks). `sextant profile "
        "show NAME` prints the table.",
    )
    long_threshold: float = Field(0.45, gt=0, lt=1, description="Final score above -> LONG.")
    short_threshold: float = Field(-0.45, gt=-1, lt=0, description="Final score below -> SHORT.")
    atr_multiplier: float = Field(
        1.0, gt=0, le=10, description="Stop distance = multiplier x 30-day daily ATR%."
    )
    stop_min_pct: float = Field(1.5, gt=0, lt=50, description="Lower bound of the stop distance.")
    stop_max_pct: float = Field(5.0, gt=0, lt=50, description="Upper bound of the stop distance.")
    tp1_r: float = Field(1.5, gt=0, description="TP1 distance in multiples of the stop distance.")
    tp2_r: float = Field(2.5, gt=0, description="TP2 distance in multiples of the stop distance.")
    tp1_close_fraction: float = Field(0.5, gt=0, lt=1, description="Share closed at TP1.")
    leverage_bands: tuple[LeverageBand, ...] = Field(
        DEFAULT_BANDS, description="Checked from the highest ATR% down; first match wins."
    )
    calm_leverage: int = Field(10, ge=1, le=125, description="Leverage below every band.")
    max_leverage: int = Field(10, ge=1, le=125, description="Never above this nor the market's.")
    risk_per_trade_pct: Decimal = Field(
        Decimal("1.5"), gt=0, le=10, description="Equity lost at the stop, percent."
    )
    max_funding_rate_pct: float = Field(
        0.25, gt=0, description="Veto when funding per 8h against the trade exceeds this, %."
    )
    btc_drop_pct: float = Field(
        2.0, gt=0, description="BTC down more than this over 4h blocks new longs, %."
    )
    max_open_positions: int = Field(3, ge=1, le=50, description="Open positions at most.")
    trade_sides: Literal["both", "long", "short"] = Field(
        "both", description="Which signals may open positions (the other side waits)."
    )
    history_guard: bool = Field(
        False,
        description="No entries until the symbol has the completed daily bars its daily "
        "indicators need (history_guard_daily_bars).",
    )
    history_guard_daily_bars: int | None = Field(
        None,
        ge=1,
        le=5000,
        description="Daily bars the history guard asks for; empty = what the Math Engine's "
        "daily indicators need (210 with the defaults: MA200 and its 10-bar slope).",
    )
    stop_method: Literal["atr", "quantile"] = Field(
        "atr",
        description="atr = atr_multiplier x the 30-day daily ATR (the spec); quantile = "
        "quantile_stop_multiplier x a quantile of recent adverse excursions (math.excursion_*). "
        "Both bounded to [stop_min_pct, stop_max_pct].",
    )
    quantile_stop_multiplier: float = Field(
        1.0, gt=0, le=10, description="Quantile stop distance = this x the excursion quantile."
    )
    cost_aware_sizing: bool = Field(
        False,
        description="Smart sizing: the loss at the stop *including* both taker fees and the "
        "expected slippage of entry and stop (execution settings) is risk_per_trade_pct; off = "
        "the price move alone is (the spec; a full stop then costs about 1.04R).",
    )
    book_vol_target_pct: float | None = Field(
        None,
        gt=0,
        le=500,
        description="Volatility targeting of the whole book: the open positions' summed daily "
        "ATR exposure (quantity x ATR, as if perfectly correlated) stays within this annualised "
        "% of equity / sqrt(365); a new position is cut to fit. Empty = off (spec).",
    )
    max_stop_to_liquidation: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="The stop must lie within this fraction of the distance to the isolated-"
        "margin liquidation price; the leverage is lowered until it does.",
    )
    correlation_groups: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_GROUPS.items()},
        description="Group name -> symbols; at most max_per_group open per group.",
    )
    max_per_group: int = Field(1, ge=1, le=50, description="Open positions per group at most.")
    daily_loss_limit_pct: float = Field(
        5.0, gt=0, le=100, description="Circuit breaker: day's PnL at or below -this % of equity."
    )

    @model_validator(mode="after")
    def _check(self) -> "RiskSettings":
        if self.stop_min_pct > self.stop_max_pct:
            raise ValueError("stop_min_pct must be <= stop_max_pct")
        if self.tp1_r >= self.tp2_r:
            raise ValueError("tp1_r must be < tp2_r")
        atrs = [b.min_atr_pct for b in self.leverage_bands]
        if atrs != sorted(atrs, reverse=True):
            raise ValueError("leverage_bands must be ordered from highest min_atr_pct down")
        levs = [b.leverage for b in self.leverage_bands] + [self.calm_leverage]
        if levs != sorted(levs):
            raise ValueError("leverage must not decrease as volatility falls")
        seen: dict[str, str] = {}
        for group, symbols in self.correlation_groups.items():
            for s in symbols:
                if s in seen:
                    raise ValueError(f"{s} is in both {seen[s]} and {group} correlation groups")
                seen[s] = group
        return self

    def group_of(self, symbol: str) -> str | None:
        for group, symbols in self.correlation_groups.items():
            if symbol in symbols:
                return group
        return None
