"""Position lifecycle: pure rules, time injected, shared by paper, demo, live and the backtest.

`step()` reads one price bar (or one tick: a bar with open = high = low = close) and returns
what happens to a position: exits triggered inside the bar, in a conservative order (stop before
targets when both are touched), stop moves applied at the end of the bar, and the time-based
exits (stale, news panic, circuit breaker) at the bar's close.

Simulated brokers (paper, backtest) turn exits into fills with `apply_exit()`. On Bybit, stop and
targets rest on the exchange as reduce-only conditional market orders the exchange fills itself;
the live broker uses the stop moves and the time-based exits, and books the exchange's fills with
`apply_exit()` too. Because a triggered target is a market order, every exit `step()` returns is
a market exit: the simulated brokers fill it with slippage against the position and the taker fee,
exactly like the stop. A liquidation is the exception: triggered at the liquidation price, it
fills at the bankruptcy price (the whole isolated margin lost), without slippage or fee.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from sextant.config.execution import ExecutionSettings
from sextant.positions import ExitReason, Fill, Position

ZERO = Decimal("0")
HUNDRED = Decimal("100")


@dataclass(frozen=True)
class Bar:
    """Prices seen between the previous step and `time` (the bar's close / the tick's time)."""

    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal

    @classmethod
    def tick(cls, time: datetime, price: Decimal) -> "Bar":
        return cls(time=time, open=price, high=price, low=price, close=price)

    def __post_init__(self) -> None:
        if not (self.low <= min(self.open, self.close) and self.high >= max(self.open, self.close)):
            raise ValueError(f"inconsistent bar at {self.time}: {self}")


@dataclass(frozen=True)
class Exit:
    reason: ExitReason
    quantity: Decimal
    price: Decimal  # trigger price, or the open when the bar gapped through it; a
    # liquidation: the bankruptcy price
    # True: a market order (taker fee + slippage from `price`). Every exit `step()` finds is one,
    # targets included (conditional market orders on Bybit); False would be a resting limit
    # order filled at `price` with the maker fee, which the lifecycle does not produce.
    market: bool


@dataclass(frozen=True)
class StopMove:
    old: Decimal
    new: Decimal
    reason: str  # "breakeven" | "trail"


@dataclass(frozen=True)
class StepResult:
    position: Position  # after the bar's stop moves; exits are not applied yet
    exits: list[Exit] = field(default_factory=list)
    stop_moves: list[StopMove] = field(default_factory=list)


def liquidation_price(side: str, entry: Decimal, leverage: int, mmr_pct: Decimal) -> Decimal:
    """Bybit isolated margin, fees ignored.

    long: entry * (1 - 1/lev + mmr); short: entry * (1 + 1/lev - mmr).
    """
    mmr = mmr_pct / HUNDRED
    inv = Decimal(1) / Decimal(leverage)
    return entry * (1 - inv + mmr) if side == "long" else entry * (1 + inv - mmr)


def bankruptcy_price(side: str, entry: Decimal, leverage: int) -> Decimal:
    """Bybit isolated margin: the price at which the position's whole margin is gone.

    long: entry * (1 - 1/lev); short: entry * (1 + 1/lev). Bybit's liquidation engine takes
    the position over there once the mark reaches the liquidation price: what margin was left
    between the two goes to the insurance fund, so a liquidation loses the whole margin."""
    inv = Decimal(1) / Decimal(leverage)
    return entry * (1 - inv) if side == "long" else entry * (1 + inv)


def round_stop(pos: Position, price: Decimal) -> Decimal:
    """Stops round toward the entry side, never past the level the rule asked for."""
    rounding = ROUND_FLOOR if pos.side == "long" else ROUND_CEILING
    return (price / pos.tick).to_integral_value(rounding=rounding) * pos.tick


def _favoured(pos: Position, a: Decimal, b: Decimal) -> Decimal:
    """The stop further in the position's favour (higher for a long, lower for a short)."""
    return max(a, b) if pos.side == "long" else min(a, b)


def stop_reason(pos: Position) -> ExitReason:
    if pos.tp1_done:
        return "trailing_stop"
    if pos.stop_loss != pos.initial_stop:
        return "trailing_stop" if pos.stop_move == "trail" else "breakeven_stop"
    return "stop_loss"


def _touched(pos: Position, level: Decimal, bar: Bar, adverse: bool) -> Decimal | None:
    """Fill price if `level` was crossed in the bar: the level, or the open if it gapped past."""
    if pos.side == "long":
        if adverse and bar.low <= level:
            return min(level, bar.open)
        if not adverse and bar.high >= level:
            return max(level, bar.open)
    else:
        if adverse and bar.high >= level:
            return max(level, bar.open)
        if not adverse and bar.low <= level:
            return min(level, bar.open)
    return None


def tp1_quantity(pos: Position, fraction: Decimal) -> Decimal:
    """Half the initial size on the lot grid; the whole position when half rounds to nothing."""
    lots = (pos.initial_quantity * fraction / pos.lot).to_integral_value(rounding=ROUND_DOWN)
    qty = lots * pos.lot
    return pos.quantity if qty <= 0 or qty >= pos.quantity else qty


def unit_distance(pos: Position, unit: str, pct: Decimal, r: Decimal, atr: Decimal) -> Decimal:
    """A distance in price units: `pct` % of the entry, `r` x the initial stop distance, or
    `atr` x the daily ATR at entry (R stands in when the position has no ATR)."""
    if unit == "pct":
        return pos.entry_price * pct / HUNDRED
    risk = abs(pos.entry_price - pos.initial_stop)
    if unit == "atr" and pos.atr is not None and pos.atr > 0:
        return pos.atr * atr
    return risk * (r if unit == "r" else atr)


def breakeven_offset_pct(s: ExecutionSettings) -> Decimal:
    """The breakeven stop's distance beyond the entry, %: the offset, plus (when it is to
    cover costs) the exit's slippage and both taker fees."""
    extra = 2 * s.taker_fee_pct + s.slippage_pct if s.breakeven_offset_covers_costs else ZERO
    return s.breakeven_offset_pct + extra


def breakeven_reached(pos: Position, best: Decimal, s: ExecutionSettings) -> bool:
    unit = s.breakeven_trigger_unit
    if unit == "off":
        return False
    if unit == "pct":  # the spec's rule, written as it always was
        return pos.move_pct(best) >= s.breakeven_trigger_pct
    trigger = unit_distance(
        pos, unit, s.breakeven_trigger_pct, s.breakeven_trigger_r, s.breakeven_trigger_atr
    )
    return (best - pos.entry_price) * pos.sign >= trigger


def trailing_stop(pos: Position, best: Decimal, s: ExecutionSettings) -> tuple[Decimal, str | None]:
    """The stop the rules want given the best price so far; never looser than the current one."""
    stop, why = pos.stop_loss, None
    reached = breakeven_reached(pos, best, s)
    if reached:
        be = pos.entry_price * (1 + pos.sign * breakeven_offset_pct(s) / HUNDRED)
        be = round_stop(pos, be)
        if _favoured(pos, stop, be) != stop:
            stop, why = be, "breakeven"
    trailing = (
        pos.tp1_done if s.trail_start == "tp1" else reached if s.trail_start == "breakeven"
        else True
    )
    if trailing:
        if s.trail_unit == "pct":  # the spec's rule, written as it always was
            trail = best * (1 - pos.sign * s.trail_after_tp1_pct / HUNDRED)
        else:
            gap = unit_distance(pos, s.trail_unit, s.trail_after_tp1_pct, s.trail_r, s.trail_atr)
            trail = best - pos.sign * gap
        trail = round_stop(pos, trail)
        if _favoured(pos, stop, trail) != stop:
            stop, why = trail, "trail"
    return stop, why


def reversal_due(side: str, score: float | None, s: ExecutionSettings) -> bool:
    """Signal-reversal exit: the cycle's final score crossed `reversal_exit_score` against a
    position of `side` (a long at or below it, a short at or above minus it)."""
    level = s.reversal_exit_score
    if level is None or score is None:
        return False
    return score <= level if side == "long" else score >= -level


def should_close_for_reversal(pos: Position, score: float | None, s: ExecutionSettings) -> bool:
    return pos.is_open and reversal_due(pos.side, score, s)


def step(
    pos: Position,
    bar: Bar,
    s: ExecutionSettings,
    *,
    tp1_fraction: Decimal = Decimal("0.5"),
    close_for_news: bool = False,
    close_for_circuit_breaker: bool = False,
) -> StepResult:
    if not pos.is_open:
        return StepResult(position=pos)
    if pos.last_step_at is not None and bar.time <= pos.last_step_at:
        return StepResult(position=pos)  # already applied (a replay after a restart)
    exits: list[Exit] = []
    remaining = pos.quantity
    tp1_done = pos.tp1_done

    # 1. Stop first: when a bar touches both the stop and a target we assume the worst.
    # Liquidation wins when its price is met before (or instead of) the stop's; it fills at the
    # bankruptcy price (the whole margin), whatever the bar did beyond it.
    hit = _touched(pos, pos.stop_loss, bar, adverse=True)
    liq = pos.liquidation_price
    liq_hit = _touched(pos, liq, bar, adverse=True) if liq is not None else None
    if liq_hit is not None or hit is not None:
        assert hit is not None or liq is not None
        if liq is not None and liq_hit is not None and (
            hit is None or (hit <= liq if pos.side == "long" else hit >= liq)
        ):
            bust = bankruptcy_price(pos.side, pos.entry_price, pos.leverage)
            exits.append(Exit("liquidation", remaining, bust, market=True))
        else:
            assert hit is not None
            exits.append(Exit(stop_reason(pos), remaining, hit, market=True))
        seen = pos.model_copy(update={"last_price": bar.close, "last_step_at": bar.time})
        return StepResult(position=seen, exits=exits)

    # 2. Targets. TP1 closes part, TP2 the rest; both may fill in one strong bar. They are
    # conditional market orders on Bybit: filled at market (slippage, taker fee) like the stop.
    if not tp1_done:
        hit = _touched(pos, pos.take_profit_1, bar, adverse=False)
        if hit is not None:
            qty = tp1_quantity(pos, tp1_fraction)
            exits.append(Exit("tp1", qty, hit, market=True))
            remaining -= qty
            tp1_done = True
    if tp1_done and remaining > 0:
        hit = _touched(pos, pos.take_profit_2, bar, adverse=False)
        if hit is not None:
            exits.append(Exit("tp2", remaining, hit, market=True))
            remaining = ZERO

    # 3. End of bar: best price and stop moves take effect from the next bar on.
    best = _favoured(pos, pos.best_price, bar.high if pos.side == "long" else bar.low)
    moved = pos.model_copy(
        update={
            "best_price": best,
            "tp1_done": tp1_done,
            "last_price": bar.close,
            "last_step_at": bar.time,
        }
    )
    moves: list[StopMove] = []
    if remaining > 0:
        new_stop, why = trailing_stop(moved, best, s)
        if why is not None:
            moves.append(StopMove(old=pos.stop_loss, new=new_stop, reason=why))
            moved = moved.model_copy(update={"stop_loss": new_stop, "stop_move": why})

    # 4. Time- and news-driven exits at the close.
    if remaining > 0:
        reason: ExitReason | None = None
        if close_for_circuit_breaker:
            reason = "circuit_breaker"
        elif close_for_news:
            reason = "news_panic"
        elif (
            s.stale_exit
            and bar.time - pos.opened_at >= timedelta(hours=s.stale_after_hours)
            and moved.move_pct(bar.close) < s.stale_min_profit_pct
        ):
            reason = "stale_exit"
        if reason is not None:
            exits.append(Exit(reason, remaining, bar.close, market=True))
    return StepResult(position=moved, exits=exits, stop_moves=moves)


def exit_fill_price(pos: Position, ex: Exit, slippage_pct: Decimal) -> Decimal:
    """Market exits (stops, targets, time exits) pay slippage against the position, from the
    trigger or from the open when the bar gapped through it; a limit exit fills at its price,
    a liquidation at the bankruptcy price (`ex.price`)."""
    if not ex.market or slippage_pct == 0 or ex.reason == "liquidation":
        return ex.price
    return ex.price * (1 - pos.sign * slippage_pct / HUNDRED)


def apply_exit(
    pos: Position,
    *,
    reason: ExitReason,
    quantity: Decimal,
    price: Decimal,
    fee: Decimal,
    time: datetime,
    order_id: str = "",
) -> tuple[Position, Fill]:
    """Book an exit fill: smaller position, realised PnL and fees; closed when nothing is left."""
    if quantity <= 0 or quantity > pos.quantity:
        raise ValueError(f"exit of {quantity} from a position of {pos.quantity}")
    pnl = (price - pos.entry_price) * quantity * pos.sign
    left = pos.quantity - quantity
    update: dict[str, object] = {
        "quantity": left,
        "realized_pnl": pos.realized_pnl + pnl,
        "fees_paid": pos.fees_paid + fee,
    }
    if reason == "tp1":
        update["tp1_done"] = True
    if left == 0:
        update |= {"status": "closed", "closed_at": time, "exit_reason": reason}
    fill = Fill(
        position_id=pos.position_id, symbol=pos.symbol, side=pos.side, kind="exit",
        reason=reason, quantity=quantity, price=price, fee=fee, pnl=pnl, time=time,
        order_id=order_id,
    )
    return pos.model_copy(update=update), fill


def apply_funding(pos: Position, rate: Decimal, mark_price: Decimal) -> tuple[Position, Decimal]:
    """Funding at a settlement: longs pay a positive rate, shorts receive it (and vice versa)."""
    payment = pos.quantity * mark_price * rate * pos.sign
    return pos.model_copy(update={"funding_paid": pos.funding_paid + payment}), payment


def r_multiple(pos: Position, fill: Fill) -> Decimal:
    """A fill's PnL in units of the risk its share of the position carried at entry."""
    risk = abs(pos.entry_price - pos.initial_stop) * fill.quantity
    return fill.pnl / risk if risk > 0 else ZERO


def open_position(
    *,
    position_id: str,
    symbol: str,
    side: str,
    fill_price: Decimal,
    quantity: Decimal,
    fee: Decimal,
    stop_loss: Decimal,
    take_profit_1: Decimal,
    take_profit_2: Decimal,
    leverage: int,
    time: datetime,
    tick: Decimal,
    lot: Decimal,
    s: ExecutionSettings,
    mode: str = "dry_run",
    atr: Decimal | None = None,
) -> tuple[Position, Fill]:
    """A new position from an entry fill; stop and targets stay at the signal's absolute levels.

    `atr`: the signal's 30-day daily ATR in price units (ATR-unit distances, book volatility)."""
    if quantity <= 0:
        raise ValueError("entry quantity must be positive")
    pos = Position(
        position_id=position_id, symbol=symbol, side=side,  # type: ignore[arg-type]
        entry_price=fill_price, initial_quantity=quantity, quantity=quantity,
        initial_stop=stop_loss, stop_loss=stop_loss, take_profit_1=take_profit_1,
        take_profit_2=take_profit_2, leverage=leverage, opened_at=time, mode=mode,
        best_price=fill_price, fees_paid=fee, entry_fee=fee, tick=tick, lot=lot,
        liquidation_price=liquidation_price(side, fill_price, leverage, s.maintenance_margin_pct),
        last_price=fill_price, last_step_at=time, atr=atr,
    )
    fill = Fill(
        position_id=position_id, symbol=symbol, side=side,  # type: ignore[arg-type]
        kind="entry", reason="entry", quantity=quantity, price=fill_price, fee=fee, time=time,
    )
    return pos, fill


# -- helpers shared by the brokers, the loop and the backtester ---------------------------------


def forced_exit(pos: Position, reason: ExitReason, price: Decimal) -> Exit:
    """Close what is left at market (manual, news panic, circuit breaker, stale)."""
    return Exit(reason, pos.quantity, price, market=True)


def should_close_for_news(pos: Position, close_longs: bool, close_shorts: bool) -> bool:
    """News panic: critical negative news closes longs (and positive news, if flagged, shorts)."""
    return pos.is_open and (close_longs if pos.side == "long" else close_shorts)


def entry_fill_price(side: str, price: Decimal, slippage_pct: Decimal, tick: Decimal) -> Decimal:
    """A simulated market entry: the quote plus slippage against us, on the tick grid."""
    sign = 1 if side == "long" else -1
    raw = price * (1 + sign * slippage_pct / HUNDRED)
    rounding = ROUND_CEILING if side == "long" else ROUND_FLOOR
    return (raw / tick).to_integral_value(rounding=rounding) * tick


def round_exit_price(pos: Position, price: Decimal) -> Decimal:
    """A simulated exit fill on the tick grid, rounded against the position."""
    rounding = ROUND_FLOOR if pos.side == "long" else ROUND_CEILING
    return (price / pos.tick).to_integral_value(rounding=rounding) * pos.tick


def fee_for(notional: Decimal, market: bool, s: ExecutionSettings) -> Decimal:
    """Taker fee for market orders, maker fee for limit ones (Bybit's rates in settings).

    Entries and every lifecycle exit are market orders (taker); the maker rate only applies to
    an exit with `market=False`, which the lifecycle currently never produces."""
    return notional * (s.taker_fee_pct if market else s.maker_fee_pct) / HUNDRED


def exit_fee(ex: Exit, price: Decimal, quantity: Decimal, s: ExecutionSettings) -> Decimal:
    """The fee of a simulated exit fill: taker (or maker) on its notional; none for a
    liquidation, whose loss is the whole margin (the fee is inside it)."""
    if ex.reason == "liquidation":
        return ZERO
    return fee_for(price * quantity, ex.market, s)


def utc_day_start(ts: datetime) -> datetime:
    return ts.replace(hour=0, minute=0, second=0, microsecond=0)


def next_utc_day(ts: datetime) -> datetime:
    return utc_day_start(ts) + timedelta(days=1)


def circuit_breaker_until(
    day_start_equity: Decimal, equity: Decimal, limit_pct: Decimal | float, now: datetime
) -> datetime | None:
    """Daily loss limit: realised + unrealised PnL of the UTC day at or below -limit% of the
    day's starting equity stops new entries until the next UTC day. None when not tripped."""
    if day_start_equity <= 0:
        return None
    day_pnl_pct = (equity - day_start_equity) / day_start_equity * HUNDRED
    if day_pnl_pct <= -Decimal(str(limit_pct)):
        return next_utc_day(now)
    return None


def funding_times(after: datetime, until: datetime, interval_hours: int) -> list[datetime]:
    """Funding settlements in (after, until]: every `interval_hours` from 00:00 UTC."""
    step = timedelta(hours=interval_hours)
    t = utc_day_start(after)
    out = []
    while t <= until:
        if t > after:
            out.append(t)
        t += step
    return out


def exit_pnl_pct(pos: Position, fill: Fill) -> Decimal:
    """Net PnL of an exit fill in % of its share of the entry notional (unleveraged).

    Net of the fill's own fee and of its pro-rata share of the entry fee.
    """
    notional = pos.entry_price * fill.quantity
    if notional <= 0:
        return ZERO
    entry_fee_share = ZERO
    if pos.initial_quantity > 0:
        entry_fee_share = pos.entry_fee * fill.quantity / pos.initial_quantity
    return (fill.pnl - fill.fee - entry_fee_share) / notional * HUNDRED
