"""The account: fills, fees, funding, the UTC day, the daily-loss circuit breaker, the portfolio.

Written once for every book. The paper broker and its engine (store-backed, restart-safe,
`execution/`), the loop (through that engine) and the backtester (in memory, `Ledger`) book
every fill, fee and funding payment and roll the day through these functions; a parity test
(`tests/integration/test_parity.py`) runs the paper loop and the backtest over the same
replayed hours and finds the same fills, fees, funding and equity. Pure: values in, values
out, time passed in.

Conventions, the same in every book:

* A market order fills at its reference price moved by `execution.slippage_pct` against it,
  on the tick grid, and pays the taker fee (`fill_entry`). Every lifecycle exit is a market
  exit from its trigger, or from the open of a bar that gapped through it (`fill_exit`); a
  liquidation fills at the bankruptcy price without slippage or fee.
* Funding settles on the positions opened before the settlement: quantity x mark x rate,
  longs pay a positive rate (`funding_due`, `settle_funding`).
* Equity is the starting equity plus realised price PnL, less fees and funding, plus the open
  positions' PnL at their marks (`book_value`).
* The UTC day: an observation at `t` (a bar's close) belongs to the day of the instant just
  before `t`; the first one of a day sets its starting equity; one at exactly 00:00 also
  starts the new day with that equity. The breaker trips at most once a day, when the day's
  PnL (realised and open) is at or below -`risk.daily_loss_limit_pct` of its starting
  equity, and stops entries until the next UTC day (`observe_day`, `breaker_until_at`).

What a book chooses is the reference price (`FillModel`): paper and live fill an entry at the
quote the signal carries (the ask or bid at decision time) and mark funding at the last
close; the backtest by default fills at the open of the bar after the decision and marks
funding at that bar's open (`next_open`). `quote` runs the backtest with paper's prices.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from sextant.config.execution import ExecutionSettings
from sextant.lifecycle import (
    Exit,
    apply_exit,
    apply_funding,
    circuit_breaker_until,
    entry_fill_price,
    exit_fee,
    exit_fill_price,
    fee_for,
    open_position,
    round_exit_price,
)
from sextant.models import MarketInfo, PortfolioState, Signal
from sextant.positions import Fill, Position

ZERO = Decimal(0)
EPS = timedelta(microseconds=1)
PCT = Decimal("0.0001")

# Where a book takes the price of a market order it decides at T (entries, news-panic exits)
# and the mark of a funding settlement at T: "quote" = the quote seen at T (paper, live);
# "next_open" = the open of the bar starting at T (the backtest's default).
FillModel = Literal["quote", "next_open"]


# -- fills ----------------------------------------------------------------------------------


def fill_entry(
    signal: Signal,
    *,
    reference: Decimal,
    market: MarketInfo,
    time: datetime,
    s: ExecutionSettings,
    mode: str,
) -> tuple[Position, Fill]:
    """A market entry of an actionable signal at `reference` (slippage, tick grid, taker fee):
    the new position (stop and targets at the signal's levels) and its entry fill."""
    assert signal.side is not None and signal.quantity is not None
    assert signal.stop_loss is not None and signal.take_profit_1 is not None
    assert signal.take_profit_2 is not None and signal.leverage is not None
    price = entry_fill_price(signal.side, reference, s.slippage_pct, market.price_tick)
    return open_position(
        position_id=signal.signal_id,
        symbol=signal.symbol,
        side=signal.side,
        fill_price=price,
        quantity=signal.quantity,
        fee=fee_for(price * signal.quantity, True, s),
        stop_loss=signal.stop_loss,
        take_profit_1=signal.take_profit_1,
        take_profit_2=signal.take_profit_2,
        leverage=signal.leverage,
        time=time,
        tick=market.price_tick,
        lot=market.amount_step,
        s=s,
        mode=mode,
        atr=signal.atr,
    )


def fill_exit(
    pos: Position, ex: Exit, *, time: datetime, s: ExecutionSettings, order_id: str = ""
) -> tuple[Position, Fill]:
    """A simulated exit fill: slippage on market exits (all of them, targets included), on the
    tick grid against the position; the fee follows `ex.market` (none for a liquidation)."""
    price = round_exit_price(pos, exit_fill_price(pos, ex, s.slippage_pct))
    qty = min(ex.quantity, pos.quantity)
    return apply_exit(
        pos,
        reason=ex.reason,
        quantity=qty,
        price=price,
        fee=exit_fee(ex, price, qty, s),
        time=time,
        order_id=order_id,
    )


# -- funding --------------------------------------------------------------------------------


def funding_due(pos: Position, settlement: datetime) -> bool:
    """A settlement charges the positions that were open before it."""
    return pos.is_open and pos.opened_at < settlement


def settle_funding(pos: Position, rate: Decimal, mark: Decimal) -> tuple[Position, Decimal]:
    """quantity x mark x rate, paid by longs on a positive rate (received on a negative one)."""
    return apply_funding(pos, rate, mark)


# -- equity and portfolio ---------------------------------------------------------------------


def book_value(
    starting: Decimal,
    realised: Decimal,
    fees: Decimal,
    funding: Decimal,
    open_positions: Iterable[Position],
    marks: Mapping[str, Decimal] | None = None,
) -> Decimal:
    """Equity: start + realised price PnL - fees - funding + open PnL (at `marks`, by symbol;
    default each position's last price)."""
    eq = starting + realised - fees - funding
    for pos in open_positions:
        if pos.is_open:
            eq += pos.unrealized_pnl(None if marks is None else marks[pos.symbol])
    return eq


def portfolio_state(
    equity: Decimal,
    day_start_equity: Decimal,
    open_positions: Iterable[Position],
    breaker_until: datetime | None,
) -> PortfolioState:
    """What the Risk Manager sees of a book."""
    held = [p for p in open_positions if p.is_open]
    return PortfolioState(
        equity=equity,
        day_start_equity=day_start_equity,
        day_pnl=equity - day_start_equity,
        margin_used=sum((p.margin for p in held), ZERO),
        open_daily_vol=sum((p.daily_vol for p in held), ZERO),
        open_symbols=tuple(sorted({p.symbol for p in held})),
        open_sides={p.symbol: p.side for p in sorted(held, key=lambda p: p.symbol)},
        circuit_breaker_until=breaker_until,
    )


# -- the UTC day and the circuit breaker -----------------------------------------------------


@dataclass(frozen=True)
class Day:
    day: date
    start_equity: Decimal
    breaker_until: datetime | None = None
    tripped_at: datetime | None = None
    pnl_pct: Decimal | None = None  # the day's PnL in % when the breaker tripped


@dataclass(frozen=True)
class DayObservation:
    day: Day  # the day the observation closes, created by it when it is the first
    new_day: Day | None  # at exactly 00:00: the day that starts with this equity
    tripped: bool  # the breaker tripped with this observation


def day_of(t: datetime) -> date:
    """The UTC day an observation at `t` (a bar's close) belongs to."""
    return (t - EPS).date()


def observe_day(
    current: Day | None, t: datetime, equity: Decimal, loss_limit_pct: float | Decimal
) -> DayObservation:
    """Record the equity observed at `t` in its day (`current`: that day as known so far, or
    None) and trip the breaker when the day's loss reaches the limit."""
    d = day_of(t)
    day = current if current is not None and current.day == d else Day(d, equity)
    tripped = False
    if day.breaker_until is None:
        until = circuit_breaker_until(day.start_equity, equity, loss_limit_pct, t - EPS)
        if until is not None and until > t:
            pnl = ((equity - day.start_equity) / day.start_equity * 100).quantize(PCT)
            day = replace(day, breaker_until=until, tripped_at=t, pnl_pct=pnl)
            tripped = True
    new_day = Day(t.date(), equity) if t.date() != d else None
    return DayObservation(day, new_day, tripped)


def breaker_until_at(days: Iterable[Day | None], at: datetime) -> datetime | None:
    """The latest breaker of these days still in force at `at` (None: entries allowed)."""
    until: datetime | None = None
    for d in days:
        if d is not None and d.breaker_until is not None and d.breaker_until > at:
            until = d.breaker_until if until is None else max(until, d.breaker_until)
    return until


# -- an in-memory book (the backtester's) -----------------------------------------------------


@dataclass
class Ledger:
    """A book kept in memory: cash (start + realised - fees - funding), the open positions by
    symbol, the fills, and the current and previous UTC day. The paper engine keeps the same
    quantities in its store."""

    cash: Decimal
    open: dict[str, Position] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    fees: Decimal = ZERO
    funding: Decimal = ZERO
    day: Day | None = None
    previous_day: Day | None = None

    def enter(self, position: Position, fill: Fill) -> None:
        self.open[position.symbol] = position
        self.cash -= fill.fee
        self.fees += fill.fee
        self.fills.append(fill)

    def pay_funding(self, position: Position, payment: Decimal) -> None:
        """`position` after the settlement (its funding_paid grown by `payment`)."""
        self.open[position.symbol] = position
        self.cash -= payment
        self.funding += payment

    def exit(self, after: Position, fill: Fill) -> None:
        self.fills.append(fill)
        self.cash += fill.pnl - fill.fee
        self.fees += fill.fee
        if after.is_open:
            self.open[after.symbol] = after
        else:
            del self.open[after.symbol]

    def equity(self, marks: Mapping[str, Decimal]) -> Decimal:
        return self.cash + sum(
            (p.unrealized_pnl(marks[s]) for s, p in self.open.items()), ZERO
        )

    def observe(
        self, t: datetime, equity: Decimal, loss_limit_pct: float | Decimal
    ) -> DayObservation:
        obs = observe_day(self.day, t, equity, loss_limit_pct)
        if obs.new_day is not None:
            self.previous_day, self.day = obs.day, obs.new_day
        else:
            if self.day is not None and self.day.day != obs.day.day:
                self.previous_day = self.day
            self.day = obs.day
        return obs

    def breaker_until(self, at: datetime) -> datetime | None:
        return breaker_until_at((self.day, self.previous_day), at)

    def portfolio(self, equity: Decimal, at: datetime) -> PortfolioState:
        start = self.day.start_equity if self.day is not None else equity
        return portfolio_state(equity, start, self.open.values(), self.breaker_until(at))
