"""The loop on an injected clock: hourly cycles, 30 s monitor, resume, abandon, lock.

No test waits on the wall clock: sleeping advances a FixedClock.
"""

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from graph.graph import build_graph
from runtime.factory import build_engine
from runtime.hour import trading_hour
from runtime.lock import AlreadyRunning, InstanceLock
from runtime.loop import ReplayWindow, TradingLoop
from runtime.services import build_services
from sextant.clock import FixedClock
from sextant.config import load_settings

pytestmark = pytest.mark.anyio
SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
H = timedelta(hours=1)


def make_loop(state: Path, clock: FixedClock, replay: ReplayWindow | None = None,
              sleep=None, symbols: list[str] = SYMBOLS):  # type: ignore[no-untyped-def]
    settings = load_settings(state_dir=state, watchlist=symbols)
    engine = build_engine(settings)
    services = build_services(settings, clock=clock, engine=engine)
    loop = TradingLoop(services, engine, state_dir=state, clock=clock, wall=clock, sleep=sleep,
                       replay=replay, symbols=symbols)
    return loop, engine


async def test_live_schedule_cycles_each_hour_and_monitors_every_30s(tmp_path: Path) -> None:
    clock = FixedClock(datetime(2025, 4, 7, 14, 0, 5, tzinfo=UTC))
    slept: list[float] = []
    ticks: list[datetime] = []
    holder: dict = {}

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(timedelta(seconds=seconds))
        if clock.now() >= datetime(2025, 4, 7, 15, 30, tzinfo=UTC):
            holder["loop"].request_stop()

    loop, engine = make_loop(tmp_path / "s", clock, sleep=sleep)
    holder["loop"] = loop
    real_tick = engine.tick

    async def counting_tick(now, flags=None):  # type: ignore[no-untyped-def]
        ticks.append(now)
        return await real_tick(now, flags)

    engine.tick = counting_tick  # type: ignore[method-assign]
    try:
        assert await loop.run() == 0
    finally:
        await engine.aclose()
    cycles = engine.store.cycles()
    assert [c.as_of.hour for c in cycles] == [14, 15]
    # each cycle ran once the hour's candle had closed plus the 20 s delay
    assert [c.started_at for c in cycles] == [
        datetime(2025, 4, 7, 14, 0, 20, tzinfo=UTC), datetime(2025, 4, 7, 15, 0, 20, tzinfo=UTC)]
    assert all(c.status == "completed" for c in cycles)
    # ticks do not move the book's hour: the next cycle's entries are never "stale"
    assert engine.book_time() == datetime(2025, 4, 7, 15, tzinfo=UTC)
    assert {st for s, st, _ in engine.store.signals() if s.decision != "WAIT"} == {"filled"}
    # between cycles: a monitor pass every 30 s while positions are open
    assert engine.store.positions()  # the 14:00 cycle opened some on this data
    gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(ticks)
            if b - a < timedelta(minutes=1)}
    assert gaps == {30.0} and len(ticks) > 100
    assert max(slept) <= 30
    beat = json.loads((tmp_path / "s" / "heartbeat.json").read_text())
    assert beat["status"] == "stopped" and beat["last_cycle_as_of"] == "2025-04-07T15:00:00Z"


async def test_replay_continues_after_the_last_completed_hour(tmp_path: Path) -> None:
    start = datetime(2025, 4, 7, 10, tzinfo=UTC)
    loop, engine = make_loop(tmp_path / "s", FixedClock(start),
                             ReplayWindow(start, start + 2 * H))
    await loop.run()
    await engine.aclose()
    assert loop.cycles_run == 3
    again, engine2 = make_loop(tmp_path / "s", FixedClock(start),
                               ReplayWindow(start, start + 4 * H))
    await again.run()
    await engine2.aclose()
    assert again.cycles_run == 2  # 13:00 and 14:00 only
    assert [c.as_of.hour for c in engine2.store.cycles()] == [10, 11, 12, 13, 14]


async def test_an_interrupted_cycle_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    from runtime.checkpoint import open_checkpointer
    from runtime.cycle import cycle_id_for
    from sextant.clock import SystemClock

    as_of = datetime(2025, 4, 7, 15, tzinfo=UTC)
    state = tmp_path / "s"
    loop, engine = make_loop(state, FixedClock(as_of), ReplayWindow(as_of, as_of))
    await engine.start()
    config = {"configurable": {"thread_id": cycle_id_for(as_of)}}
    async with open_checkpointer(state) as saver:
        halted = build_graph().compile(checkpointer=saver, interrupt_before=["execution"])
        await trading_hour(loop.services, engine, as_of=as_of, symbols=SYMBOLS,
                           wall=SystemClock(), graph=halted, config=config)
        snap = await halted.aget_state(config)
        assert snap.next == ("execution",)  # "killed" after the Risk Manager
    with engine.store.tx() as tx:  # as a killed process leaves it
        tx.cycle_finished(cycle_id_for(as_of), "running", as_of, {})
    assert engine.store.open_positions() == []
    await loop.run()
    await engine.aclose()
    assert loop.cycles_run == 1
    assert engine.store.open_positions()  # the resumed cycle executed its signals
    assert [c.status for c in engine.store.cycles()] == ["completed"]


async def test_a_live_cycle_interrupted_long_ago_is_abandoned(tmp_path: Path) -> None:
    from runtime.checkpoint import open_checkpointer
    from runtime.cycle import cycle_id_for

    as_of = datetime(2025, 4, 7, 15, tzinfo=UTC)
    clock = FixedClock(as_of + timedelta(minutes=40))
    loop, engine = make_loop(tmp_path / "s", clock)
    await engine.start()
    config = {"configurable": {"thread_id": cycle_id_for(as_of)}}
    async with open_checkpointer(tmp_path / "s") as saver:
        halted = build_graph().compile(checkpointer=saver, interrupt_before=["execution"])
        await trading_hour(loop.services, engine, as_of=as_of, symbols=SYMBOLS, wall=clock,
                           graph=halted, config=config)
        graph = build_graph().compile(checkpointer=saver)
        await loop._cycle(graph, saver, as_of, live=True)  # 40 min > the 15 min window
    await engine.aclose()
    assert engine.store.cycle(cycle_id_for(as_of)).status == "abandoned"  # type: ignore[union-attr]
    assert engine.store.open_positions() == []


def test_single_instance_lock(tmp_path: Path) -> None:
    with InstanceLock(tmp_path), pytest.raises(AlreadyRunning):
        InstanceLock(tmp_path).acquire()
    with InstanceLock(tmp_path):  # released with the holder
        pass


async def test_scheduled_posts_run_on_the_loops_clock(tmp_path: Path) -> None:
    """Stats and Market Pulse are due by the loop's (simulated) time: on_tick gets each hour."""
    start = datetime(2025, 4, 7, 22, tzinfo=UTC)
    clock = FixedClock(start)
    loop, engine = make_loop(tmp_path / "s", clock,
                             replay=ReplayWindow(start, start + 3 * H, None))
    seen: list[datetime] = []
    real = loop.services.broadcaster.on_tick

    async def recording(now: datetime) -> list[str]:
        seen.append(now)
        return await real(now)

    loop.services.broadcaster.on_tick = recording  # type: ignore[method-assign]
    try:
        assert await loop.run() == 0
    finally:
        await engine.aclose()
    assert seen == [start + k * H for k in range(4)]  # 22:00 .. 01:00, across UTC midnight


async def test_a_failing_cycle_is_retried_with_backoff_and_the_monitor_keeps_running(
    tmp_path: Path,
) -> None:
    """The 15:00 cycle fails twice: it is tried again after 1 and then 5 more minutes (not
    every 30 s), and the 30 s monitor passes go on in between; the 16:00 cycle fails every
    time: four attempts, then that hour is given up and the monitor still runs."""
    clock = FixedClock(datetime(2025, 4, 7, 14, 0, 5, tzinfo=UTC))
    attempts: list[datetime] = []
    ticks: list[datetime] = []
    holder: dict = {}

    async def sleep(seconds: float) -> None:
        clock.advance(timedelta(seconds=seconds))
        if clock.now() >= datetime(2025, 4, 7, 16, 50, tzinfo=UTC):
            holder["loop"].request_stop()

    loop, engine = make_loop(tmp_path / "s", clock, sleep=sleep)
    holder["loop"] = loop
    real_cycle, real_tick = loop._cycle, engine.tick

    async def flaky_cycle(graph, saver, as_of, *, live):  # type: ignore[no-untyped-def]
        if as_of.hour >= 15:
            attempts.append(clock.now())
            if as_of.hour == 16 or len([a for a in attempts if a.hour == 15]) <= 2:
                raise RuntimeError("market data down")
        return await real_cycle(graph, saver, as_of, live=live)

    async def counting_tick(now, flags=None):  # type: ignore[no-untyped-def]
        ticks.append(now)
        return await real_tick(now, flags)

    loop._cycle = flaky_cycle  # type: ignore[method-assign]
    engine.tick = counting_tick  # type: ignore[method-assign]
    try:
        assert await loop.run() == 0
    finally:
        await engine.aclose()
    t = lambda h, m, s=0: datetime(2025, 4, 7, h, m, s, tzinfo=UTC)  # noqa: E731
    assert attempts == [
        t(15, 0, 20), t(15, 1, 20), t(15, 6, 20),  # the third succeeds
        t(16, 0, 20), t(16, 1, 20), t(16, 6, 20), t(16, 21, 20),  # then given up
    ]
    assert [c.as_of.hour for c in engine.store.cycles(status="completed")] == [14, 15]
    assert engine.store.open_positions()  # the 14:00 cycle opened some: ticks have work
    # the monitor ran every 30 s while the cycle was failing, and after it was given up
    for lo, hi in ((t(15, 0, 20), t(15, 6, 20)), (t(16, 0, 20), t(16, 50))):
        during = [x for x in ticks if lo <= x < hi]
        gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(during)}
        assert gaps == {30.0} and during[0] == lo
    beat = json.loads((tmp_path / "s" / "heartbeat.json").read_text())
    assert beat["last_cycle_as_of"] == "2025-04-07T15:00:00Z"
