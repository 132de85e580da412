"""The broadcaster port: what the graph and the loop tell subscribers. Console or Telegram.

Implementations never raise into trading code: a failed post is logged (and, for Telegram,
kept in the outbox for a retry), the cycle goes on.

Who calls what (see also tools/broadcast/telegram.py and tools/broadcast/commands.py):

* the broadcaster graph node calls `publish_cycle(...)` once per analysis cycle, with the
  entries execution acted on, the cycle's exits (if any) and the Market Pulse context;
* the loop's position monitor calls `publish_exits(exits)` for every exit fill it books
  between cycles (TP1, TP2, stop, trailing, stale, news panic, manual, liquidation, ...);
* the loop calls `on_tick(now)` regularly (every monitor step is fine: it is cheap) with its
  clock's time, simulated or real: it posts the daily/weekly stats when due and retries what
  is still queued;
* whoever owns the broadcaster calls `aclose()` once at shutdown (Telegram: sends what is
  queued for at most `SEXTANT_TELEGRAM__DRAIN_TIMEOUT_S`, the rest stays in the outbox).

Every call is idempotent: publishing the same signal, exit fill or scheduled slot twice (a
re-run cycle, a restart) posts it once.
"""

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from sextant.events import EntryEvent, ExitEvent, MarketPulse
from sextant.models import Signal

# Returns the `sextant.status/1` document of `sextant status --json` (issue 4):
# {"schema", "mode", "equity", "today_pnl", "circuit_breaker": {"tripped", "until"},
#  "last_cycle_as_of", "positions": [{"symbol", "side", "entry", "quantity", "stop_loss",
#  "take_profit_1", "take_profit_2", "leverage", "unrealized_pnl", "opened_at", "tp1_done"}]}
StatusProvider = Callable[[], Awaitable[dict[str, Any]]]


class Broadcaster(Protocol):
    async def publish_cycle(
        self,
        *,
        as_of: datetime,
        signals: Sequence[Signal],
        entries: Sequence[EntryEvent],
        exits: Sequence[ExitEvent],
        pulse: MarketPulse | None = None,
    ) -> list[str]:
        """Posts for one analysis cycle: entries, then exits, then the Market Pulse when its
        slot (every `pulse_every_hours`, aligned to UTC midnight) has not been posted yet.

        Returns the plain texts of the posts it queued and a last one-line cycle summary
        (for logs and tests). Never raises.
        """
        ...

    async def publish_exits(self, exits: Sequence[ExitEvent]) -> list[str]:
        """Exit posts found by the position monitor between cycles (replies to the entry)."""
        ...

    async def on_tick(self, now: datetime) -> list[str]:
        """Scheduled posts due at `now` (daily stats at `stats_hour_utc`, weekly on
        `weekly_day`) and a retry of queued posts. Call it from the loop with the loop's clock
        (simulated time in replays). Returns the texts queued by this call. Never raises."""
        ...

    async def aclose(self) -> None:
        """Flush what can be flushed (bounded), then release connections."""
        ...
