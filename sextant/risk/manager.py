"""Risk Manager: final score, decision, levels, vetoes and portfolio limits for a cycle."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sextant.config import Settings
from sextant.config.math import required_daily_bars
from sextant.math_engine.models import MathAnalysis
from sextant.models import (
    Decision,
    MarketSnapshot,
    NewsAssessment,
    PortfolioState,
    Reason,
    Side,
    Signal,
    SymbolError,
)
from sextant.reasons import Code
from sextant.risk import levels as lv
from sextant.risk import vetoes
from sextant.risk.weights import (
    base_weights,
    effective_weights,
    final_score,
    risk_regime,
    score_side,
)


@dataclass(frozen=True)
class SymbolInputs:
    snapshot: MarketSnapshot
    analysis: MathAnalysis
    news: NewsAssessment | None = None


def history_need(settings: Settings) -> int | None:
    """Daily bars the history guard asks for, None when it is off."""
    if not settings.risk.history_guard:
        return None
    return settings.risk.history_guard_daily_bars or required_daily_bars(settings.math)


def signal_id(symbol: str, as_of: datetime, decision: Decision) -> str:
    """Deterministic id: the same symbol, hour and direction always give the same id.

    Client order ids derive from it, so a repeated cycle cannot open a position twice.
    Short enough for Bybit's 36-character orderLinkId with a suffix.
    """
    base = symbol.split("/")[0][:12]
    return f"sx-{as_of:%y%m%d%H}-{base}-{decision[0]}"


def _news_multipliers(news: NewsAssessment | None, settings: Settings) -> tuple[float, float]:
    regime = news.regime if news else "NORMAL"
    if regime == "PANIC":
        return settings.news.panic.leverage, settings.news.panic.stop
    if regime == "DIGESTING":
        return settings.news.digesting.leverage, settings.news.digesting.stop
    return 1.0, 1.0


def _drivers(
    components: dict[str, float | None], weights: dict[str, float], side: Side
) -> list[Reason]:
    sign = 1 if side == "long" else -1
    contrib = sorted(
        ((k, weights[k] * v) for k, v in components.items() if v is not None and weights[k] > 0),
        key=lambda kv: -sign * kv[1],
    )
    out = []
    for name, c in contrib[:3]:
        if sign * c <= 0:
            break
        out.append(
            Reason(
                code=Code.DRIVER,
                kind="driver",
                message=f"{name} {components[name]:+.2f} x weight {weights[name]:.2f} = {c:+.3f}",
                data={"component": name, "value": components[name], "weight": weights[name]},
            )
        )
    return out


def evaluate_symbol(
    inputs: SymbolInputs,
    *,
    btc_change_4h_pct: float | None,
    portfolio: PortfolioState,
    settings: Settings,
) -> Signal:
    """One symbol's signal with every symbol-level veto; portfolio limits come in decide()."""
    snap, an, news = inputs.snapshot, inputs.analysis, inputs.news
    rs = settings.risk
    as_of = snap.as_of
    info: list[Reason] = []

    components: dict[str, float | None] = {
        "trend": an.components.get("trend"),
        "momentum": an.components.get("momentum"),
        "volume": an.components.get("volume"),
        "open_interest": an.components.get("open_interest"),
        "news": news.score if (news is not None and news.available) else None,
    }
    for name, value in components.items():
        if value is None:
            code = Code.NEWS_UNAVAILABLE if name == "news" else Code.COMPONENT_UNAVAILABLE
            why = ""
            if name == "news" and news is not None:
                why = "; ".join(r.message for r in news.reasons[:1])
            info.append(
                Reason(
                    code=code,
                    message=f"{name} unavailable, its weight went to the others"
                    + (f" ({why})" if why else ""),
                    data={"component": name},
                )
            )

    regime = risk_regime(an.regime)
    base = base_weights(regime, rs)
    mode = rs.weight_redistribution
    raw_weights = effective_weights(base, components, mode=mode)
    raw = final_score(components, raw_weights)
    # A fresh critical positive/negative headline lifts the news weight for trades its way.
    override = None
    if news is not None and news.driver is not None and components["news"] is not None:
        direction = "long" if raw > 0 else "short"
        if news.driver == direction:
            override = settings.news.driver_weight
            info.append(
                Reason(
                    code=Code.NEWS_DRIVER,
                    kind="driver",
                    message=f"critical news drives a {direction}: news weight {override:.2f}",
                )
            )
    weights = effective_weights(base, components, override, mode) if override else raw_weights
    score = final_score(components, weights)
    news_regime = news.regime if news else "NORMAL"
    if news_regime != "NORMAL":
        info.append(Reason(code=Code.NEWS_REGIME, message=f"news regime {news_regime}"))

    common = {
        "symbol": snap.symbol,
        "as_of": as_of,
        "score": round(score, 6),
        "raw_score": round(raw, 6),
        "confidence": round(max(0.0, min(1.0, an.confidence or 0.0)), 6),
        "regime": regime,
        "news_regime": news_regime,
        "components": {k: (None if v is None else round(v, 6)) for k, v in components.items()},
        "weights": {k: round(v, 6) for k, v in weights.items()},
        "timeframes": {tf: round(t.score, 6) for tf, t in an.timeframes.items()},
    }
    for tf in ("1h", "4h", "1d"):
        common["timeframes"].setdefault(tf, None)

    def wait(reasons: list[Reason]) -> Signal:
        return Signal(
            signal_id=signal_id(snap.symbol, as_of, "WAIT"),
            decision="WAIT",
            reasons=reasons + info,
            **common,
        )

    if all(components[k] is None for k in ("trend", "momentum", "volume", "open_interest")):
        return wait(
            [
                Reason(
                    code=Code.INSUFFICIENT_HISTORY,
                    kind="wait",
                    message="too little history for any indicator: " + "; ".join(an.notes[:2]),
                )
            ]
        )
    side_code = score_side(score, rs)
    if side_code > 0:
        side: Side = "long"
    elif side_code < 0:
        side = "short"
    else:
        return wait(
            [
                Reason(
                    code=Code.SCORE_BELOW_THRESHOLD,
                    kind="wait",
                    message=f"score {score:+.3f} inside "
                    f"({rs.short_threshold}, +{rs.long_threshold})",
                    data={"score": score, "long": rs.long_threshold, "short": rs.short_threshold},
                )
            ]
        )

    vetoed = [
        r
        for r in (
            vetoes.side_veto(side, rs),
            vetoes.history_veto(an.daily_bars, history_need(settings)),
            vetoes.circuit_breaker_veto(portfolio, as_of, rs),
            vetoes.position_open_veto(snap.symbol, portfolio),
            vetoes.daily_veto(side, an.daily_veto, an.daily_veto_reason),
            vetoes.news_veto(side, news),
            vetoes.funding_veto(side, snap.funding, rs),
            vetoes.btc_dump_veto(side, btc_change_4h_pct, rs),
        )
        if r is not None
    ]
    if vetoed:
        return wait(vetoed)

    atr = an.volatility.atr_pct_30d
    if atr is None or atr <= 0:
        return wait(
            [
                Reason(
                    code=Code.NO_VOLATILITY,
                    kind="wait",
                    message="no 30-day daily ATR (too little daily history) to place a stop",
                )
            ]
        )
    lev_mult, stop_mult = _news_multipliers(news, settings)
    if rs.stop_method == "quantile":
        vol = an.volatility
        adverse = vol.adverse_long_pct if side == "long" else vol.adverse_short_pct
        if adverse is None:
            return wait(
                [
                    Reason(
                        code=Code.NO_VOLATILITY,
                        kind="wait",
                        message="no adverse-excursion quantile (too little 1h history) to "
                        "place a quantile stop",
                    )
                ]
            )
        stop = lv.quantile_stop_distance_pct(adverse, rs, stop_mult)
        what = f"quantile stop {stop.raw_pct:.2f}%"
    else:
        stop = lv.stop_distance_pct(atr, rs, stop_mult)
        what = f"ATR stop {stop.raw_pct:.2f}%"
    if stop.clamped:
        info.append(
            Reason(
                code=Code.STOP_CLAMPED,
                message=f"{what} bounded to [{rs.stop_min_pct}, {rs.stop_max_pct}]%",
                data={"raw_pct": stop.raw_pct},
            )
        )
    entry = snap.ticker.ask if side == "long" else snap.ticker.bid
    levels = lv.price_levels(side, entry, stop.pct, snap.market, rs)
    leverage, lev_reasons = lv.leverage_for(atr, rs, lev_mult, snap.market.max_leverage)
    info.extend(lev_reasons)
    leverage, lev_reasons = lv.liquidation_safe_leverage(
        leverage, stop.pct, settings.execution.maintenance_margin_pct, rs
    )
    info.extend(lev_reasons)
    atr_price = snap.market.round_price(levels.entry * Decimal(str(atr)) / 100)
    costs = (
        lv.expected_cost_per_unit(side, levels, settings.execution)
        if rs.cost_aware_sizing
        else Decimal(0)
    )
    qty = lv.position_quantity(portfolio.equity, rs.risk_per_trade_pct, levels, snap.market, costs)
    if rs.book_vol_target_pct is not None:
        room = lv.vol_target_quantity(
            portfolio.equity, portfolio.open_daily_vol, atr_price, rs.book_vol_target_pct,
            snap.market,
        )
        if room < snap.market.min_amount or room <= 0:
            return wait(
                [
                    Reason(
                        code=Code.BOOK_VOLATILITY_FULL,
                        kind="veto",
                        message=f"the book's volatility budget ({rs.book_vol_target_pct}%/yr) "
                        f"is used by the open positions",
                        data={"open_daily_vol": str(portfolio.open_daily_vol)},
                    )
                ]
            )
        if room < qty:
            info.append(
                Reason(
                    code=Code.SIZE_VOL_TARGETED,
                    message=f"size {qty} cut to {room} by the book volatility target "
                    f"({rs.book_vol_target_pct}%/yr)",
                    data={"risk_size": str(qty), "size": str(room)},
                )
            )
            qty = room
    notional = qty * levels.entry
    if qty < snap.market.min_amount or qty <= 0 or notional < snap.market.min_notional:
        return wait(
            [
                Reason(
                    code=Code.BELOW_MIN_ORDER,
                    kind="wait",
                    message=f"size {qty} below the market minimum {snap.market.min_amount} "
                    f"(or notional {notional:.2f} < {snap.market.min_notional} USDT)",
                    data={"quantity": str(qty), "min_amount": str(snap.market.min_amount)},
                )
            ]
        )
    margin = notional / leverage
    free = portfolio.equity - portfolio.margin_used
    if margin > free:
        return wait(
            [
                Reason(
                    code=Code.INSUFFICIENT_MARGIN,
                    kind="wait",
                    message=f"margin {margin:.2f} USDT exceeds free equity {free:.2f} USDT",
                )
            ]
        )
    # The equity lost at the stop: the price move, and the expected costs when sizing counts them.
    loss = qty * (levels.risk_per_unit + costs)
    risk_pct = (loss / portfolio.equity * 100).quantize(Decimal("0.0001"))
    decision: Decision = "LONG" if side == "long" else "SHORT"
    return Signal(
        signal_id=signal_id(snap.symbol, as_of, decision),
        decision=decision,
        reasons=_drivers(components, weights, side) + info,
        entry=levels.entry,
        stop_loss=levels.stop_loss,
        take_profit_1=levels.take_profit_1,
        take_profit_2=levels.take_profit_2,
        leverage=leverage,
        risk_pct=risk_pct,
        quantity=qty,
        stop_distance_pct=round(stop.pct, 6),
        atr=atr_price,
        **common,
    )


def _demote(sig: Signal, reason: Reason) -> Signal:
    """Turn an actionable signal into a WAIT with the portfolio-level reason."""
    data = sig.model_dump()
    for k in (
        "entry",
        "stop_loss",
        "take_profit_1",
        "take_profit_2",
        "leverage",
        "risk_pct",
        "quantity",
        "stop_distance_pct",
        "atr",
    ):
        data[k] = None
    data["decision"] = "WAIT"
    data["signal_id"] = signal_id(sig.symbol, sig.as_of, "WAIT")
    data["reasons"] = [reason, *(r for r in sig.reasons if r.kind != "driver")]
    return Signal.model_validate(data)


def decide(
    inputs: Sequence[SymbolInputs],
    *,
    btc_change_4h_pct: float | None,
    portfolio: PortfolioState,
    settings: Settings,
    errors: list[SymbolError] | None = None,
) -> list[Signal]:
    """Signals for every symbol; max-positions and correlation limits go strongest first.

    With `errors`, a symbol whose data breaks a rule is left out and its error recorded there
    (the live cycle: the other symbols still decide); without it, the error is raised.
    """
    rs = settings.risk
    signals = []
    for i in inputs:
        try:
            signals.append(
                evaluate_symbol(
                    i, btc_change_4h_pct=btc_change_4h_pct, portfolio=portfolio, settings=settings
                )
            )
        except Exception as exc:
            if errors is None:
                raise
            errors.append(
                SymbolError(
                    symbol=i.snapshot.symbol,
                    stage="risk",
                    error=f"{type(exc).__name__}: {str(exc)[:200]}",
                )
            )
    open_count = len(portfolio.open_symbols)
    group_count: dict[str, int] = {}
    for sym in portfolio.open_symbols:
        g = rs.group_of(sym)
        if g:
            group_count[g] = group_count.get(g, 0) + 1
    order = sorted(
        (i for i, s in enumerate(signals) if s.decision != "WAIT"),
        key=lambda i: (-abs(signals[i].score), -signals[i].confidence, signals[i].symbol),
    )
    for i in order:
        sig = signals[i]
        group = rs.group_of(sig.symbol)
        full = vetoes.max_positions_veto(open_count, rs)
        if full is not None:
            signals[i] = _demote(sig, full)
            continue
        if group is not None and group_count.get(group, 0) >= rs.max_per_group:
            signals[i] = _demote(
                sig,
                Reason(
                    code=Code.CORRELATION_LIMIT,
                    kind="veto",
                    message=f"correlation group '{group}' already has {group_count[group]} "
                    f"(max {rs.max_per_group})",
                    data={"group": group, "max": rs.max_per_group},
                ),
            )
            continue
        open_count += 1
        if group is not None:
            group_count[group] = group_count.get(group, 0) + 1
    return signals
