"""Stop, targets, leverage and size: the numbers of an actionable signal. Pure arithmetic."""

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from sextant.config.execution import ExecutionSettings
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
    return _bounded(settings.atr_multiplier * atr_pct_30d, settings, news_stop_mult)


def quantile_stop_distance_pct(
    adverse_pct: float, settings: RiskSettings, news_stop_mult: float
) -> StopDistance:
    """Quantile stop ("Quantile SL"): quantile_stop_multiplier x the quantile of recent
    adverse excursions of entries on this side, bounded like the ATR stop, news after."""
    return _bounded(settings.quantile_stop_multiplier * adverse_pct, settings, news_stop_mult)


def _bounded(raw: float, settings: RiskSettings, news_stop_mult: float) -> StopDistance:
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


def liquidation_safe_leverage(
    leverage: int, stop_pct: float, mmr_pct: Decimal, settings: RiskSettings
) -> tuple[int, list[Reason]]:
    """The highest leverage <= `leverage` whose isolated-margin liquidation distance
    (100 / leverage - mmr, %) is at least stop_pct / max_stop_to_liquidation: the stop, not
    the liquidation engine, closes a losing trade."""
    need = Decimal(str(stop_pct)) / Decimal(str(settings.max_stop_to_liquidation)) + mmr_pct
    cap = max(1, int((Decimal(100) / need).to_integral_value(rounding=ROUND_FLOOR)))
    if leverage <= cap:
        return leverage, []
    return cap, [
        Reason(
            code=Code.LEVERAGE_CAPPED,
            message=f"leverage {leverage}x lowered to {cap}x: the {stop_pct:.2f}% stop must sit "
            f"within {settings.max_stop_to_liquidation:.0%} of the way to liquidation",
            data={"wanted": leverage, "cap": cap, "stop_pct": stop_pct},
        )
    ]


def expected_cost_per_unit(side: Side, levels: Levels, es: ExecutionSettings) -> Decimal:
    """What a full stop-out costs per unit beyond the price move from entry to stop: the
    expected slippage of the entry and of the stop (execution.slippage_pct, against us) and
    the taker fee on both fills."""
    slip, fee = es.slippage_pct / 100, es.taker_fee_pct / 100
    sign = 1 if side == "long" else -1
    entry_fill = levels.entry * (1 + sign * slip)
    stop_fill = levels.stop_loss * (1 - sign * slip)
    loss = (entry_fill - stop_fill) * sign + fee * (entry_fill + stop_fill)
    return loss - levels.risk_per_unit


def position_quantity(
    equity: Decimal,
    risk_pct: Decimal,
    levels: Levels,
    market: MarketInfo,
    cost_per_unit: Decimal = Decimal(0),
) -> Decimal:
    """Quantity whose loss at the stop (the price move plus `cost_per_unit`, see
    `expected_cost_per_unit`) is `risk_pct` of equity, rounded DOWN to the lot step."""
    risk_amount = equity * risk_pct / 100
    return market.round_amount(risk_amount / (levels.risk_per_unit + cost_per_unit))


SQRT_365 = Decimal(365).sqrt()


def vol_target_quantity(
    equity: Decimal, open_daily_vol: Decimal, atr: Decimal, target_pct: float,
    market: MarketInfo,
) -> Decimal:
    """The largest quantity (lot-rounded down) that keeps the book's summed daily ATR exposure
    within target_pct (annualised) of equity / sqrt(365); 0 when the book is already there."""
    budget = equity * Decimal(str(target_pct)) / 100 / SQRT_365
    room = budget - open_daily_vol
    if room <= 0 or atr <= 0:
        return Decimal(0)
    return market.round_amount(room / atr)
