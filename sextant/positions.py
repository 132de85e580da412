"""Positions, orders and fills: the execution side of the domain vocabulary."""

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sextant.models import Money, Side

ExitReason = Literal[
    "tp1",
    "tp2",
    "stop_loss",
    "breakeven_stop",
    "trailing_stop",
    "stale_exit",
    "news_panic",
    "manual",
    "liquidation",
    "circuit_breaker",
    "signal_reversal",
]
EXIT_REASONS: tuple[str, ...] = ExitReason.__args__  # type: ignore[attr-defined]


class Position(BaseModel):
    """An open (or closed) position. Updated only through sextant.lifecycle functions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    position_id: str  # = the signal id that opened it
    symbol: str
    side: Side
    entry_price: Money
    initial_quantity: Money
    quantity: Money  # still open
    initial_stop: Money
    stop_loss: Money
    take_profit_1: Money
    take_profit_2: Money
    leverage: int = Field(ge=1)
    opened_at: datetime
    mode: str = "dry_run"
    tp1_done: bool = False
    best_price: Money  # most favourable price seen since entry (drives the trailing stop)
    liquidation_price: Money | None = None
    realized_pnl: Money = Decimal("0")  # price PnL of the closed part, before fees and funding
    fees_paid: Money = Decimal("0")  # entry fee + exit fees so far
    entry_fee: Money = Decimal("0")
    funding_paid: Money = Decimal("0")  # positive = paid, negative = received
    status: Literal["open", "closed"] = "open"
    closed_at: datetime | None = None
    exit_reason: ExitReason | None = None
    tick: Money = Decimal("0.00000001")  # the market's price tick, for stop rounding
    lot: Money = Decimal("0.00000001")  # the market's amount step, for partial closes
    # Set by lifecycle.step: the last price seen and the time of the last bar/tick applied.
    # A bar or tick at or before `last_step_at` is ignored, so re-applying one is harmless.
    last_price: Money | None = None
    last_step_at: datetime | None = None
    origin: Literal["signal", "adopted"] = "signal"  # adopted: found on the exchange, not ours
    # The 30-day daily ATR at entry, in price units: the unit of ATR-based breakeven and
    # trailing distances and the position's daily volatility for book volatility targeting.
    # None for positions adopted from the exchange (R stands in) and rows written before it.
    atr: Money | None = None
    # What moved the stop last ("breakeven" | "trail"), which names a stop-out; None = never.
    stop_move: Literal["breakeven", "trail"] | None = None

    @property
    def sign(self) -> int:
        return 1 if self.side == "long" else -1

    @property
    def is_open(self) -> bool:
        return self.status == "open" and self.quantity > 0

    @property
    def daily_vol(self) -> Decimal:
        """Daily volatility exposure in quote currency: quantity x the daily ATR at entry (the
        initial stop distance when there is none)."""
        unit = self.atr if self.atr is not None else abs(self.entry_price - self.initial_stop)
        return self.quantity * unit if self.is_open else Decimal(0)

    @property
    def initial_risk(self) -> Decimal:
        """R in quote currency: the loss at the initial stop for the initial size."""
        return abs(self.entry_price - self.initial_stop) * self.initial_quantity

    def unrealized_pnl(self, price: Decimal | None = None) -> Decimal:
        """Open PnL at `price` (default: the last price seen, else the entry: zero)."""
        mark = price if price is not None else (self.last_price or self.entry_price)
        return (mark - self.entry_price) * self.quantity * self.sign

    @property
    def margin(self) -> Decimal:
        """Isolated margin still committed: the open part's entry notional over the leverage."""
        return self.entry_price * self.quantity / self.leverage if self.is_open else Decimal(0)

    def move_pct(self, price: Decimal) -> Decimal:
        """Favourable price move from entry in percent (negative = against)."""
        return (price - self.entry_price) / self.entry_price * 100 * self.sign

    @property
    def net_pnl(self) -> Decimal:
        return self.realized_pnl - self.fees_paid - self.funding_paid


# Fields left out of the stored JSON while None, so that rows written before they existed
# still compare equal to their re-read models (the store's compare-and-swap).
SPARSE_FIELDS: tuple[str, ...] = ("atr", "stop_move")


class Fill(BaseModel):
    """One execution: an entry or (part of) an exit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    position_id: str
    symbol: str
    side: Side  # the position's side
    kind: Literal["entry", "exit"]
    reason: ExitReason | Literal["entry"]
    quantity: Money
    price: Money
    fee: Money
    pnl: Money = Decimal("0")  # price PnL of this exit fill
    time: datetime
    order_id: str = ""


OrderKind = Literal["entry", "stop", "tp1", "tp2", "exit"]
OrderStatus = Literal[
    "pending",  # written before it is sent: its outcome is unknown until confirmed
    "open",  # resting on the exchange (conditional stop / take-profit)
    "filled",
    "partially_filled",  # filled in part and done (IOC rest cancelled)
    "cancelled",
    "rejected",
]


class OrderRecord(BaseModel):
    """An order as the store keeps it: written before sending (pending), updated after.

    `client_order_id` derives from the position (= signal) id, so a repeated or retried
    submission reuses the id and the exchange (or the store) refuses a second one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_order_id: str = Field(max_length=36)
    position_id: str
    symbol: str
    side: Literal["buy", "sell"]
    kind: OrderKind
    reason: str = ""  # exit reason / "breakeven" / "trail" for a replaced stop
    order_type: Literal["market", "stop_market", "take_profit_market"] = "market"
    quantity: Money
    trigger_price: Money | None = None
    reduce_only: bool = False
    status: OrderStatus = "pending"
    filled_quantity: Money = Decimal("0")
    average_price: Money | None = None
    fee: Money = Decimal("0")
    exchange_order_id: str = ""
    error: str = ""
    mode: str = "dry_run"
    created_at: datetime
    updated_at: datetime
    # sync passes in a row the exchange did not show this pending order (its views lag)
    missed_lookups: int = Field(0, ge=0)

    @property
    def is_active(self) -> bool:
        return self.status in ("pending", "open")


class OrderIntent(BaseModel):
    """What the lifecycle asks a broker to do; brokers turn it into exchange orders."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    position_id: str
    symbol: str
    action: Literal["exit", "move_stop"]
    reason: ExitReason | Literal["breakeven", "trail"]
    quantity: Money = Decimal("0")
    price: Money  # trigger/fill price for exits, new stop for move_stop
    client_order_id: str = ""
