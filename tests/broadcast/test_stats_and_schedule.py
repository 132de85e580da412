"""Trade statistics by hand, the schedules, and the scheduled posts through the console."""

import asyncio
import io
from datetime import UTC, datetime, timedelta

import pytest

from sextant.clock import FixedClock
from sextant.events import MarketPulse
from tests.broadcast.helpers import AS_OF, entry, exit_event, position, signal
from tools.broadcast.console import ConsoleBroadcaster
from tools.broadcast.schedule import last_daily, last_weekly, pulse_slot
from tools.broadcast.stats import ExitRow, closed_trades, trade_result

T0 = datetime(2026, 5, 16, tzinfo=UTC)


def row(
    pid: str, reason: str, hours: float, share: float, r: float, pnl: float, closes: bool
) -> ExitRow:
    return ExitRow(
        pid,
        "ETH/USDT:USDT",
        "short",
        reason,
        T0 + timedelta(hours=hours),
        share,
        pnl,
        r,
        closes,
        risk_pct=1.5,
    )


def test_trade_results_by_hand() -> None:
    tp_trade = [row("a", "tp1", 1, 0.5, 1.5, 4.0, False), row("a", "tp2", 5, 0.5, 2.5, 6.0, True)]
    result = trade_result(tp_trade)
    assert result is not None
    assert result.r == pytest.approx(2.0)  # 0.5 x 1.5 + 0.5 x 2.5
    assert result.pnl_pct == pytest.approx(5.0)  # 0.5 x 4 + 0.5 x 6
    assert result.equity_pct == pytest.approx(3.0)  # 2R x 1.5 % risk
    assert result.closed_at == T0 + timedelta(hours=5)
    assert trade_result([row("b", "tp1", 1, 0.5, 1.5, 4.0, False)]) is None  # still open
    be = [
        row("c", "tp1", 2, 0.5, 1.5, 4.0, False),
        row("c", "breakeven_stop", 30, 0.5, 0.1, 0.15, True),
    ]
    rows = tp_trade + be + [row("d", "stop_loss", 20, 1.0, -1.0, -3.0, True)]
    day = closed_trades(rows, T0, T0 + timedelta(days=1))
    assert [(t.position_id, round(t.r, 4)) for t in day] == [("a", 2.0), ("d", -1.0)]
    assert [
        t.position_id for t in closed_trades(rows, T0 + timedelta(days=1), T0 + timedelta(days=2))
    ] == ["c"]


def test_schedules() -> None:
    now = datetime(2026, 5, 16, 0, 5, tzinfo=UTC)  # a Saturday
    assert last_daily(now, 0) == datetime(2026, 5, 16, tzinfo=UTC)
    assert last_daily(now, 20) == datetime(2026, 5, 15, 20, tzinfo=UTC)
    assert last_weekly(now, 0, 0) == datetime(2026, 5, 11, tzinfo=UTC)  # Monday
    assert last_weekly(datetime(2026, 5, 18, 0, tzinfo=UTC), 0, 0) == datetime(
        2026, 5, 18, tzinfo=UTC
    )
    assert pulse_slot(datetime(2026, 5, 16, 11, 30, tzinfo=UTC), 4) == datetime(
        2026, 5, 16, 8, tzinfo=UTC
    )
    assert pulse_slot(datetime(2026, 5, 16, 23, tzinfo=UTC), 5) == datetime(
        2026, 5, 16, 20, tzinfo=UTC
    )


def test_daily_and_weekly_stats_posts_on_tick() -> None:
    out = io.StringIO()
    status_calls = []

    async def status() -> dict:
        status_calls.append(1)
        return {"positions": [{"symbol": "SOL/USDT:USDT"}]}

    sig = signal(as_of=datetime(2026, 5, 17, 2, tzinfo=UTC))
    pos = position(sig)
    tp1 = exit_event(
        pos,
        "tp1",
        "2054.33",
        "0.95",
        r="1.5",
        pnl_pct="5.4",
        at=datetime(2026, 5, 17, 9, tzinfo=UTC),
        closes=False,
    )
    tp2 = exit_event(
        tp1.position,
        "tp2",
        "1975.37",
        "0.94",
        r="2.5",
        pnl_pct="9.0",
        at=datetime(2026, 5, 17, 15, tzinfo=UTC),
        closes=True,
    )

    async def main() -> list[list[str]]:
        b = ConsoleBroadcaster(out, status=status, clock=FixedClock(AS_OF))
        await b.publish_cycle(
            as_of=sig.as_of, signals=[sig], entries=[entry(sig, chart=False)], exits=[]
        )
        await b.publish_exits([tp1, tp2])
        return [
            await b.on_tick(datetime(2026, 5, 17, 23, tzinfo=UTC)),  # last slot too old
            await b.on_tick(datetime(2026, 5, 18, 0, 5, tzinfo=UTC)),  # Monday: daily + weekly
            await b.on_tick(datetime(2026, 5, 18, 0, 35, tzinfo=UTC)),  # already posted
            await b.on_tick(datetime(2026, 5, 19, 9, 0, tzinfo=UTC)),  # 9 h late: skipped
        ]

    ticks = asyncio.run(main())
    # Sunday 23:00: the last daily slot (Sunday 00:00) is 23 h old, past max_post_age_hours
    assert [len(t) for t in ticks] == [0, 2, 0, 0]
    daily, weekly = ticks[1]
    assert daily.startswith("📊 Daily stats · 2026-05-17 00:00 UTC → 2026-05-18 00:00 UTC")
    assert "Trades closed: 1 · win rate 100%" in daily and "Open positions: 1" in daily
    assert weekly.startswith("📊 Weekly stats · 2026-05-11 00:00 UTC → 2026-05-18 00:00 UTC")
    assert daily in out.getvalue() and status_calls


def test_market_pulse_once_per_slot() -> None:
    out = io.StringIO()

    async def main() -> list[int]:
        b = ConsoleBroadcaster(out)
        counts = []
        for hour in (11, 11, 12, 13, 16):
            as_of = datetime(2026, 5, 16, hour, tzinfo=UTC)
            posts = await b.publish_cycle(
                as_of=as_of, signals=[], entries=[], exits=[], pulse=MarketPulse(as_of=as_of)
            )
            counts.append(len(posts) - 1)  # the last line is the cycle summary
        assert (await b.latest_pulse()).as_of == datetime(2026, 5, 16, 16, tzinfo=UTC)
        return counts

    assert asyncio.run(main()) == [1, 0, 1, 0, 1]
    assert out.getvalue().count("🧭 Market Pulse") == 3
