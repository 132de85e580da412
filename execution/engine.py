"""The execution engine: signals in, positions managed to the exit, in every mode.

It drives the pure lifecycle (`sextant.lifecycle`) with prices from a feed, asks the broker
to execute what the rules decide, and keeps the account-level rules: funding every 8 h (paper),
the daily loss circuit breaker, news-panic exits and the portfolio the Risk Manager sees.

Time is always passed in (`as_of`, `until`, `now`): the engine never reads a clock.
Every step is idempotent: a bar already applied to a position is skipped (the position records
the time of its last step), a funding settlement is booked once per position, an entry once
per signal, and a cycle's news-panic decisions (`sextant.news.panic`: capped per cycle unless
the market confirms) are made once and kept. That is what lets a killed process restart and
redo the hour it was in.
"""

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Concatenate, Protocol

from execution.prices import PriceFeed, dec
from execution.store import FundingPayment, StaleWrite, Store, iso, parse_time
from sextant.account import (
    book_value,
    breaker_until_at,
    day_of,
    funding_due,
    observe_day,
    portfolio_state,
    settle_funding,
)
from sextant.config import Settings
from sextant.events import ExitEvent
from sextant.lifecycle import (
    Bar,
    Exit,
    StepResult,
    exit_pnl_pct,
    forced_exit,
    r_multiple,
    should_close_for_news,
    should_close_for_reversal,
    step,
)
from sextant.models import (
    ExecutionIntent,
    MarketSnapshot,
    NewsAssessment,
    NewsClose,
    PortfolioState,
    Reason,
    Signal,
)
from sextant.news.panic import plan_news_closes
from sextant.ports.broker import Applied, Broker, BrokerUnavailable, SyncReport
from sextant.positions import ExitReason, Fill, OrderRecord, Position

log = logging.getLogger("sextant.execution")
HOUR = timedelta(hours=1)
EPS = timedelta(microseconds=1)
# Exits the lifecycle finds that only Sextant can execute; stops and targets rest on Bybit.
TIME_BASED: tuple[str, ...] = (
    "stale_exit", "news_panic", "circuit_breaker", "manual", "signal_reversal"
)

NewsFlags = Mapping[str, tuple[bool, bool]]  # symbol -> (close longs, close shorts)


def news_flags(news: Mapping[str, NewsAssessment] | None) -> dict[str, tuple[bool, bool]]:
    return {
        s: (n.close_longs, n.close_shorts)
        for s, n in (news or {}).items()
        if n.close_longs or n.close_shorts
    }


def close_flags(closes: Iterable[NewsClose]) -> dict[str, tuple[bool, bool]]:
    """The flags the monitor keeps applying until the next cycle: only the closes the cycle
    decided to make (a capped one is not closed behind the cap's back by the next tick)."""
    out: dict[str, tuple[bool, bool]] = {}
    for c in closes:
        if c.action == "close":
            longs, shorts = out.get(c.symbol, (False, False))
            out[c.symbol] = (longs or c.side == "long", shorts or c.side == "short")
    return out


def exit_event(pos: Position, fill: Fill) -> ExitEvent:
    return ExitEvent(
        position=pos,
        fill=fill,
        r_multiple=r_multiple(pos, fill).quantize(Decimal("0.0001")),
        pnl_pct=exit_pnl_pct(pos, fill).quantize(Decimal("0.0001")),
    )


def book_equity(
    store: Store, starting: Decimal, exclude_opened_from: datetime | None = None
) -> Decimal:
    """Paper equity from the store alone: start + realised - fees - funding + open PnL.

    Positions opened at or after `exclude_opened_from` are left out entirely (not in this
    view of the book), so the result is the very same Decimal a first attempt computed."""
    positions = store.positions()
    excluded = {
        p.position_id
        for p in positions
        if exclude_opened_from is not None and p.opened_at >= exclude_opened_from
    }
    pnl, fees, funding = store.realized_totals(excluded)
    held = [p for p in positions if p.is_open and p.position_id not in excluded]
    return book_value(starting, pnl, fees, funding, held)


def _serialised[**P, R](
    method: Callable[Concatenate["ExecutionEngine", P], Awaitable[R]],
) -> Callable[Concatenate["ExecutionEngine", P], Awaitable[R]]:
    """One book operation at a time: the loop's monitor and cycle and a close from the
    embedded dashboard run on the same event loop and must not interleave on a position."""

    @functools.wraps(method)
    async def run(self: "ExecutionEngine", *args: P.args, **kwargs: P.kwargs) -> R:
        async with self._serial:
            return await method(self, *args, **kwargs)

    return run


def _ceil_hour(ts: datetime) -> datetime:
    floor = ts.replace(minute=0, second=0, microsecond=0)
    return floor if floor == ts else floor + HOUR


@dataclass
class Activity:
    """What a monitor pass or a cycle's execution did (for outputs, posts and logs)."""

    intents: list[ExecutionIntent] = field(default_factory=list)
    entries: list[tuple[Signal, Position]] = field(default_factory=list)
    exits: list[tuple[Position, Fill]] = field(default_factory=list)
    orders: list[OrderRecord] = field(default_factory=list)
    positions: dict[str, Position] = field(default_factory=dict)  # touched, latest state
    funding: int = 0
    tripped: datetime | None = None
    sync: SyncReport | None = None
    news_closes: list[NewsClose] = field(default_factory=list)  # a cycle's news-panic decisions

    def add(self, applied: Applied) -> None:
        self.exits += applied.exits
        self.orders += applied.orders
        self.positions[applied.position.position_id] = applied.position

    def merge(self, other: "Activity") -> None:
        self.intents += other.intents
        self.entries += other.entries
        self.exits += other.exits
        self.orders += other.orders
        self.positions.update(other.positions)
        self.funding += other.funding
        self.tripped = other.tripped or self.tripped
        self.news_closes += other.news_closes

    @property
    def exit_events(self) -> list[ExitEvent]:
        return [exit_event(p, f) for p, f in self.exits]

    @property
    def fills(self) -> list[Fill]:
        return [f for _, f in self.exits]


class Releasable(Protocol):
    def release(self) -> None: ...


# Taken before an exchange broker reconciles; None when this process holds it already.
Guard = Callable[[], Releasable | None]


class ExecutionEngine:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        broker: Broker,
        feed: PriceFeed,
        *,
        guard: Guard | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.broker = broker
        self.feed = feed
        self.s = settings.execution
        self._exchange_equity: Decimal | None = None
        self._guard = guard
        self._lock: Releasable | None = None
        self._serial = asyncio.Lock()

    # -- start and account ----------------------------------------------------------------

    @_serialised
    async def start(self) -> SyncReport:
        """Connect and reconcile. On an exchange broker only one process may do that for a
        state directory: the runtime's `guard` (the loop's lock, `runtime.lock.claim`) is taken
        here, and another process holding it (the running loop) makes it raise `ExchangeBusy`
        (so `sextant close` / `run --once` refuse instead of syncing beside the loop)."""
        if self.broker.exchange_exits and self._guard is not None and self._lock is None:
            self._lock = self._guard()
        with self.store.tx() as tx:
            tx.set_default("starting_equity", str(self.settings.equity))
            tx.set_default("mode", self.settings.mode)
        report = await self.broker.start()
        self._exchange_equity = await self.broker.equity()
        for pos in report.adopted:
            log.warning("adopted %s %s %s from the exchange (unknown to the database)",
                        pos.position_id, pos.side, pos.symbol)
        for note in report.notes:
            log.warning("reconcile: %s", note)
        return report

    async def aclose(self) -> None:
        try:
            await self.broker.aclose()
            await self.feed.close()
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def starting_equity(self) -> Decimal:
        value = self.store.get("starting_equity")
        return Decimal(value) if value is not None else self.settings.equity

    def book_time(self) -> datetime | None:
        """The latest hour the book has been brought to (monitor bars, a cycle's as_of)."""
        return parse_time(self.store.get("book_time"))

    def _advance_book_time(self, t: datetime) -> None:
        current = self.book_time()
        if current is None or t > current:
            with self.store.tx() as tx:
                tx.set("book_time", iso(t))  # type: ignore[arg-type]

    def equity(self, exclude_opened_from: datetime | None = None) -> Decimal:
        """Paper: start + realised PnL - fees - funding + open PnL at the last prices.

        `exclude_opened_from`: leave out positions opened at or after that time (and their
        entry fees), so a cycle that is redone after a crash sees the book as it was before
        its own entries and decides exactly as it did the first time.
        """
        if self._exchange_equity is not None and self.broker.exchange_exits:
            return self._exchange_equity
        return book_equity(self.store, self.starting_equity(), exclude_opened_from)

    def portfolio_at(self, as_of: datetime) -> PortfolioState:
        """What the Risk Manager sees at `as_of`: the book before this cycle's own entries."""
        before = [
            p for p in self.store.open_positions() if p.opened_at < as_of
        ]
        equity = self.equity(exclude_opened_from=as_of)
        day = self.store.day(as_of.date())
        start = day.start_equity if day is not None else equity
        days = [self.store.day(d) for d in {as_of.date(), day_of(as_of)}]
        until = breaker_until_at((d.as_day() for d in days if d is not None), as_of)
        return portfolio_state(equity, start, before, until)

    # -- the analysis cycle's execution -----------------------------------------------------

    def record_signals(self, signals: Sequence[Signal], cycle_id: str) -> None:
        """Write a cycle's signals once, before any order derived from them is sent (a late
        Bybit fill is booked with its signal's levels); a redone cycle keeps their status."""
        with self.store.tx() as tx:
            for sig in signals:
                status = "wait" if sig.decision == "WAIT" else "recorded"
                tx.put_signal(sig, cycle_id, status, overwrite=False)

    @_serialised
    async def execute(
        self,
        signals: Sequence[Signal],
        *,
        as_of: datetime,
        cycle_id: str,
        snapshots: Mapping[str, MarketSnapshot],
        news: Mapping[str, NewsAssessment] | None = None,
    ) -> Activity:
        act = Activity()
        book = self.book_time()
        stale_book = book is not None and as_of < book
        flags = news_flags(news)
        self.record_signals(signals, cycle_id)
        # News panic first: it frees the slot and the margin before any entry.
        if flags and not stale_book:  # a past hour only records: it closes nothing
            act.news_closes = self._news_plan(news or {}, as_of, cycle_id)
        for d in act.news_closes:
            pos = self.store.position(d.position_id)
            if d.action != "close" or pos is None or not pos.is_open:
                continue  # capped, or closed already (by the first run of a redone cycle)
            snap = snapshots.get(pos.symbol)
            price = self._quote(snap, pos.side, closing=True) or pos.last_price
            if price is not None:
                act.merge(await self._close(pos, "news_panic", price, as_of))
        if not stale_book:  # signal reversal: a held symbol's score turned against it
            for pos in self.reversals(signals, as_of):
                price = self._quote(snapshots.get(pos.symbol), pos.side, closing=True)
                price = price or pos.last_price
                if price is not None:
                    log.info("signal reversal: close %s %s %s", pos.position_id, pos.side,
                             pos.symbol)
                    act.merge(await self._close(pos, "signal_reversal", price, as_of))
        for sig in signals:
            if sig.decision == "WAIT" or sig.side is None:
                continue
            act.intents.append(await self._enter(sig, as_of, cycle_id, snapshots, stale_book, act))
        self._advance_book_time(as_of)
        return act

    def reversals(self, signals: Sequence[Signal], as_of: datetime) -> list[Position]:
        """Open positions (from before `as_of`) whose symbol's score in this cycle crossed
        `execution.reversal_exit_score` against them."""
        scores = {s.symbol: s.score for s in signals}
        return [
            p for p in self.store.open_positions()
            if p.opened_at < as_of and should_close_for_reversal(p, scores.get(p.symbol), self.s)
        ]

    def _news_plan(
        self, news: Mapping[str, NewsAssessment], as_of: datetime, cycle_id: str
    ) -> list[NewsClose]:
        """The cycle's news-panic decisions, made once: a cycle redone after a crash reuses
        them, so it neither closes twice nor spends the per-cycle cap a second time."""
        raw = self.store.get("news_plan")
        if raw:
            try:
                doc = json.loads(raw)
                if doc["cycle_id"] == cycle_id and doc["as_of"] == iso(as_of):
                    return [NewsClose.model_validate(c) for c in doc["closes"]]
            except (ValueError, KeyError, TypeError):  # unreadable: decide again
                log.warning("stored news-panic plan unreadable: deciding again")
        plan = plan_news_closes(self.store.open_positions(), news, self.settings.news)
        for d in plan:
            why = d.reasons[0].message if d.reasons else ""
            if d.action == "close":
                log.info("news panic: close %s %s %s: %s", d.position_id, d.side, d.symbol, why)
            else:
                log.warning("news panic: %s %s %s kept open (%s): %s", d.position_id, d.side,
                            d.symbol, d.reasons[0].code if d.reasons else "", why)
        doc = {
            "cycle_id": cycle_id,
            "as_of": iso(as_of),
            "closes": [d.model_dump(mode="json") for d in plan],
        }
        with self.store.tx() as tx:
            tx.set("news_plan", json.dumps(doc))
        return plan

    @staticmethod
    def _quote(snap: MarketSnapshot | None, side: str, closing: bool) -> Decimal | None:
        if snap is None:
            return None
        buying = (side == "long") != closing
        return dec(snap.ticker.ask if buying else snap.ticker.bid)

    async def _enter(
        self,
        sig: Signal,
        as_of: datetime,
        cycle_id: str,
        snapshots: Mapping[str, MarketSnapshot],
        stale_book: bool,
        act: Activity,
    ) -> ExecutionIntent:
        assert sig.side is not None and sig.entry is not None and sig.quantity is not None
        assert sig.stop_loss is not None and sig.take_profit_1 is not None
        assert sig.take_profit_2 is not None and sig.leverage is not None
        base = {
            "signal_id": sig.signal_id,
            "symbol": sig.symbol,
            "side": sig.side,
            "quantity": sig.quantity,
            "entry": sig.entry,
            "stop_loss": sig.stop_loss,
            "take_profit_1": sig.take_profit_1,
            "take_profit_2": sig.take_profit_2,
            "leverage": sig.leverage,
            "mode": self.settings.mode,
        }

        def intent(status: str, code: str = "", message: str = "") -> ExecutionIntent:
            reasons = [Reason(code=code, kind="info", message=message)] if code else []
            with self.store.tx() as tx:
                tx.set_signal_status(sig.signal_id, status, message)
            return ExecutionIntent(status=status, reasons=reasons, **base)  # type: ignore[arg-type]

        if stale_book:
            return intent(
                "skipped", "as_of_before_book",
                f"as_of {as_of:%F %H:%M} is before the book's latest time: recorded only",
            )
        snap = snapshots.get(sig.symbol)
        if snap is None:
            return intent("skipped", "no_snapshot", "no market snapshot for the entry")
        # Defence in depth: the Risk Manager already applied these with the same book.
        open_now = [p for p in self.store.open_positions() if p.position_id != sig.signal_id]
        if any(p.symbol == sig.symbol for p in open_now):
            return intent("skipped", "position_already_open", f"{sig.symbol} already has one")
        opened_here = self.store.position(sig.signal_id)
        if opened_here is None and len(open_now) >= self.settings.risk.max_open_positions:
            return intent("skipped", "max_open_positions", "the book is full")
        try:
            result = await self.broker.open(sig, market=snap.market, price=sig.entry, time=as_of)
        except BrokerUnavailable as exc:
            # a pending entry is settled by the next sync (booked if it did fill)
            log.error("entry %s: exchange unavailable: %s", sig.signal_id, exc)
            return intent("skipped", "exchange_unavailable", str(exc)[:300])
        if result.position is not None:
            act.entries.append((sig, result.position))
            act.positions[result.position.position_id] = result.position
        act.orders += result.orders
        if result.status == "submitted":
            # sent, outcome not confirmed yet: the next sync books it from this signal
            log.warning("entry %s sent, not confirmed yet: %s", sig.signal_id, result.error)
            return intent("submitted", "entry_not_settled", result.error)
        if result.status in ("filled", "partially_filled", "exists"):
            pos = result.position
            # the same note when a redone cycle finds its entry already made: deterministic
            note = "" if pos is None else f"opened {pos.initial_quantity} @ {pos.entry_price}"
            log.info("entry %s %s %s", sig.signal_id, result.status, note)
            it = intent("filled", "", note)
            if pos is not None:
                it = it.model_copy(
                    update={"quantity": pos.initial_quantity, "entry": pos.entry_price}
                )
            return it
        log.warning("entry %s rejected: %s", sig.signal_id, result.error)
        return intent("rejected", "order_rejected", result.error)

    # -- the position monitor ---------------------------------------------------------------

    @_serialised
    async def advance(self, until: datetime, flags: NewsFlags | None = None) -> Activity:
        """Catch up to `until` over closed 1h bars: stops, targets, trailing, stale exits,
        funding and the circuit breaker, hour by hour (the replay monitor, `run --once`,
        and a restart after downtime)."""
        act = Activity()
        await self._sync(until, act)
        positions = self.store.open_positions()
        if positions:
            after = _ceil_hour(min(p.last_step_at or p.opened_at for p in positions))
            symbols = sorted({p.symbol for p in positions})
            bars = await self.feed.bars(symbols, after, until)
            funding: dict[str, list[tuple[datetime, Decimal]]] = {}
            if not self.broker.exchange_exits:
                # From the oldest entry, not from the bars' window: a settlement at the hour a
                # killed process already stepped is still charged (once: the store dedups).
                since = min(p.opened_at for p in positions)
                for sym in symbols:
                    funding[sym] = await self.feed.funding(sym, since, until) or []
            by_time: dict[datetime, dict[str, Bar]] = {}
            for sym, bs in bars.items():
                for b in bs:
                    by_time.setdefault(b.time, {})[sym] = b
            times = sorted(set(by_time) | {t for fs in funding.values() for t, _ in fs})
            for t in times:
                for pos in self.store.open_positions():
                    bar = by_time.get(t, {}).get(pos.symbol)
                    if bar is None:
                        continue
                    if pos.last_step_at is not None and bar.time - HOUR < pos.last_step_at:
                        continue  # the bar began before the position's last step (ticks)
                    await self._step(pos, bar, flags, act)
                for sym, fs in funding.items():
                    for ft, rate in fs:
                        if ft == t:
                            act.funding += self._charge_funding(sym, ft, rate, act)
                if t >= after:  # earlier times were observed when they happened
                    await self._observe(t, act)
        await self._observe(until, act)
        self._advance_book_time(until)
        return act

    @_serialised
    async def tick(self, now: datetime, flags: NewsFlags | None = None) -> Activity:
        """One live monitor pass (every 30 s): sync with the exchange, then one tick per open
        position at its last price."""
        act = Activity()
        await self._sync(now, act)
        positions = self.store.open_positions()
        if positions:
            prices = await self.feed.prices(sorted({p.symbol for p in positions}), now)
            for pos in positions:
                price = prices.get(pos.symbol)
                if price is None:
                    continue
                await self._step(pos, Bar.tick(now, price), flags, act)
        await self._observe(now, act)
        # book_time stays at the last bar / cycle hour: the next cycle's as_of (that hour) must
        # not look older than the book because ticks ran past it
        return act

    async def _sync(self, t: datetime, act: Activity) -> None:
        """Exchange brokers: book what the exchange did; an outage only skips this pass."""
        if not self.broker.exchange_exits:
            return
        try:
            act.sync = await self.broker.sync(t)
            act.exits += act.sync.booked
            for pos in act.sync.entries:  # our entries Bybit settled after the cycle asked
                act.positions[pos.position_id] = pos
            for note in act.sync.notes:
                log.warning("sync: %s", note)
            self._exchange_equity = await self.broker.equity()
        except BrokerUnavailable as exc:
            log.error("sync with the exchange failed, retried next pass: %s", exc)

    def _still_open(self, pid: str) -> bool:
        pos = self.store.position(pid)
        return pos is not None and pos.is_open

    async def _step(
        self, pos: Position, bar: Bar, flags: NewsFlags | None, act: Activity
    ) -> Position:
        close_longs, close_shorts = (flags or {}).get(pos.symbol, (False, False))
        result = step(
            pos,
            bar,
            self.s,
            tp1_fraction=Decimal(str(self.settings.risk.tp1_close_fraction)),
            close_for_news=should_close_for_news(pos, close_longs, close_shorts),
        )
        exits = result.exits
        if self.broker.exchange_exits:
            exits = [e for e in exits if e.reason in TIME_BASED]
        if result.position == pos and not exits:
            return pos
        try:
            applied = await self.broker.apply(pos, result, exits, time=bar.time)
        except StaleWrite:
            log.info("%s changed elsewhere; re-read", pos.position_id)
            return self.store.position(pos.position_id) or pos
        except BrokerUnavailable as exc:
            log.error("%s: exchange unavailable, retried next pass: %s", pos.position_id, exc)
            return pos
        for p, f in applied.exits:
            log.info("exit %s %s %s %s @ %s pnl %s", p.position_id, f.reason, p.symbol,
                     f.quantity, f.price, f.pnl)
        act.add(applied)
        return applied.position

    def _charge_funding(self, symbol: str, t: datetime, rate: Decimal, act: Activity) -> int:
        """Paper funding at a settlement: positions open at `t` (opened before it) pay or
        receive qty x mark x rate; booked once per position and settlement."""
        n = 0
        for pos in self.store.open_positions():
            if pos.symbol != symbol or not funding_due(pos, t):
                continue
            mark = pos.last_price or pos.entry_price  # the last price seen (`account` notes)
            new, amount = settle_funding(pos, rate, mark)
            try:
                with self.store.tx() as tx:
                    if not tx.add_funding(
                        FundingPayment(pos.position_id, symbol, t, rate, mark, amount)
                    ):
                        continue
                    tx.update_position(pos, new)
            except StaleWrite:
                continue
            n += 1
            act.positions[pos.position_id] = new
        return n

    async def _observe(self, t: datetime, act: Activity) -> None:
        """Record the day's equity and trip the daily loss circuit breaker when it is hit.

        The book as the monitor sees it at `t`, before the cycle at `t` enters anything: a
        redone hour (after a crash) observes exactly what the first attempt observed."""
        eq = self.equity(exclude_opened_from=t)
        day = day_of(t)
        with self.store.tx() as tx:  # the first observation of a day is its starting equity
            tx.ensure_day(day, eq, t)
            tx.mark_equity(t, eq)
            if t.date() != day:  # exactly midnight: the new day starts with this equity
                tx.ensure_day(t.date(), eq, t)
        rec = self.store.day(day)
        if rec is None:
            return
        obs = observe_day(rec.as_day(), t, eq, self.settings.risk.daily_loss_limit_pct)
        if obs.tripped:
            until, pnl_pct = obs.day.breaker_until, obs.day.pnl_pct
            assert until is not None and pnl_pct is not None
            with self.store.tx() as tx:
                tx.trip_breaker(day, until, t, pnl_pct)
            act.tripped = until
            log.warning(
                "daily loss circuit breaker: %.2f%% of the day's equity: no entries until %s",
                pnl_pct, until,
            )
            rec = self.store.day(day)
            assert rec is not None
        elif rec.breaker_until is None:
            return
        if (
            self.s.close_all_on_circuit_breaker
            and rec.breaker_until is not None
            and rec.breaker_tripped_at is not None
            and rec.breaker_until > t
        ):
            # also after a restart that came between the trip and the closes
            for pos in self.store.open_positions():
                if pos.opened_at <= rec.breaker_tripped_at:
                    price = pos.last_price or pos.entry_price
                    act.merge(await self._close(pos, "circuit_breaker", price, t))

    # -- manual and forced exits --------------------------------------------------------------

    @_serialised
    async def close(
        self, symbols: Iterable[str] | None, *, now: datetime, reason: ExitReason = "manual"
    ) -> Activity:
        """Close the open positions of `symbols` (None: all) at the current price."""
        act = Activity()
        wanted = None if symbols is None else set(symbols)
        positions = [
            p for p in self.store.open_positions() if wanted is None or p.symbol in wanted
        ]
        if not positions:
            return act
        if self.broker.exchange_exits:
            await self._sync(now, act)
            positions = [p for p in positions if self._still_open(p.position_id)]
        prices = await self.feed.prices(sorted({p.symbol for p in positions}), now)
        for pos in positions:
            fresh = self.store.position(pos.position_id) or pos
            price = prices.get(pos.symbol) or fresh.last_price or fresh.entry_price
            act.merge(await self._close(fresh, reason, price, now))
        await self._observe(now, act)
        return act

    async def _close(
        self, pos: Position, reason: ExitReason, price: Decimal, time: datetime
    ) -> Activity:
        act = Activity()
        if not pos.is_open:
            return act
        seen = pos.model_copy(update={"last_price": price})
        ex: Exit = forced_exit(pos, reason, price)
        try:
            applied = await self.broker.apply(pos, StepResult(position=seen), [ex], time=time)
        except BrokerUnavailable as exc:
            log.error("%s: %s exit failed, exchange unavailable: %s", pos.position_id, reason,
                      exc)
            return act
        except StaleWrite:
            fresh = self.store.position(pos.position_id)
            if fresh is None or not fresh.is_open:
                return act
            applied = await self.broker.apply(
                fresh,
                StepResult(position=fresh.model_copy(update={"last_price": price})),
                [forced_exit(fresh, reason, price)],
                time=time,
            )
        for p, f in applied.exits:
            log.info("exit %s %s %s %s @ %s", p.position_id, f.reason, p.symbol, f.quantity,
                     f.price)
        act.add(applied)
        return act
