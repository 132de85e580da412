"""Domain events: what happened in a cycle or a monitor pass, for whoever subscribes.

The execution engine produces `ExitEvent`s (an exit fill with its R and PnL %), the graph's
broadcaster node `EntryEvent`s and the `MarketPulse`; the broadcaster port
(`sextant.ports.broadcaster`) turns them into posts. Plain values: no I/O, no adapter types.
"""

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sextant.models import CandleFrame, NewsAssessment, Signal
from sextant.positions import Fill, Position


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
