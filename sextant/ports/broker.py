"""The broker port: one interface, two adapters (paper, Bybit) chosen by SEXTANT_MODE.

Contract (every adapter):
- `open(signal, ...)` opens the position of an actionable signal or reports why not. It is
  idempotent: the entry's client order id derives from the signal id, so calling it again
  for the same signal (a retried cycle, a restart) returns the position already opened and
  never opens a second one. `status="submitted"`: the order went out but the exchange has
  not confirmed a final state yet; it stays `pending` in the store and the next `sync` books
  the position (with the signal's stop and targets) if it filled.
- `apply(old, result, exits, time)` books one lifecycle step of a position: the stepped
  position (best price, last price, moved stop) and the exits the broker must execute. Paper
  fills the exits itself; Bybit's stops and targets rest on the exchange, so it only executes
  the market exits (stale, news panic, manual, circuit breaker) and moves its stop order.
  Every exit fill is written (position and fill, one transaction) as soon as the exchange
  confirmed it, before anything else is sent; the rest of the call is written after.
- `sync(time)` brings the store in line with the account: on Bybit it books what the exchange
  filled (targets, stops, funding), re-places a missing stop, adopts an unknown position;
  paper has nothing to sync.
- No method raises for a business refusal (rejected order, insufficient margin): that is a
  result with `status="rejected"` and the exchange's message. Network failures after the
  retries raise `BrokerUnavailable`; the caller keeps the position and tries again later.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

from sextant.errors import BrokerUnavailable
from sextant.lifecycle import Exit, StepResult
from sextant.models import MarketInfo, Signal
from sextant.positions import Fill, OrderRecord, Position

__all__ = ["Applied", "Broker", "BrokerUnavailable", "OpenResult", "SyncReport"]


@dataclass
class OpenResult:
    status: Literal["filled", "partially_filled", "rejected", "exists", "submitted"]
    position: Position | None = None
    orders: list[OrderRecord] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    error: str = ""


@dataclass
class Applied:
    """What one `apply` or `close` booked."""

    position: Position  # after everything below
    fills: list[Fill] = field(default_factory=list)  # exit fills, in order
    orders: list[OrderRecord] = field(default_factory=list)  # orders created or changed
    # (position right after each exit fill, the fill): what the broadcaster posts
    exits: list[tuple[Position, Fill]] = field(default_factory=list)


@dataclass
class SyncReport:
    """What `sync` found and did; every list is empty when the book matched the account."""

    booked: list[tuple[Position, Fill]] = field(default_factory=list)  # exits filled while away
    entries: list[Position] = field(default_factory=list)  # our own entries settled late
    replaced: list[OrderRecord] = field(default_factory=list)  # missing stops/targets re-placed
    adopted: list[Position] = field(default_factory=list)  # unknown exchange positions
    resolved: list[OrderRecord] = field(default_factory=list)  # pending orders settled
    funding: int = 0  # funding payments booked
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.booked or self.entries or self.replaced or self.adopted or self.resolved
            or self.notes
        )


class Broker(Protocol):
    name: str  # "paper" | "bybit"
    exchange_exits: bool  # True: stops and targets rest on the exchange, which fills them

    async def start(self) -> SyncReport:
        """Connect (markets, margin mode) and reconcile the store with the account."""
        ...

    async def open(
        self, signal: Signal, *, market: MarketInfo, price: Decimal, time: datetime
    ) -> OpenResult: ...

    async def apply(
        self, old: Position, result: StepResult, exits: list[Exit], *, time: datetime
    ) -> Applied: ...

    async def sync(self, time: datetime) -> SyncReport: ...

    async def equity(self) -> Decimal | None:
        """The account's equity (wallet + open PnL) when an exchange holds it; None for paper,
        whose equity the engine derives from the store."""
        ...

    async def aclose(self) -> None: ...
