"""The price-feed port of the position monitor: closed 1h bars, the last price, funding.

The analysis cycle reads full snapshots through the market-data port; the monitor needs far
less and needs it often. Adapters: the replay CSVs (point in time: only bars that had closed
by `until`) and Bybit's public REST through the exchange seam (`execution/prices.py`).
"""

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from sextant.lifecycle import Bar


class PriceFeed(Protocol):
    async def bars(
        self, symbols: Sequence[str], after: datetime, until: datetime
    ) -> dict[str, list[Bar]]:
        """Closed 1h bars that opened at or after `after` and closed at or before `until`;
        each Bar's `time` is its close time."""
        ...

    async def prices(self, symbols: Sequence[str], at: datetime) -> dict[str, Decimal]:
        """The last price of each symbol at `at` (live: now)."""
        ...

    async def funding(
        self, symbol: str, after: datetime, until: datetime
    ) -> list[tuple[datetime, Decimal]] | None:
        """Funding settlements (time, rate per interval) in (after, until]; None = unknown."""
        ...

    async def close(self) -> None: ...
