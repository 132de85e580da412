"""Trade statistics from the broadcaster's own journal of exit posts. Pure.

An exit event reports its fill's R and PnL % on that fill's share of the position (TP1 at 1.5R
closing 50%, TP2 at 2.5R closing the rest). A trade's result weighs each fill by its share of
the initial quantity: TP1 + TP2 = 0.5 x 1.5 + 0.5 x 2.5 = +2.0R.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ExitRow:
    position_id: str
    symbol: str
    side: str
    reason: str
    time: datetime
    share: float  # fill quantity / initial quantity
    pnl_pct: float
    r_multiple: float
    closes: bool  # this fill left the position flat
    risk_pct: float | None = None  # % of equity at risk at entry (from the entry post)


@dataclass(frozen=True)
class TradeResult:
    position_id: str
    symbol: str
    side: str
    r: float
    pnl_pct: float
    closed_at: datetime
    risk_pct: float | None = None

    @property
    def equity_pct(self) -> float | None:
        return None if self.risk_pct is None else self.r * self.risk_pct


@dataclass(frozen=True)
class Stats:
    start: datetime
    end: datetime
    trades: list[TradeResult] = field(default_factory=list)
    open_positions: int | None = None

    @property
    def wins(self) -> int:
        return sum(t.r > 0 for t in self.trades)

    @property
    def win_rate(self) -> float:
        return self.wins / len(self.trades) if self.trades else 0.0

    @property
    def total_r(self) -> float:
        return sum(t.r for t in self.trades)

    @property
    def avg_r(self) -> float:
        return self.total_r / len(self.trades) if self.trades else 0.0

    @property
    def pnl_pct(self) -> float:
        return sum(t.pnl_pct for t in self.trades)

    @property
    def equity_pct(self) -> float | None:
        parts = [t.equity_pct for t in self.trades]
        if not parts or any(p is None for p in parts):
            return None
        return sum(p for p in parts if p is not None)

    @property
    def best(self) -> TradeResult | None:
        return max(self.trades, key=lambda t: t.r) if self.trades else None

    @property
    def worst(self) -> TradeResult | None:
        return min(self.trades, key=lambda t: t.r) if self.trades else None


def trade_result(rows: Sequence[ExitRow]) -> TradeResult | None:
    """The result of one position from all its exit rows; None while it is still open."""
    closing = [r for r in rows if r.closes]
    if not closing:
        return None
    last = max(closing, key=lambda r: r.time)
    return TradeResult(
        position_id=last.position_id,
        symbol=last.symbol,
        side=last.side,
        r=sum(r.share * r.r_multiple for r in rows),
        pnl_pct=sum(r.share * r.pnl_pct for r in rows),
        closed_at=last.time,
        risk_pct=next((r.risk_pct for r in rows if r.risk_pct is not None), None),
    )


def closed_trades(rows: Iterable[ExitRow], start: datetime, end: datetime) -> list[TradeResult]:
    """Trades whose closing fill is in [start, end), oldest first."""
    by_position: dict[str, list[ExitRow]] = defaultdict(list)
    for r in rows:
        by_position[r.position_id].append(r)
    out = []
    for group in by_position.values():
        result = trade_result(group)
        if result is not None and start <= result.closed_at < end:
            out.append(result)
    return sorted(out, key=lambda t: t.closed_at)
