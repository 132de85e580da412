"""`sextant loop`: the 24/7 process, or a replay of the bundled data on simulated time.

Live schedule (clock and sleep injected; tests drive them without waiting):
- at each new 1h candle plus `cycle_delay_s`: the monitor catches up over the closed bar(s)
  and charges funding, then the analysis cycle runs through the graph and executes;
- between cycles, every `monitor_interval_s`: one monitor pass at the last price (stops,
  trailing, targets, stale exits, news panic, circuit breaker; on Bybit first a sync that books
  what the exchange filled);
- the Coin Hunter runs inside each cycle's graph; its own cache keeps its model queries to one
  per `llm.hunter_refresh_h` (12 h): the loop has no Hunter schedule of its own.
- a cycle that fails is retried for the same hour with backoff (`cycle_retry_delays_s`: at
  most a few attempts per hour, then the hour is abandoned); the monitor passes go on every
  `monitor_interval_s` meanwhile, so open positions are managed while the analysis is down.

Replay (`--replay-from T [--replay-to T2] --speed max|N`): hour by hour from T, the monitor
steps open positions over each closed 1h bar (there are no 30 s ticks in the data), then the
cycle runs at that hour. It exits 0 at T2 or at the end of the data.

Restarts: every cycle is recorded in the store (running -> completed) and the graph runs with
a SQLite checkpointer, one thread per cycle (thread id = cycle id). On start the loop continues
after the last completed hour; an interrupted cycle resumes from its last finished node (in
live mode only while it is younger than `resume_window_s`, otherwise it is abandoned). Every
step it redoes is idempotent, so a replay killed at any point and restarted ends exactly where
an uninterrupted one does.

SIGTERM / SIGINT: the step in progress finishes, everything is persisted, exit code 0.
"""

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from execution.engine import Activity, ExecutionEngine
from execution.report import status_provider
from graph.context import Services
from graph.graph import build_graph
from runtime.checkpoint import open_checkpointer, prune
from runtime.cycle import cycle_id_for
from runtime.factory import build_engine
from runtime.hour import engine_flags, trading_hour
from runtime.lock import InstanceLock, write_heartbeat
from runtime.services import build_services
from sextant.clock import Clock, FixedClock, SystemClock, floor_hour
from sextant.config import Settings
from sextant.models import iso_z
from tools.broadcast.commands import make_commands

log = logging.getLogger("sextant.loop")
HOUR = timedelta(hours=1)
Sleep = Callable[[float], Awaitable[None]]
# Waits before retrying a failed cycle of the same hour (then it is abandoned): 4 attempts.
CYCLE_RETRY_DELAYS_S: tuple[float, ...] = (60, 300, 900)


@dataclass(frozen=True)
class ReplayWindow:
    start: datetime
    end: datetime | None = None  # None: the end of the data
    speed: float | None = None  # None: as fast as possible; N: N x real time


class TradingLoop:
    def __init__(
        self,
        services: Services,
        engine: ExecutionEngine,
        *,
        state_dir: Path,
        clock: Clock,
        wall: Clock,
        sleep: Sleep | None = None,
        replay: ReplayWindow | None = None,
        symbols: list[str] | None = None,
    ) -> None:
        if services.execution is not engine:
            raise ValueError("TradingLoop: the services were not built with this engine")
        self.services = services
        self.engine = engine
        self.settings = services.settings
        self.s = services.settings.execution
        self.state_dir = Path(state_dir)
        self.clock = clock
        self.wall = wall
        self.replay = replay
        self.symbols = symbols or list(self.settings.watchlist)
        self._stop = asyncio.Event()
        self._sleep = sleep or self._interruptible_sleep
        self.last_cycle_as_of: datetime | None = None
        self.last_cycle_finished_at: datetime | None = None
        self.cycles_run = 0
        self.cycle_retry_delays_s = CYCLE_RETRY_DELAYS_S
        # hour -> (failed attempts, earliest next attempt) of the live cycle of that hour
        self._failures: dict[datetime, tuple[int, datetime]] = {}

    # -- control ------------------------------------------------------------------------------

    def request_stop(self) -> None:
        log.info("stop requested: finishing the current step")
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def _interruptible_sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    def _beat(self, status: str) -> None:
        write_heartbeat(
            self.state_dir,
            status=status,
            last_cycle_as_of=self.last_cycle_as_of,
            last_cycle_finished_at=self.last_cycle_finished_at,
            mode=self.settings.mode,
            replay=self.replay is not None,
            updated_at=iso_z(self.wall.now()),  # the health check's freshness (sextant health)
        )

    # -- run ------------------------------------------------------------------------------

    async def run(self) -> int:
        last = self.engine.store.last_cycle()
        if last is not None:
            self.last_cycle_as_of = last.as_of
            self.last_cycle_finished_at = last.finished_at
        self._beat("starting")
        try:
            report = await self.engine.start()
            if not report.empty:
                log.warning("reconciliation: %s", report)
            async with open_checkpointer(self.state_dir) as saver:
                graph = build_graph().compile(checkpointer=saver)
                if self.replay is not None:
                    await self._run_replay(graph, saver)
                else:
                    await self._run_live(graph, saver)
        except BaseException:
            self._beat("failed")
            raise
        self._beat("stopped" if self.stopping else "finished")
        return 0

    # -- one cycle, checkpointed ------------------------------------------------------------

    async def _cycle(self, graph: Any, saver: Any, as_of: datetime, *, live: bool) -> Activity:
        cycle_id = cycle_id_for(as_of)
        config = {"configurable": {"thread_id": cycle_id}}
        resume = False
        existing = await graph.aget_state(config)
        if existing.values:
            age = self.wall.now() - as_of
            if live and existing.next and age > timedelta(seconds=self.s.resume_window_s):
                log.warning("cycle %s was interrupted %s ago: abandoned", cycle_id, age)
                await saver.adelete_thread(cycle_id)
                with self.engine.store.tx() as tx:
                    tx.cycle_started(cycle_id, as_of, self.settings.mode, self.wall.now())
                    tx.cycle_finished(cycle_id, "abandoned", self.wall.now(), {"age": str(age)})
                return Activity()
            resume = True
            log.info("cycle %s resumes from its checkpoint (next: %s)", cycle_id,
                     list(existing.next))
        try:
            _, _, act = await trading_hour(
                self.services, self.engine, as_of=as_of, symbols=self.symbols,
                wall=self.wall, graph=graph, config=config, resume=resume,
            )
        except Exception:
            if not resume:
                raise
            # A checkpoint that cannot be resumed (e.g. written by another version): start the
            # cycle over. Its entries are idempotent, so nothing is opened twice.
            log.exception("cycle %s could not resume: running it again", cycle_id)
            await saver.adelete_thread(cycle_id)
            _, _, act = await trading_hour(
                self.services, self.engine, as_of=as_of, symbols=self.symbols,
                wall=self.wall, graph=graph, config=config, resume=False,
            )
        self.last_cycle_as_of = as_of
        self.last_cycle_finished_at = self.wall.now()
        self.cycles_run += 1
        keep = {c.cycle_id for c in self.engine.store.cycles()[-self.s.checkpoint_keep_cycles :]}
        await prune(saver, keep)
        self._beat("running")
        return act

    async def _scheduled(self, now: datetime) -> None:
        """Daily/weekly stats, Market Pulse slots and retries of queued posts, on our clock."""
        try:
            await self.services.broadcaster.on_tick(now)
        except Exception:  # a failing notifier never stops trading
            log.exception("scheduled posts failed")

    async def _publish(self, act: Activity) -> None:
        if not act.exits:
            return
        try:
            await self.services.broadcaster.publish_exits(act.exit_events)
        except Exception:  # a failing notifier never stops trading
            log.exception("publishing exits failed")

    # -- replay ---------------------------------------------------------------------------

    async def _run_replay(self, graph: Any, saver: Any) -> None:
        assert self.replay is not None
        end = self.replay.end
        data_end = await self.services.market.default_as_of(self.symbols)
        end = data_end if end is None else min(end, data_end)
        start = floor_hour(self.replay.start)
        last = self.engine.store.last_cycle(status=None)
        if last is not None:
            # continue after the last completed hour; redo an hour that did not complete
            nxt = last.as_of + HOUR if last.status in ("completed", "abandoned") else last.as_of
            start = max(start, nxt)
        log.info("replay from %s to %s", start, end)
        hour = start
        while hour <= end and not self.stopping:
            if isinstance(self.clock, FixedClock):
                self.clock.set(hour)
            await self._cycle(graph, saver, hour, live=False)
            await self._scheduled(hour)
            hour += HOUR
            if self.replay.speed:
                await self._sleep(3600 / self.replay.speed)

    # -- live -----------------------------------------------------------------------------

    async def _run_live(self, graph: Any, saver: Any) -> None:
        delay = timedelta(seconds=self.s.cycle_delay_s)
        tick = timedelta(seconds=self.s.monitor_interval_s)
        # cycles of past hours left running by a crash will not be redone: their hour is gone
        current = floor_hour(self.clock.now())
        for stale in self.engine.store.cycles(status="running"):
            if stale.as_of < current:
                await saver.adelete_thread(stale.cycle_id)
                with self.engine.store.tx() as tx:
                    tx.cycle_finished(stale.cycle_id, "abandoned", self.wall.now(),
                                      {"reason": "interrupted; its hour has passed"})
        while not self.stopping:
            now = self.clock.now()
            hour = floor_hour(now)
            for past in [h for h in self._failures if h < hour]:  # its hour is gone
                del self._failures[past]
                self._abandon(past, "failed; its hour has passed")
            last = self.engine.store.last_cycle(status=None)
            done = last is not None and last.as_of >= hour and last.status != "running"
            failed = self._failures.get(hour)
            gave_up = failed is not None and failed[0] > len(self.cycle_retry_delays_s)
            retry_at = failed[1] if failed is not None else hour + delay
            if not done and not gave_up and now >= max(hour + delay, retry_at):
                try:
                    await self._cycle(graph, saver, hour, live=True)
                    self._failures.pop(hour, None)
                    continue
                except Exception:
                    # 24/7: a failed cycle (data source down, a bug on one input) is retried
                    # for this hour with backoff; meanwhile the monitor below keeps running.
                    log.exception("cycle of %s failed", hour)
                    failed = self._cycle_failed(hour, now)
                    gave_up = failed[0] > len(self.cycle_retry_delays_s)
                    retry_at = failed[1]
            healthy = failed is None
            try:
                if self.engine.store.open_positions():
                    act = await self.engine.tick(now, engine_flags(self.engine))
                    await self._publish(act)
                await self._scheduled(now)
            except Exception:
                # one failed monitor pass is logged and retried on the next one; the
                # positions keep their exchange-side stops meanwhile
                log.exception("monitor pass failed at %s", now)
                healthy = False
            self._beat("running" if healthy else "error")
            next_cycle = hour + HOUR + delay if done or gave_up else max(hour + delay, retry_at)
            wake = min(next_cycle, now + tick)
            await self._sleep(max(0.0, (wake - self.clock.now()).total_seconds()))

    def _abandon(self, hour: datetime, reason: str) -> None:
        record = self.engine.store.cycle(cycle_id_for(hour))
        if record is not None and record.status == "running":
            with self.engine.store.tx() as tx:
                tx.cycle_finished(record.cycle_id, "abandoned", self.wall.now(),
                                  {"reason": reason})

    def _cycle_failed(self, hour: datetime, now: datetime) -> tuple[int, datetime]:
        """Count a failed attempt at `hour`'s cycle; the next one after a backoff, or none
        (the hour is given up once the retries are spent)."""
        n = self._failures.get(hour, (0, now))[0] + 1
        delays = self.cycle_retry_delays_s
        if n > len(delays):
            log.error("cycle of %s failed %d times: given up for this hour", hour, n)
            self._abandon(hour, f"failed {n} times")
            failure = (n, hour + HOUR)
        else:
            failure = (n, now + timedelta(seconds=delays[n - 1]))
            log.warning("cycle of %s: attempt %d failed; next at %s", hour, n, failure[1])
        self._failures[hour] = failure
        return failure


# Runs while the loop runs, on its event loop, with its engine (the CLI's embedded dashboard):
# (settings, engine, broadcaster, clock) -> an async context manager.
Alongside = Callable[
    [Settings, ExecutionEngine, Any, Clock], contextlib.AbstractAsyncContextManager[Any]
]


async def serve(
    settings: Settings,
    replay: ReplayWindow | None,
    *,
    quiet: bool,
    alongside: Alongside | None = None,
) -> TradingLoop:
    """`sextant loop`: the state directory's lock (`AlreadyRunning` when another process holds
    it), the engine, the services built with it, the Telegram commands (when configured),
    `alongside` (the dashboard), SIGTERM/SIGINT, the loop; everything released at the end.
    Returns the finished loop (its counters say what it did)."""
    with InstanceLock(settings.state_dir):
        return await _serve(settings, replay, quiet=quiet, alongside=alongside)


async def _serve(
    settings: Settings,
    replay: ReplayWindow | None,
    *,
    quiet: bool,
    alongside: Alongside | None = None,
) -> TradingLoop:
    clock: Clock = FixedClock(replay.start) if replay is not None else SystemClock()
    engine = build_engine(settings)
    services = build_services(settings, clock=clock, engine=engine, quiet=quiet)
    loop = TradingLoop(
        services,
        engine,
        state_dir=settings.state_dir,
        clock=clock,
        wall=SystemClock(),
        replay=replay,
        symbols=list(settings.watchlist),
    )
    running = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        running.add_signal_handler(sig, loop.request_stop)
    # the bot's /status and /positions read this book; commands only when Telegram is set
    commands = make_commands(
        settings,
        status=status_provider(engine),
        broadcaster=services.broadcaster,
        clock=clock,
    )
    try:
        if commands is not None:
            await commands.start()
        async with (
            alongside(settings, engine, services.broadcaster, clock)
            if alongside is not None
            else contextlib.nullcontext()
        ):
            await loop.run()
    finally:
        if commands is not None:
            await commands.stop()
        await engine.aclose()
        await services.aclose()
        engine.store.close()
    return loop

