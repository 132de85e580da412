"""The market-data port: one interface, two adapters (replay, bybit) nobody can tell apart.

Contract: `collect` never raises for one symbol's bad or missing data: that symbol gets an
error and a reason code in the result (`MarketDataError` inside the adapters), the others
their snapshots. Snapshots hold only what had closed at `as_of` (point in time).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from sextant.errors import MarketDataError
from sextant.models import MarketInfo, MarketSnapshot, SymbolError


@dataclass
class CollectResult:
    snapshots: dict[str, MarketSnapshot] = field(default_factory=dict)
    errors: list[SymbolError] = field(default_factory=list)
    codes: dict[str, str] = field(default_factory=dict)  # symbol -> reason code of its error
    requests: int = 0


__all__ = ["CollectResult", "MarketDataError", "MarketDataPort"]


class MarketDataPort(Protocol):
    source: Literal["replay", "bybit"]

    async def markets(self) -> dict[str, MarketInfo]:
        """Tradable USDT linear perpetuals and their rules."""
        ...

    async def collect(self, symbols: Sequence[str], as_of: datetime) -> CollectResult:
        """Snapshots at `as_of`; a failing symbol becomes an error, never an exception."""
        ...

    async def default_as_of(self, symbols: Sequence[str]) -> datetime:
        """The time a cycle without --as-of analyses: now (live) or the end of the data (replay)."""
        ...

    async def close(self) -> None: ...
