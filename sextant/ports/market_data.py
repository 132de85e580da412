"""The market-data port: one interface, two adapters (replay, bybit) nobody can tell apart."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from sextant.models import MarketInfo, MarketSnapshot, SymbolError


class MarketDataError(Exception):
    """One symbol's data could not be collected; the cycle goes on without it."""

    def __init__(self, symbol: str | None, code: str, message: str) -> None:
        super().__init__(message)
        self.symbol = symbol
        self.code = code
        self.message = message


@dataclass
class CollectResult:
    snapshots: dict[str, MarketSnapshot] = field(default_factory=dict)
    errors: list[SymbolError] = field(default_factory=list)
    codes: dict[str, str] = field(default_factory=dict)  # symbol -> reason code of its error
    requests: int = 0


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
