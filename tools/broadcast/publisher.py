"""The posting engine behind both broadcasters: outbox, dedup, schedules, rate limit, retries.

A `Publisher` implements the broadcaster port over a `BroadcastStore` (the outbox in SQLite)
and a `Transport` (Telegram, or the console). Publishing only writes outbox rows; `flush()`
sends them, oldest first, a reply only after the post it replies to.

Exactly once
------------
* Every post gets a deterministic key (see tools/broadcast/store.py) and is written to the
  outbox BEFORE any send. A key seen before is never queued again: re-running a cycle,
  restarting the process or publishing the same exit twice posts nothing new. Repeats of a
  signal (same symbol and direction within `dedup_cooldown_hours`, earlier trade not closed)
  are folded into the first post, and their exits reply to it.
* A row is claimed (`pending` -> `sending`, atomically, so two processes cannot both send
  it) before the request and marked `sent` with Telegram's message id after.
* When a send fails, what happens depends on whether Telegram can have delivered it:
  - certainly not delivered (HTTP 5xx or another error answer, connection refused, connect /
    pool / write timeout): retried with exponential backoff, at most `max_attempts` times;
  - 429: retried after Telegram's `retry_after` (the whole chat pauses; not counted);
  - refused for good (400 chat not found, 403 bot removed): `failed`, logged as an error; a
    400 about the HTML itself is resent once as plain text;
  - the group became a supergroup (400 with `migrate_to_chat_id`): nothing was delivered; the
    transport moves to the new chat, the move is remembered in the database (every later post,
    replies included, goes there, across restarts), a warning names the setting to update,
    and the post is resent at once. Keys and the journal stay under the configured chat;
  - MAYBE delivered (the request was written and then the answer timed out or the connection
    dropped; or the process died while a row was `sending`): the Bot API has no idempotency
    key and a bot cannot read back a channel's history, so there is no way to ask Telegram.
    Resending risks a duplicate entry that followers may act on twice (a doubled position);
    not resending risks a missing post. The default policy (`on_uncertain = "hold"`) takes the
    missing post: the row becomes `uncertain`, is logged as a warning and never resent, and
    later exits of that trade are posted standalone (they carry the entry price, so they read
    on their own). `on_uncertain = "resend_marked"` resends once with a visible "re-sent, may
    be a duplicate" line instead.
* Rows older than `max_post_age_hours` are dropped (`expired`): a signal posted half a day late
  is worse than none.

Time: the send loop (rate limit, backoff, retry_after, budgets) runs on `clock`, real time by
default; the schedules (stats, pulse) run on the times the caller passes (`as_of`, `on_tick`),
which are simulated in replays. Tests inject a fake clock and a `sleep` that advances it.
"""

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, Protocol

from sextant.clock import Clock, SystemClock
from sextant.config.telegram import TelegramSettings
from sextant.events import EntryEvent, ExitEvent, MarketPulse
from sextant.models import Signal
from sextant.ports.broadcaster import StatusProvider
from tools.broadcast.formatting import (
    Post,
    entry_key,
    entry_posts,
    exit_body,
    exit_key,
    finish,
    pulse_body,
    stats_body,
    text_budget,
)
from tools.broadcast.render import cycle_summary
from tools.broadcast.schedule import last_daily, last_weekly, pulse_slot
from tools.broadcast.stats import ExitRow, Stats, trade_result
from tools.broadcast.store import BroadcastStore, OutboxRow, Thread

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
RESEND_NOTE = "↻ <i>Re-sent: an earlier attempt timed out and may already be above.</i>\n"
PULSE_STATE = "latest_pulse"


class Outcome(StrEnum):
    NOT_SENT = "not_sent"  # certainly not delivered: retry with backoff
    UNCERTAIN = "uncertain"  # may have been delivered: see the module docstring
    RATE_LIMITED = "rate_limited"  # 429: wait retry_after
    REJECTED = "rejected"  # refused for good
    BAD_MARKUP = "bad_markup"  # the HTML was refused: resend as plain text
    MIGRATED = "migrated"  # the chat moved (group -> supergroup): resend to the new chat


@dataclass(frozen=True)
class Failure:
    outcome: Outcome
    retry_after_s: float = 0.0
    new_chat_id: int | None = None  # MIGRATED: where the chat lives now


@dataclass(frozen=True)
class SendRequest:
    method: str  # "message" | "photo"
    html: str  # text, or the photo's caption
    photo: bytes | None
    reply_to_message_id: int | None
    plain: bool  # send without parse mode (tags stripped, entities decoded)


class Transport(Protocol):
    destination: str  # e.g. "telegram:-100123" or "console": scopes keys and journal
    supports_photos: bool
    rate_limited: bool

    async def send(self, request: SendRequest) -> int:
        """Deliver one post; returns its message id. Raises on failure."""
        ...

    def classify(self, exc: BaseException) -> Failure: ...

    def move_to(self, chat_id: int) -> None:
        """Send to `chat_id` from now on (MIGRATED); transports without chats never get it."""
        ...

    async def aclose(self) -> None: ...


def migration_state(destination: str) -> str:
    """broadcast_state name of the chat a destination's group migrated to."""
    return f"migrated_chat:{destination}"


class RateLimiter:
    """At most `per_minute` sends in any 60 s, and `min_interval_s` between two."""

    def __init__(self, per_minute: int, min_interval_s: float) -> None:
        self.per_minute = per_minute
        self.min_interval = timedelta(seconds=min_interval_s)
        self._sent: deque[datetime] = deque()

    def seed(self, times: Sequence[datetime]) -> None:
        self._sent.extend(sorted(times))

    def wait_s(self, now: datetime) -> float:
        window = timedelta(minutes=1)
        while self._sent and self._sent[0] <= now - window:
            self._sent.popleft()
        wait = timedelta(0)
        if len(self._sent) >= self.per_minute:
            wait = self._sent[-self.per_minute] + window - now
        if self._sent:
            wait = max(wait, self._sent[-1] + self.min_interval - now)
        return max(0.0, wait.total_seconds())

    def record(self, now: datetime) -> None:
        self._sent.append(now)


class Publisher:
    """The broadcaster port over an outbox. `mode`: "inline" sends right after queueing (the
    console), "background" sends from a task of its own (Telegram: trading never waits on
    it), "manual" only when `flush()` is called (tests)."""

    def __init__(
        self,
        tg: TelegramSettings,
        store: BroadcastStore,
        transport: Transport,
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        status: StatusProvider | None = None,
        mode: Literal["inline", "background", "manual"] = "background",
    ) -> None:
        self.tg = tg
        self.store = store
        self.transport = transport
        self.destination = transport.destination
        self.clock = clock or SystemClock()
        self._sleep: Sleep | None = sleep  # None: real time, interruptible by new posts
        self._wake: asyncio.Event | None = None
        self.status = status
        self.mode = mode
        self._claimer = f"{uuid.uuid4().hex[:12]}"
        self._limiter = RateLimiter(tg.rate_limit_per_minute, tg.min_interval_s)
        self._paused_until: datetime | None = None
        self._recovered = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None
        self._dirty = False
        self._closing = False

    # ------------------------------------------------------------------ the port

    async def publish_cycle(
        self,
        *,
        as_of: datetime,
        signals: Sequence[Signal],
        entries: Sequence[EntryEvent],
        exits: Sequence[ExitEvent],
        pulse: MarketPulse | None = None,
    ) -> list[str]:
        texts: list[str] = []
        for en in entries:
            texts += await self._guard(self._queue_entry(en), f"entry {en.signal.signal_id}")
        for ev in exits:
            texts += await self._guard(self._queue_exit(ev), f"exit {ev.fill.position_id}")
        if pulse is not None:
            texts += await self._guard(self._queue_pulse(pulse), "market pulse")
        await self._dispatch()
        texts.append(cycle_summary(signals))
        return texts

    async def publish_exits(self, exits: Sequence[ExitEvent]) -> list[str]:
        texts: list[str] = []
        for ev in exits:
            texts += await self._guard(self._queue_exit(ev), f"exit {ev.fill.position_id}")
        await self._dispatch()
        return texts

    async def on_tick(self, now: datetime) -> list[str]:
        texts = await self._guard(self._queue_stats(now), "scheduled stats")
        await self._dispatch()
        return texts

    async def aclose(self) -> None:
        """Stop the background sender, send what is due within `drain_timeout_s`, close."""
        try:
            self._bind()
            task = self._task
            if task is not None and not task.done():
                # Let it finish the request in flight (never cancel between a claim and its
                # outcome), then stop; cancel only if it hangs past the request timeouts.
                self._closing = True
                if self._wake is not None:
                    self._wake.set()
                limit = self.tg.request_timeout_s + self.tg.upload_timeout_s + 5
                done, _ = await asyncio.wait({task}, timeout=limit)
                if not done:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            self._closing = False
            if self.tg.drain_timeout_s > 0 or self.mode == "inline":
                await self.flush(budget_s=self.tg.drain_timeout_s)
        except Exception:
            log.exception("broadcast: flushing on close failed (posts stay in the outbox)")
        finally:
            with contextlib.suppress(Exception):
                await self.transport.aclose()

    # ------------------------------------------------------------------ extras

    async def flush(self, budget_s: float | None = None, *, stoppable: bool = False) -> int:
        """Send every due post, waiting (rate limit, retry_after, backoff) while the waits fit
        in `budget_s` (default `flush_budget_s`). Returns how many were sent."""
        self._bind()
        assert self._lock is not None
        budget = self.tg.flush_budget_s if budget_s is None else budget_s
        async with self._lock:
            return await self._flush(budget, stoppable)

    async def stats(self, start: datetime, end: datetime) -> Stats:
        trades = await asyncio.to_thread(self.store.closed_trades, self.destination, start, end)
        return Stats(start=start, end=end, trades=trades, open_positions=await self._open_count())

    async def latest_pulse(self) -> MarketPulse | None:
        raw = await asyncio.to_thread(self.store.get_state, PULSE_STATE)
        return None if raw is None else MarketPulse.model_validate_json(raw)

    # ------------------------------------------------------------------ queueing

    async def _guard(self, work: Awaitable[list[str]], what: str) -> list[str]:
        try:
            return await work
        except Exception:
            log.exception("broadcast: could not queue the %s post (trading goes on)", what)
            return []

    async def _queue_entry(self, ev: EntryEvent) -> list[str]:
        sig = ev.signal
        if sig.decision == "WAIT" or sig.side is None:
            return []
        key = entry_key(sig.signal_id)
        pos = ev.position
        thread = Thread(
            position_id=pos.position_id if pos is not None else sig.signal_id,
            entry_key=key,
            signal_id=sig.signal_id,
            symbol=sig.symbol,
            side=sig.side,
            as_of=sig.as_of,
            entry_price=str(pos.entry_price if pos is not None else sig.entry),
            risk_pct=None if sig.risk_pct is None else str(sig.risk_pct),
            has_position=pos is not None,
        )
        cooldown = timedelta(hours=self.tg.dedup_cooldown_hours)
        now = self.clock.now()
        # First without posts: a duplicate or a repeat is settled without drawing a chart.
        verdict = await asyncio.to_thread(
            self.store.add_entry, self.destination, None, thread, now, cooldown
        )
        if verdict == "needs_posts":
            posts = entry_posts(ev, self.tg.disclaimer, await self._chart(ev))
            verdict = await asyncio.to_thread(
                self.store.add_entry, self.destination, posts, thread, now, cooldown
            )
            if verdict == "queued":
                log.info("broadcast: queued %s", key)
                return [p.text for p in posts]
        log.info("broadcast: %s not posted again (%s)", key, verdict)
        return []

    async def _chart(self, ev: EntryEvent) -> bytes | None:
        if not self.transport.supports_photos or ev.candles is None or len(ev.candles) == 0:
            return None
        from tools.broadcast.charts import render_chart  # matplotlib only when a chart is drawn

        sig, pos = ev.signal, ev.position
        try:
            return await asyncio.to_thread(
                render_chart,
                ev.candles.df,
                symbol=sig.symbol,
                timeframe=ev.candles.timeframe,
                side=sig.side or "",
                entry=pos.entry_price if pos else sig.entry,  # type: ignore[arg-type]
                stop_loss=pos.stop_loss if pos else sig.stop_loss,  # type: ignore[arg-type]
                take_profit_1=pos.take_profit_1 if pos else sig.take_profit_1,  # type: ignore[arg-type]
                take_profit_2=pos.take_profit_2 if pos else sig.take_profit_2,  # type: ignore[arg-type]
                bars=self.tg.chart_bars,
            )
        except Exception:
            log.warning(
                "broadcast: chart for %s failed; posting text only", sig.signal_id, exc_info=True
            )
            return None

    async def _queue_exit(self, ev: ExitEvent) -> list[str]:
        pos, fill = ev.position, ev.fill
        share = float(fill.quantity / pos.initial_quantity) if pos.initial_quantity else 0.0
        row = ExitRow(
            position_id=fill.position_id,
            symbol=fill.symbol,
            side=pos.side,
            reason=str(fill.reason),
            time=fill.time,
            share=share,
            pnl_pct=float(ev.pnl_pct),
            r_multiple=float(ev.r_multiple),
            closes=not pos.is_open,
        )
        total = None
        if row.closes:
            earlier = await asyncio.to_thread(
                self.store.exits_of, self.destination, row.position_id
            )
            result = trade_result([*(r for r in earlier if r.time != row.time), row])
            total = None if result is None else (result.r, result.pnl_pct)
        key = exit_key(ev)
        post = Post(key, "exit", finish(exit_body(ev, total), self.tg.disclaimer))
        queued, _ = await asyncio.to_thread(
            self.store.add_exit, self.destination, post, row, self.clock.now()
        )
        if not queued:
            log.info("broadcast: %s not posted again (duplicate)", key)
            return []
        log.info("broadcast: queued %s", key)
        return [post.text]

    async def _queue_pulse(self, pulse: MarketPulse) -> list[str]:
        await asyncio.to_thread(self.store.set_state, PULSE_STATE, pulse.model_dump_json())
        if self.tg.pulse_every_hours <= 0:
            return []
        slot = pulse_slot(pulse.as_of, self.tg.pulse_every_hours)
        body = pulse_body(pulse, text_budget(self.tg.disclaimer))
        post = Post(f"pulse:{slot:%Y%m%dT%H}", "pulse", finish(body, self.tg.disclaimer))
        queued = await asyncio.to_thread(
            self.store.add_post, self.destination, post, self.clock.now()
        )
        return [post.text] if queued else []

    async def _queue_stats(self, now: datetime) -> list[str]:
        max_age = timedelta(hours=self.tg.max_post_age_hours)
        due = [
            ("daily", "Daily stats", last_daily(now, self.tg.stats_hour_utc), timedelta(days=1)),
            (
                "weekly",
                "Weekly stats",
                last_weekly(now, self.tg.weekly_weekday, self.tg.stats_hour_utc),
                timedelta(days=7),
            ),
        ]
        texts: list[str] = []
        for kind, title, instant, span in due:
            if now - instant > max_age:
                continue  # missed while down: not worth posting late (or a fresh install)
            key = f"stats:{kind}:{instant:%Y-%m-%d}"
            if await asyncio.to_thread(self.store.has_key, self.destination, key):
                continue
            stats = await self.stats(instant - span, instant)
            post = Post(key, "stats", finish(stats_body(title, stats), self.tg.disclaimer))
            if await asyncio.to_thread(
                self.store.add_post, self.destination, post, self.clock.now()
            ):
                texts.append(post.text)
        return texts

    async def _open_count(self) -> int | None:
        if self.status is not None:
            try:
                doc = await self.status()
                return len(doc.get("positions") or [])
            except Exception as exc:
                log.warning("broadcast: status provider failed (%s); using the journal", exc)
        return await asyncio.to_thread(self.store.open_trades, self.destination)

    # ------------------------------------------------------------------ sending

    def _bind(self) -> None:
        """Asyncio primitives belong to one event loop; a new loop gets new ones."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._lock = asyncio.Lock()
            self._wake = asyncio.Event()
            self._task = None

    async def _dispatch(self) -> None:
        if self.mode == "inline":
            await self._guard_flush(0.0)
        elif self.mode == "background":
            self._kick()

    async def _guard_flush(self, budget: float | None, stoppable: bool = False) -> None:
        try:
            await self.flush(budget, stoppable=stoppable)
        except Exception:
            log.exception("broadcast: sending failed (posts stay in the outbox)")

    async def _nap(self, seconds: float) -> None:
        """Wait for the rate limit or a retry; a newly queued post cuts the wait short (the
        loop then re-checks what is due). Tests inject a sleep that moves a fake clock."""
        if self._sleep is not None:
            await self._sleep(seconds)
            return
        assert self._wake is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _kick(self) -> None:
        self._bind()
        self._dirty = True
        if self._wake is not None:
            self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._background(), name="sextant-broadcast"
            )

    async def _background(self) -> None:
        while self._dirty and not self._closing:
            self._dirty = False
            await self._guard_flush(None, stoppable=True)

    async def _flush(self, budget: float, stoppable: bool = False) -> int:
        dest = self.destination
        if not self._recovered:
            stuck = await asyncio.to_thread(
                self.store.recover_inflight,
                dest,
                self._claimer,
                "interrupted while sending: may have been delivered",
            )
            for key in stuck:
                log.warning(
                    "broadcast: %s was being sent when the process stopped; it may "
                    "have been delivered and is not resent",
                    key,
                )
            if self.transport.rate_limited:
                since = self.clock.now() - timedelta(minutes=1)
                self._limiter.seed(await asyncio.to_thread(self.store.recent_sends, dest, since))
            self._recovered = True
        start = self.clock.now()
        sent = 0
        max_age = timedelta(hours=self.tg.max_post_age_hours)
        while not (stoppable and self._closing):
            if self._wake is not None:
                self._wake.clear()  # set again by any post queued from here on
            now = self.clock.now()
            for key in await asyncio.to_thread(self.store.expire, dest, now - max_age):
                log.warning(
                    "broadcast: %s dropped: unsent for over %s h", key, self.tg.max_post_age_hours
                )
            row = await asyncio.to_thread(self.store.next_due, dest, now)
            if row is not None:
                delay = self._gate_s(now)
                if delay <= 0:
                    sent += await self._attempt(row)
                    continue
            else:
                wake = await asyncio.to_thread(self.store.next_wake, dest)
                if wake is None:
                    break
                delay = (wake - now).total_seconds()
                if delay <= 0:
                    break  # defensive: never spin
            if (now - start).total_seconds() + delay > budget:
                break  # the next flush (on_tick, publish, restart) continues
            await self._nap(delay)
        return sent

    def _gate_s(self, now: datetime) -> float:
        if not self.transport.rate_limited:
            return 0.0
        wait = self._limiter.wait_s(now)
        if self._paused_until is not None:
            wait = max(wait, (self._paused_until - now).total_seconds())
        return wait

    async def _attempt(self, row: OutboxRow) -> int:
        if not await asyncio.to_thread(self.store.claim, row.id, self._claimer):
            return 0  # another process took it
        reply_id = None
        if row.reply_to_key:
            reply_id = await asyncio.to_thread(
                self.store.message_id_of, self.destination, row.reply_to_key
            )
        html = RESEND_NOTE + row.body if row.resend_note else row.body
        request = SendRequest(row.method, html, row.photo, reply_id, row.plain)
        if self.transport.rate_limited:
            self._limiter.record(self.clock.now())
        task = asyncio.ensure_future(self.transport.send(request))
        cancelled = False
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            # Our own shutdown: let the request end (its timeouts bound it) and record what
            # happened, so no row is left "sending" by us.
            cancelled = True
            await asyncio.wait({task})
        except Exception:
            pass  # read from the task below
        if task.cancelled():
            await asyncio.to_thread(self.store.mark_final, row.id, "uncertain", "cancelled")
            raise asyncio.CancelledError
        exc = task.exception()
        if exc is None:
            message_id = task.result()
            await asyncio.to_thread(self.store.mark_sent, row.id, message_id, self.clock.now())
            log.info("broadcast: sent %s (message %s)", row.key, message_id)
        else:
            await self._failed(row, exc)
        if cancelled:
            raise asyncio.CancelledError
        return int(exc is None)

    async def _failed(self, row: OutboxRow, exc: BaseException) -> None:
        failure = self.transport.classify(exc)
        error = f"{type(exc).__name__}: {exc}"
        now = self.clock.now()
        attempts = row.attempts + 1  # the claim counted this one
        store = self.store
        match failure.outcome:
            case Outcome.RATE_LIMITED:
                until = now + timedelta(seconds=failure.retry_after_s)
                self._paused_until = max(self._paused_until or until, until)
                await asyncio.to_thread(store.mark_retry, row.id, until, error, uncount=True)
                log.warning(
                    "broadcast: %s rate-limited by Telegram; retry in %.0f s",
                    row.key,
                    failure.retry_after_s,
                )
            case Outcome.MIGRATED if failure.new_chat_id is not None:
                new = failure.new_chat_id
                name = migration_state(self.destination)
                await asyncio.to_thread(store.set_state, name, str(new))
                self.transport.move_to(new)
                await asyncio.to_thread(store.mark_retry, row.id, now, error, uncount=True)
                log.warning(
                    "broadcast: the Telegram chat %s became a supergroup, now %s: posting there "
                    "from now on (remembered in the state database); set TELEGRAM_CHAT_ID=%s",
                    self.destination.removeprefix("telegram:"),
                    new,
                    new,
                )
            case Outcome.BAD_MARKUP if not row.plain:
                await asyncio.to_thread(
                    store.mark_retry, row.id, now, error, uncount=True, plain=True
                )
                log.error(
                    "broadcast: Telegram refused the HTML of %s (%s); resending as plain text",
                    row.key,
                    exc,
                )
            case Outcome.REJECTED | Outcome.BAD_MARKUP:
                await asyncio.to_thread(store.mark_final, row.id, "failed", error)
                log.error("broadcast: %s refused by Telegram, not retried: %s", row.key, exc)
            case Outcome.UNCERTAIN:
                if self.tg.on_uncertain == "resend_marked" and not row.resend_note:
                    retry_at = now + timedelta(seconds=self._backoff(attempts))
                    await asyncio.to_thread(
                        store.mark_retry, row.id, retry_at, error, resend_note=True
                    )
                    log.warning(
                        "broadcast: %s may have been delivered (%s); resending once, "
                        "marked as a possible duplicate",
                        row.key,
                        error,
                    )
                else:
                    await asyncio.to_thread(store.mark_final, row.id, "uncertain", error)
                    log.warning(
                        "broadcast: %s may have been delivered (%s); not resent (on_uncertain=%s)",
                        row.key,
                        error,
                        self.tg.on_uncertain,
                    )
            case _:
                if attempts >= self.tg.max_attempts:
                    await asyncio.to_thread(store.mark_final, row.id, "failed", error)
                    log.error(
                        "broadcast: %s failed %d times, giving up: %s", row.key, attempts, error
                    )
                else:
                    delay = self._backoff(attempts)
                    await asyncio.to_thread(
                        store.mark_retry, row.id, now + timedelta(seconds=delay), error
                    )
                    log.warning(
                        "broadcast: %s not sent (%s); retry %d in %.0f s",
                        row.key,
                        error,
                        attempts,
                        delay,
                    )

    def _backoff(self, attempts: int) -> float:
        return min(self.tg.backoff_max_s, self.tg.backoff_initial_s * 2 ** max(0, attempts - 1))
