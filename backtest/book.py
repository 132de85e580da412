"""The simulated account: cash, open positions, the day's PnL and the circuit breaker.

Positions change only through `sextant.lifecycle`; this module keeps the money that goes with
them and splits each position's entry fee and funding over its exit fills, so that every trade
row carries its own costs and the rows add up to the equity change.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sextant.lifecycle import circuit_breaker_until, r_multiple, utc_day_start
from sextant.models import PortfolioState
from sextant.positions import Fill, Position

ZERO = Decimal(0)


@dataclass(frozen=True)
class TradeRow:
    """One exit fill (TP1 partials are their own rows); pnl is net of its fees and funding."""

    symbol: str
    side: str
    entry_time: datetime
    entry_price: Decimal
    exit_time: datetime
    exit_price: Decimal
    quantity: Decimal
    pnl: Decimal
    fees: Decimal
    funding: Decimal
    exit_reason: str
    r_multiple: Decimal  # price move in R (lifecycle.r_multiple), before costs
    position_id: str


@dataclass(frozen=True)
class ClosedPosition:
    position: Position
    net_pnl: Decimal
    r_gross: Decimal  # quantity-weighted R of its fills, before costs
    r_net: Decimal  # net PnL / initial risk

    @property
    def hours(self) -> float:
        assert self.position.closed_at is not None
        return (self.position.closed_at - self.position.opened_at).total_seconds() / 3600


@dataclass
class OpenTrade:
    position: Position
    entry_fee_left: Decimal
    funding_left: Decimal = ZERO
    net_so_far: Decimal = ZERO
    r_weighted: Decimal = ZERO
    close_for_news: bool = False


@dataclass
class Book:
    cash: Decimal
    day_start_equity: Decimal
    open: dict[str, OpenTrade] = field(default_factory=dict)
    closed: list[ClosedPosition] = field(default_factory=list)
    trades: list[TradeRow] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    fees: Decimal = ZERO
    funding: Decimal = ZERO
    breaker_until: datetime | None = None

    def enter(self, position: Position, fill: Fill) -> None:
        self.open[position.symbol] = OpenTrade(position, fill.fee)
        self.cash -= fill.fee
        self.fees += fill.fee
        self.fills.append(fill)

    def pay_funding(self, symbol: str, position: Position, payment: Decimal) -> None:
        trade = self.open[symbol]
        trade.position = position
        trade.funding_left += payment
        self.cash -= payment
        self.funding += payment

    def exit(self, before: Position, after: Position, fill: Fill) -> None:
        """Book an exit fill of `before` (the position as it was) that left `after`."""
        trade = self.open[before.symbol]
        share = fill.quantity / before.quantity
        entry_fee = trade.entry_fee_left if after.quantity == 0 else trade.entry_fee_left * share
        funding = trade.funding_left if after.quantity == 0 else trade.funding_left * share
        trade.entry_fee_left -= entry_fee
        trade.funding_left -= funding
        net = fill.pnl - fill.fee - entry_fee - funding
        r = r_multiple(after, fill)
        self.trades.append(
            TradeRow(
                symbol=fill.symbol,
                side=fill.side,
                entry_time=before.opened_at,
                entry_price=before.entry_price,
                exit_time=fill.time,
                exit_price=fill.price,
                quantity=fill.quantity,
                pnl=net,
                fees=fill.fee + entry_fee,
                funding=funding,
                exit_reason=fill.reason,
                r_multiple=r,
                position_id=before.position_id,
            )
        )
        self.fills.append(fill)
        self.cash += fill.pnl - fill.fee
        self.fees += fill.fee
        trade.position = after
        trade.net_so_far += net
        trade.r_weighted += r * fill.quantity
        if not after.is_open:
            del self.open[before.symbol]
            risk = after.initial_risk
            self.closed.append(
                ClosedPosition(
                    position=after,
                    net_pnl=trade.net_so_far,
                    r_gross=trade.r_weighted / after.initial_quantity,
                    r_net=trade.net_so_far / risk if risk > 0 else ZERO,
                )
            )

    # -- valuation ------------------------------------------------------------------------

    def equity(self, prices: dict[str, Decimal]) -> Decimal:
        return self.cash + sum(
            (t.position.unrealized_pnl(prices[s]) for s, t in self.open.items()), ZERO
        )

    def margin_used(self) -> Decimal:
        return sum((t.position.margin for t in self.open.values()), ZERO)

    def close_of_day(self, as_of: datetime, equity: Decimal, loss_limit_pct: float) -> None:
        """The UTC day's bookkeeping at a bar close: a new day starts at 00:00 with the equity
        then; a day's PnL at or below -loss_limit_pct trips the breaker until the next day."""
        if as_of == utc_day_start(as_of):
            self.day_start_equity = equity
        if self.breaker_until is not None and as_of >= self.breaker_until:
            self.breaker_until = None
        if self.breaker_until is None:
            self.breaker_until = circuit_breaker_until(
                self.day_start_equity, equity, loss_limit_pct, as_of
            )

    def portfolio(self, equity: Decimal) -> PortfolioState:
        return PortfolioState(
            equity=equity,
            day_start_equity=self.day_start_equity,
            day_pnl=equity - self.day_start_equity,
            margin_used=self.margin_used(),
            open_symbols=tuple(sorted(self.open)),
            circuit_breaker_until=self.breaker_until,
        )
