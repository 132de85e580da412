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

import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sextant.models import CandleFrame, NewsAssessment, Signal
from sextant.positions import Fill, Position

# Returns the `sextant.status/1` document of `sextant status --json` (issue 4):
# {"schema", "mode", "equity", "today_pnl", "circuit_breaker": {"tripped", "until"},
#  "last_cycle_as_of", "positions": [{"symbol", "side", "entry", "quantity", "stop_loss",
#  "take_profit_1", "take_profit_2", "leverage", "unrealized_pnl", "opened_at", "tp1_done"}]}
StatusProvider = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class EntryEvent:
    """A signal that execution acted on; `position` is None when dry-run only recorded it.

    `candles` (the signal timeframe, closed bars up to the signal) draw the entry chart; without
    them the entry is posted as text only. `news` adds the symbol's key headline to the post.
    """

    signal: Signal
    position: Position | None = None
    candles: CandleFrame | None = None
    news: NewsAssessment | None = None


@dataclass(frozen=True)
class ExitEvent:
    """An exit fill (TP1, TP2, stop, trailing, stale, news panic, manual, liquidation)."""

    position: Position  # the position after this fill
    fill: Fill
    r_multiple: Decimal
    pnl_pct: Decimal  # net PnL of this fill in % of the position's entry notional share


def _keep(ch: str) -> bool:
    return ch in "\n\t" or unicodedata.category(ch)[0] != "C"


def printable(text: str) -> str:
    """`text` without what breaks a post, a log line, a terminal or a database insert: lone
    surrogates (no UTF-8 for them) and the other characters of Unicode category C (control, ESC
    sequences included; format, bidi overrides included; private use; unassigned). Newlines and
    tabs stay."""
    if text.isprintable():
        return text
    return "".join(ch for ch in text if _keep(ch))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _printable(cls, v: Any) -> Any:
        """Text here may come from a model (WAIT reasons, headlines): keep it printable, so the
        Pulse can always be stored (JSON, SQLite) and posted."""
        if isinstance(v, str):
            return printable(v)
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            return [printable(x) for x in v]
        return v


class Mover(_Frozen):
    symbol: str
    change_24h_pct: float
    price: float


class WaitItem(_Frozen):
    symbol: str
    code: str
    message: str


class MarketPulse(_Frozen):
    """The market at a cycle's `as_of`, computed from the graph state by the broadcaster node."""

    as_of: datetime
    btc_symbol: str = "BTC/USDT:USDT"
    btc_price: float | None = None
    btc_change_4h_pct: float | None = None
    btc_change_24h_pct: float | None = None
    btc_trend: str | None = None  # "up" | "down" | "sideways"
    btc_regime: str | None = None  # math-engine regime when BTC was analysed
    news_regime: str = "NORMAL"  # most severe per-symbol regime: NORMAL | DIGESTING | PANIC
    news_available: bool = False
    news_notes: list[str] = Field(default_factory=list)  # symbols not NORMAL, key headlines
    movers: list[Mover] = Field(default_factory=list)  # largest |24h change| first
    waits: list[WaitItem] = Field(default_factory=list)
    signals: dict[str, int] = Field(default_factory=dict)  # LONG/SHORT/WAIT counts


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
