"""Stop, targets, leverage and size: the numbers of an actionable signal. Pure arithmetic."""

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from sextant.config.risk import RiskSettings
from sextant.models import MarketInfo, Reason, Side
from sextant.reasons import Code


@dataclass(frozen=True)
class StopDistance:
    pct: float  # final distance in percent of entry
    raw_pct: float  # multiplier x ATR% before bounds
    clamped: bool


def stop_distance_pct(
    atr_pct_30d: float, settings: RiskSettings, news_stop_mult: float
) -> StopDistance:
    """ATR-based stop bounded to [stop_min_pct, stop_max_pct]; the news multiplier applies after."""
    raw = settings.atr_multiplier * atr_pct_30d
    bounded = min(max(raw, settings.stop_min_pct), settings.stop_max_pct)
    return StopDistance(pct=bounded * news_stop_mult, raw_pct=raw, clamped=bounded != raw)


@dataclass(frozen=True)
class Levels:
    entry: Decimal
    stop_loss: Decimal
    take_profit_1: Decimal
    take_profit_2: Decimal

    @property
    def risk_per_unit(self) -> Decimal:
        return abs(self.entry - self.stop_loss)


def price_levels(
    side: Side, entry: float, stop_pct: float, market: MarketInfo, settings: RiskSettings
) -> Levels:
    """Entry and stop on the tick grid; targets at exact R multiples of the rounded stop."""
    e = market.round_price(entry)
    sign = Decimal(1) if side == "long" else Decimal(-1)
    stop = market.round_price(e * (1 - sign * Decimal(str(stop_pct)) / 100))
    if stop == e:  # a stop inside one tick would be no stop at all
        stop = e - sign * market.price_tick
    r = abs(e - stop)
    tp1 = market.round_price(e + sign * r * Decimal(str(settings.tp1_r)))
    tp2 = market.round_price(e + sign * r * Decimal(str(settings.tp2_r)))
    return Levels(entry=e, stop_loss=stop, take_profit_1=tp1, take_profit_2=tp2)


def leverage_for(
    atr_pct_30d: float, settings: RiskSettings, news_leverage_mult: float, market_max: int
) -> tuple[int, list[Reason]]:
    """Calmer markets allow more leverage; never above the setting nor the market's maximum."""
    lev = settings.calm_leverage
    for band in settings.leverage_bands:  # ordered from the most volatile band down
        if atr_pct_30d >= band.min_atr_pct:
            lev = band.leverage
            break
    reasons: list[Reason] = []
    if news_leverage_mult != 1:
        lev = int(Decimal(lev * news_leverage_mult).to_integral_value(rounding=ROUND_FLOOR))
    cap = min(settings.max_leverage, market_max)
    if lev > cap:
        reasons.append(
            Reason(
                code=Code.LEVERAGE_CAPPED,
                message=f"leverage {lev}x capped to {cap}x",
                data={"wanted": lev, "cap": cap},
            )
        )
        lev = cap
    return max(1, lev), reasons


def position_quantity(
    equity: Decimal, risk_pct: Decimal, levels: Levels, market: MarketInfo
) -> Decimal:
    """Quantity whose loss at the stop is `risk_pct` of equity, rounded DOWN to the lot step."""
    risk_amount = equity * risk_pct / 100
    return market.round_amount(risk_amount / levels.risk_per_unit)
