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
]
EXIT_REASONS: tuple[str, ...] = ExitReason.__args__  # type: ignore[attr-defined]


class Position(BaseModel):
    """An open (or closed) position. Updated only through execution.lifecycle functions."""

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
    fees_paid: Money = Decimal("0")
    funding_paid: Money = Decimal("0")  # positive = paid, negative = received
    status: Literal["open", "closed"] = "open"
    closed_at: datetime | None = None
    exit_reason: ExitReason | None = None
    tick: Money = Decimal("0.00000001")  # the market's price tick, for stop rounding
    lot: Money = Decimal("0.00000001")  # the market's amount step, for partial closes

    @property
    def sign(self) -> int:
        return 1 if self.side == "long" else -1

    @property
    def is_open(self) -> bool:
        return self.status == "open" and self.quantity > 0

    @property
    def initial_risk(self) -> Decimal:
        """R in quote currency: the loss at the initial stop for the initial size."""
        return abs(self.entry_price - self.initial_stop) * self.initial_quantity

    def unrealized_pnl(self, price: Decimal) -> Decimal:
        return (price - self.entry_price) * self.quantity * self.sign

    def move_pct(self, price: Decimal) -> Decimal:
        """Favourable price move from entry in percent (negative = against)."""
        return (price - self.entry_price) / self.entry_price * 100 * self.sign

    @property
    def net_pnl(self) -> Decimal:
        return self.realized_pnl - self.fees_paid - self.funding_paid


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
