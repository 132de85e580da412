"""The simulated account: cash, open positions, the day's PnL and the circuit breaker.

Positions change only through `sextant.lifecycle`; this module keeps the money that goes with
them and splits each position's entry fee and funding over its exit fills, so that every trade
row carries its own costs and the rows add up to the equity change.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sextant.account import Ledger
from sextant.lifecycle import r_multiple
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
    news_price: Decimal | None = None  # the quote a news-panic close takes (fills="quote")
    close_for_reversal: bool = False
    reversal_price: Decimal | None = None  # the quote a reversal close takes (fills="quote")


@dataclass
class Book:
    ledger: Ledger
    open: dict[str, OpenTrade] = field(default_factory=dict)
    closed: list[ClosedPosition] = field(default_factory=list)
    trades: list[TradeRow] = field(default_factory=list)

    @classmethod
    def starting(cls, equity: Decimal) -> "Book":
        return cls(Ledger(cash=equity))

    @property
    def cash(self) -> Decimal:
        return self.ledger.cash

    @property
    def fills(self) -> list[Fill]:
        return self.ledger.fills

    @property
    def fees(self) -> Decimal:
        return self.ledger.fees

    @property
    def funding(self) -> Decimal:
        return self.ledger.funding

    def enter(self, position: Position, fill: Fill) -> None:
        self.ledger.enter(position, fill)
        self.open[position.symbol] = OpenTrade(position, fill.fee)

    def move(self, position: Position) -> None:
        """A lifecycle step without a fill (best price, last price, stop moves)."""
        self.ledger.open[position.symbol] = position
        self.open[position.symbol].position = position

    def pay_funding(self, symbol: str, position: Position, payment: Decimal) -> None:
        trade = self.open[symbol]
        trade.position = position
        trade.funding_left += payment
        self.ledger.pay_funding(position, payment)

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
        self.ledger.exit(after, fill)
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

    # -- valuation, the day, the portfolio: the account core's ------------------------------

    def equity(self, prices: dict[str, Decimal]) -> Decimal:
        return self.ledger.equity(prices)

    def close_of_day(self, as_of: datetime, equity: Decimal, loss_limit_pct: float) -> bool:
        """The UTC day's bookkeeping at a bar close (`sextant.account.observe_day`); True when
        the circuit breaker tripped with it."""
        return self.ledger.observe(as_of, equity, loss_limit_pct).tripped

    def breaker_until(self, at: datetime) -> datetime | None:
        return self.ledger.breaker_until(at)

    def portfolio(self, equity: Decimal, at: datetime) -> PortfolioState:
        return self.ledger.portfolio(equity, at)
