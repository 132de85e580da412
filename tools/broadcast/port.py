"""The broadcaster port: what the graph and the loop tell subscribers. Console or Telegram.

Implementations never raise into trading code: a failed post is logged (and, for Telegram,
kept in the outbox for a retry), the cycle goes on.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from sextant.models import Signal
from sextant.positions import Fill, Position


@dataclass(frozen=True)
class EntryEvent:
    """A signal that execution acted on; `position` is None when dry-run only recorded it."""

    signal: Signal
    position: Position | None = None


@dataclass(frozen=True)
class ExitEvent:
    """An exit fill (TP1, TP2, stop, trailing, stale, news panic, manual, liquidation)."""

    position: Position  # the position after this fill
    fill: Fill
    r_multiple: Decimal
    pnl_pct: Decimal  # net PnL of this fill in % of the position's entry notional share


class Broadcaster(Protocol):
    async def publish_cycle(
        self,
        *,
        as_of: datetime,
        signals: Sequence[Signal],
        entries: Sequence[EntryEvent],
        exits: Sequence[ExitEvent],
    ) -> list[str]:
        """Posts for one analysis cycle; returns the rendered texts (for logs and tests)."""
        ...

    async def publish_exits(self, exits: Sequence[ExitEvent]) -> list[str]:
        """Exit posts found by the position monitor between cycles."""
        ...

    async def aclose(self) -> None: ...
