"""The broadcaster's tables in the one SQLite database (component "broadcast").

* `broadcast_outbox`: every post, written BEFORE it is sent, under a deterministic key unique
  per destination (`entry:<signal_id>`, `exit:<position_id>:<reason>:<fill time>`,
  `stats:daily:<date>`, `pulse:<slot>`), then marked `sent` with Telegram's message id. The
  key is what makes a re-run cycle, a restart or a retry post nothing twice.
* `broadcast_threads`: which entry post a position's exits reply to (the message id is the
  entry's outbox row), plus what the stats need from the entry (risk %).
* `broadcast_exits`: the journal of exit posts (R and PnL %) the stats are computed from, so
  the broadcaster never depends on the execution store's schema.
* `broadcast_state`: small named values (the latest Market Pulse, for /pulse).

Outbox statuses: pending -> sending -> sent; or failed (refused / out of attempts), expired
(too old to be worth sending), uncertain (the request may have been delivered: never resent
under the default policy, see tools/broadcast/publisher.py).

All methods are synchronous and short; async callers run them in a worker thread.
"""

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.pool import StaticPool

from tools.broadcast.formatting import Post
from tools.broadcast.stats import ExitRow, closed_trades
from tools.db import Migration, make_engine, migrate

COMPONENT = "broadcast"
_TS = "%Y-%m-%dT%H:%M:%S.%fZ"


def ts(value: datetime) -> str:
    """Fixed-width UTC text: sorts like the time it encodes."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC).strftime(_TS)


def parse_ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.strptime(value, _TS).replace(tzinfo=UTC)


def _v1(conn: Connection) -> None:
    conn.execute(
        text("""
        CREATE TABLE broadcast_outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            destination TEXT NOT NULL,
            key TEXT NOT NULL,
            kind TEXT NOT NULL,
            method TEXT NOT NULL,
            body TEXT NOT NULL,
            photo BLOB,
            reply_to_key TEXT,
            status TEXT NOT NULL,
            plain INTEGER NOT NULL DEFAULT 0,
            resend_note INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            claimed_by TEXT,
            sent_at TEXT,
            message_id INTEGER,
            last_error TEXT,
            UNIQUE (destination, key)
        )""")
    )
    conn.execute(
        text(
            "CREATE INDEX broadcast_outbox_due ON broadcast_outbox (destination, status, "
            "next_attempt_at)"
        )
    )
    conn.execute(
        text("""
        CREATE TABLE broadcast_threads (
            destination TEXT NOT NULL,
            position_id TEXT NOT NULL,
            entry_key TEXT NOT NULL,
            signal_id TEXT NOT NULL,
            symbol TEXT NOT NULL,
            side TEXT NOT NULL,
            as_of TEXT NOT NULL,
            entry_price TEXT,
            risk_pct TEXT,
            has_position INTEGER NOT NULL DEFAULT 0,
            alias INTEGER NOT NULL DEFAULT 0,
            closed_at TEXT,
            PRIMARY KEY (destination, position_id)
        )""")
    )
    conn.execute(
        text(
            "CREATE INDEX broadcast_threads_symbol ON broadcast_threads (destination, symbol, side)"
        )
    )
    conn.execute(
        text("""
        CREATE TABLE broadcast_exits (
            destination TEXT NOT NULL,
            key TEXT NOT NULL,
            position_id TEXT NOT NULL,
            symbol TEXT NOT NULL,
            side TEXT NOT NULL,
            reason TEXT NOT NULL,
            time TEXT NOT NULL,
            share REAL NOT NULL,
            pnl_pct REAL NOT NULL,
            r_multiple REAL NOT NULL,
            closes INTEGER NOT NULL,
            PRIMARY KEY (destination, key)
        )""")
    )
    conn.execute(
        text("CREATE INDEX broadcast_exits_position ON broadcast_exits (destination, position_id)")
    )
    conn.execute(text("CREATE TABLE broadcast_state (name TEXT PRIMARY KEY, value TEXT NOT NULL)"))


MIGRATIONS = [Migration(COMPONENT, 1, "outbox, threads, exit journal, state", _v1)]


@dataclass(frozen=True)
class OutboxRow:
    id: int
    destination: str
    key: str
    kind: str
    method: str
    body: str
    photo: bytes | None
    reply_to_key: str | None
    status: str
    plain: bool
    resend_note: bool
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None
    message_id: int | None
    last_error: str | None

    @classmethod
    def of(cls, m: Any) -> "OutboxRow":
        return cls(
            id=m["id"],
            destination=m["destination"],
            key=m["key"],
            kind=m["kind"],
            method=m["method"],
            body=m["body"],
            photo=m["photo"],
            reply_to_key=m["reply_to_key"],
            status=m["status"],
            plain=bool(m["plain"]),
            resend_note=bool(m["resend_note"]),
            attempts=m["attempts"],
            next_attempt_at=parse_ts(m["next_attempt_at"]),  # type: ignore[arg-type]
            created_at=parse_ts(m["created_at"]),  # type: ignore[arg-type]
            sent_at=parse_ts(m["sent_at"]),
            message_id=m["message_id"],
            last_error=m["last_error"],
        )


@dataclass(frozen=True)
class Thread:
    """What an entry post is about; exits of `position_id` reply to `entry_key`."""

    position_id: str
    entry_key: str
    signal_id: str
    symbol: str
    side: str
    as_of: datetime
    entry_price: str | None = None
    risk_pct: str | None = None
    has_position: bool = False
    alias: bool = False  # a repeat signal folded into an earlier post
    closed_at: datetime | None = None


# A row is blocked while the post it replies to has not been tried to the end.
_UNBLOCKED = """
    NOT EXISTS (
        SELECT 1 FROM broadcast_outbox p
        WHERE p.destination = o.destination AND p.key = o.reply_to_key
          AND p.status IN ('pending', 'sending')
    )"""


def _memory_engine() -> Engine:
    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )

    def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None

    event.listen(engine, "connect", _pragmas)
    event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
    return engine


class BroadcastStore:
    def __init__(self, engine: Engine, *, serial: bool = False) -> None:
        self.engine = engine
        # One shared connection (in memory): calls from worker threads must not interleave.
        self._mutex = threading.RLock() if serial else contextlib.nullcontext()
        migrate(engine, MIGRATIONS)

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Connection]:
        with self._mutex, self.engine.begin() as c:
            yield c

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Connection]:
        with self._mutex, self.engine.connect() as c:
            yield c

    @classmethod
    def open(cls, state_dir: Path) -> "BroadcastStore":
        """The shared database `<state_dir>/sextant.db`."""
        return cls(make_engine(Path(state_dir)))

    @classmethod
    def in_memory(cls) -> "BroadcastStore":
        """A private store that lives as long as the process (a console without state)."""
        return cls(_memory_engine(), serial=True)

    # ------------------------------------------------------------------ enqueue

    def has_key(self, destination: str, key: str) -> bool:
        with self._connect() as c:
            found = c.execute(
                text("SELECT 1 FROM broadcast_outbox WHERE destination=:d AND key=:k"),
                {"d": destination, "k": key},
            ).first()
            c.rollback()
        return found is not None

    def find_repeat(
        self, destination: str, symbol: str, side: str, as_of: datetime, cooldown: timedelta
    ) -> Thread | None:
        """A posted entry for the same symbol and side within the cooldown whose trade is not
        closed: a new signal like it is a repeat, not news."""
        with self._connect() as c:
            found = self._find_repeat(c, destination, symbol, side, as_of, cooldown)
            c.rollback()
        return found

    def _find_repeat(
        self,
        c: Connection,
        destination: str,
        symbol: str,
        side: str,
        as_of: datetime,
        cooldown: timedelta,
    ) -> Thread | None:
        if cooldown <= timedelta(0):
            return None
        rows = (
            c.execute(
                text(
                    "SELECT t.* FROM broadcast_threads t WHERE t.destination=:d AND"
                    " t.symbol=:s AND t.side=:side AND t.alias=0 AND t.closed_at IS NULL"
                    " AND t.as_of > :lo AND t.as_of < :hi"
                    # an earlier post that never went out (refused, expired) does not count
                    " AND NOT EXISTS (SELECT 1 FROM broadcast_outbox o WHERE"
                    " o.destination = t.destination AND o.key = t.entry_key"
                    " AND o.status IN ('failed', 'expired'))"
                    " ORDER BY t.as_of DESC LIMIT 1"
                ),
                {
                    "d": destination,
                    "s": symbol,
                    "side": side,
                    "lo": ts(as_of - cooldown),
                    "hi": ts(as_of + cooldown),
                },
            )
            .mappings()
            .first()
        )
        return None if rows is None else _thread(rows)

    def add_entry(
        self,
        destination: str,
        posts: Sequence[Post] | None,
        thread: Thread,
        now: datetime,
        cooldown: timedelta,
    ) -> str:
        """Queue an entry atomically. Returns 'queued', 'duplicate' (key known), 'repeat'
        (folded into an earlier post within the cooldown: exits will reply to that one), or,
        when `posts` is None, 'needs_posts' (it would be queued: render it and call again)."""
        with self._begin() as c:
            if self._key_exists(c, destination, thread.entry_key):
                self._ensure_thread(c, destination, thread)
                return "duplicate"
            earlier = self._find_repeat(
                c, destination, thread.symbol, thread.side, thread.as_of, cooldown
            )
            if earlier is not None:
                alias = Thread(**{**thread.__dict__, "entry_key": earlier.entry_key, "alias": True})
                self._ensure_thread(c, destination, alias)
                return "repeat"
            if posts is None:
                return "needs_posts"
            for post in posts:
                self._insert(c, destination, post, now)
            self._ensure_thread(c, destination, thread)
        return "queued"

    def add_exit(
        self, destination: str, post: Post, row: ExitRow, now: datetime
    ) -> tuple[bool, Thread | None]:
        """Queue an exit and journal it; marks the thread closed when the fill closes it."""
        with self._begin() as c:
            if self._key_exists(c, destination, post.key):
                return False, None
            found = (
                c.execute(
                    text("SELECT * FROM broadcast_threads WHERE destination=:d AND position_id=:p"),
                    {"d": destination, "p": row.position_id},
                )
                .mappings()
                .first()
            )
            thread = None if found is None else _thread(found)
            reply = thread.entry_key if thread is not None else None
            self._insert(c, destination, Post(post.key, post.kind, post.html, None, reply), now)
            c.execute(
                text(
                    "INSERT INTO broadcast_exits VALUES (:d, :k, :p, :s, :side, :reason, :t,"
                    " :share, :pnl, :r, :closes)"
                ),
                {
                    "d": destination,
                    "k": post.key,
                    "p": row.position_id,
                    "s": row.symbol,
                    "side": row.side,
                    "reason": row.reason,
                    "t": ts(row.time),
                    "share": row.share,
                    "pnl": row.pnl_pct,
                    "r": row.r_multiple,
                    "closes": int(row.closes),
                },
            )
            if row.closes and thread is not None:
                c.execute(
                    text(
                        "UPDATE broadcast_threads SET closed_at=:t WHERE destination=:d AND "
                        "(position_id=:p OR entry_key=:e)"
                    ),
                    {
                        "t": ts(row.time),
                        "d": destination,
                        "p": row.position_id,
                        "e": thread.entry_key,
                    },
                )
        return True, thread

    def add_post(self, destination: str, post: Post, now: datetime) -> bool:
        """Queue a post unless its key is known (stats, pulse). True when queued."""
        with self._begin() as c:
            if self._key_exists(c, destination, post.key):
                return False
            self._insert(c, destination, post, now)
        return True

    def _key_exists(self, c: Connection, destination: str, key: str) -> bool:
        return (
            c.execute(
                text("SELECT 1 FROM broadcast_outbox WHERE destination=:d AND key=:k"),
                {"d": destination, "k": key},
            ).first()
            is not None
        )

    def _insert(self, c: Connection, destination: str, post: Post, now: datetime) -> None:
        c.execute(
            text(
                "INSERT INTO broadcast_outbox (destination, key, kind, method, body, photo,"
                " reply_to_key, status, next_attempt_at, created_at) VALUES (:d, :k, :kind,"
                " :m, :b, :photo, :r, 'pending', :now, :now)"
            ),
            {
                "d": destination,
                "k": post.key,
                "kind": post.kind,
                "m": "photo" if post.photo is not None else "message",
                "b": post.html,
                "photo": post.photo,
                "r": post.reply_to_key,
                "now": ts(now),
            },
        )

    def _ensure_thread(self, c: Connection, destination: str, t: Thread) -> None:
        c.execute(
            text(
                "INSERT INTO broadcast_threads (destination, position_id, entry_key, signal_id,"
                " symbol, side, as_of, entry_price, risk_pct, has_position, alias) VALUES"
                " (:d, :p, :e, :sig, :s, :side, :a, :price, :risk, :hp, :alias)"
                " ON CONFLICT (destination, position_id) DO UPDATE SET"
                " has_position = max(has_position, excluded.has_position)"
            ),
            {
                "d": destination,
                "p": t.position_id,
                "e": t.entry_key,
                "sig": t.signal_id,
                "s": t.symbol,
                "side": t.side,
                "a": ts(t.as_of),
                "price": t.entry_price,
                "risk": t.risk_pct,
                "hp": int(t.has_position),
                "alias": int(t.alias),
            },
        )

    # ------------------------------------------------------------------ journal and state

    def exits_of(self, destination: str, position_id: str) -> list[ExitRow]:
        return self._exit_rows(destination, "e.position_id = :p", {"p": position_id})

    def closed_trades(self, destination: str, start: datetime, end: datetime) -> list:
        """Trades whose closing exit is in [start, end), with every exit of those trades."""
        rows = self._exit_rows(
            destination,
            "e.position_id IN (SELECT position_id FROM broadcast_exits WHERE destination=:d"
            " AND closes=1 AND time >= :lo AND time < :hi)",
            {"lo": ts(start), "hi": ts(end)},
        )
        return closed_trades(rows, start, end)

    def _exit_rows(self, destination: str, where: str, params: dict) -> list[ExitRow]:
        with self._connect() as c:
            found = (
                c.execute(
                    text(
                        "SELECT e.*, t.risk_pct AS risk_pct FROM broadcast_exits e LEFT JOIN"
                        " broadcast_threads t ON t.destination = e.destination AND"
                        f" t.position_id = e.position_id WHERE e.destination=:d AND {where}"
                        " ORDER BY e.time"
                    ),
                    {"d": destination, **params},
                )
                .mappings()
                .all()
            )
            c.rollback()
        return [
            ExitRow(
                position_id=r["position_id"],
                symbol=r["symbol"],
                side=r["side"],
                reason=r["reason"],
                time=parse_ts(r["time"]),  # type: ignore[arg-type]
                share=r["share"],
                pnl_pct=r["pnl_pct"],
                r_multiple=r["r_multiple"],
                closes=bool(r["closes"]),
                risk_pct=None if r["risk_pct"] is None else float(r["risk_pct"]),
            )
            for r in found
        ]

    def open_trades(self, destination: str) -> int:
        """Positions announced with a real position and not closed (a fallback for stats)."""
        with self._connect() as c:
            n = c.execute(
                text(
                    "SELECT count(*) FROM broadcast_threads WHERE destination=:d AND"
                    " has_position=1 AND closed_at IS NULL"
                ),
                {"d": destination},
            ).scalar()
            c.rollback()
        return int(n or 0)

    def set_state(self, name: str, value: str) -> None:
        with self._begin() as c:
            c.execute(
                text(
                    "INSERT INTO broadcast_state VALUES (:n, :v)"
                    " ON CONFLICT (name) DO UPDATE SET value = excluded.value"
                ),
                {"n": name, "v": value},
            )

    def get_state(self, name: str) -> str | None:
        with self._connect() as c:
            found = c.execute(
                text("SELECT value FROM broadcast_state WHERE name=:n"), {"n": name}
            ).scalar()
            c.rollback()
        return found

    # ------------------------------------------------------------------ the send loop

    def recover_inflight(self, destination: str, claimer: str, error: str) -> list[str]:
        """Rows left `sending` by another (crashed) process: their request may have reached
        Telegram, so they become `uncertain`. Returns their keys."""
        with self._begin() as c:
            keys = (
                c.execute(
                    text(
                        "SELECT key FROM broadcast_outbox WHERE destination=:d AND status='sending'"
                        " AND (claimed_by IS NULL OR claimed_by != :me)"
                    ),
                    {"d": destination, "me": claimer},
                )
                .scalars()
                .all()
            )
            c.execute(
                text(
                    "UPDATE broadcast_outbox SET status='uncertain', last_error=:e WHERE"
                    " destination=:d AND status='sending' AND (claimed_by IS NULL OR"
                    " claimed_by != :me)"
                ),
                {"d": destination, "me": claimer, "e": error},
            )
        return list(keys)

    def expire(self, destination: str, created_before: datetime) -> list[str]:
        with self._connect() as c:
            stale = c.execute(
                text(
                    "SELECT 1 FROM broadcast_outbox WHERE destination=:d AND status='pending'"
                    " AND created_at < :t LIMIT 1"
                ),
                {"d": destination, "t": ts(created_before)},
            ).first()
            c.rollback()
        if stale is None:
            return []
        with self._begin() as c:
            keys = (
                c.execute(
                    text(
                        "SELECT key FROM broadcast_outbox WHERE destination=:d AND status='pending'"
                        " AND created_at < :t"
                    ),
                    {"d": destination, "t": ts(created_before)},
                )
                .scalars()
                .all()
            )
            if keys:
                c.execute(
                    text(
                        "UPDATE broadcast_outbox SET status='expired' WHERE destination=:d AND"
                        " status='pending' AND created_at < :t"
                    ),
                    {"d": destination, "t": ts(created_before)},
                )
        return list(keys)

    def next_due(self, destination: str, now: datetime) -> OutboxRow | None:
        """The oldest pending row that may go now (its parent, if any, is settled)."""
        with self._connect() as c:
            found = (
                c.execute(
                    text(
                        "SELECT * FROM broadcast_outbox o WHERE o.destination=:d AND"
                        f" o.status='pending' AND o.next_attempt_at <= :now AND {_UNBLOCKED}"
                        " ORDER BY o.id LIMIT 1"
                    ),
                    {"d": destination, "now": ts(now)},
                )
                .mappings()
                .first()
            )
            c.rollback()
        return None if found is None else OutboxRow.of(found)

    def next_wake(self, destination: str) -> datetime | None:
        """When the earliest pending, unblocked row becomes due."""
        with self._connect() as c:
            found = c.execute(
                text(
                    "SELECT min(o.next_attempt_at) FROM broadcast_outbox o WHERE"
                    f" o.destination=:d AND o.status='pending' AND {_UNBLOCKED}"
                ),
                {"d": destination},
            ).scalar()
            c.rollback()
        return parse_ts(found)

    def claim(self, row_id: int, claimer: str) -> bool:
        """pending -> sending, atomically (another process may be flushing the same chat)."""
        with self._begin() as c:
            n = c.execute(
                text(
                    "UPDATE broadcast_outbox SET status='sending', attempts=attempts+1,"
                    " claimed_by=:me WHERE id=:id AND status='pending'"
                ),
                {"id": row_id, "me": claimer},
            ).rowcount
        return n == 1

    def message_id_of(self, destination: str, key: str) -> int | None:
        with self._connect() as c:
            found = c.execute(
                text(
                    "SELECT message_id FROM broadcast_outbox WHERE destination=:d AND key=:k"
                    " AND status='sent'"
                ),
                {"d": destination, "k": key},
            ).scalar()
            c.rollback()
        return found

    def mark_sent(self, row_id: int, message_id: int, now: datetime) -> None:
        self._update(
            row_id,
            "status='sent', message_id=:mid, sent_at=:now, last_error=NULL",
            mid=message_id,
            now=ts(now),
        )

    def mark_retry(
        self,
        row_id: int,
        next_at: datetime,
        error: str,
        *,
        uncount: bool = False,
        plain: bool | None = None,
        resend_note: bool | None = None,
    ) -> None:
        sets = ["status='pending'", "next_attempt_at=:next", "last_error=:e"]
        if uncount:
            sets.append("attempts=max(attempts-1, 0)")
        if plain is not None:
            sets.append(f"plain={int(plain)}")
        if resend_note is not None:
            sets.append(f"resend_note={int(resend_note)}")
        self._update(row_id, ", ".join(sets), next=ts(next_at), e=error[:500])

    def mark_final(self, row_id: int, status: str, error: str) -> None:
        assert status in ("failed", "uncertain", "expired")
        self._update(row_id, "status=:s, last_error=:e", s=status, e=error[:500])

    def _update(self, row_id: int, sets: str, **params: Any) -> None:
        with self._begin() as c:
            c.execute(
                text(f"UPDATE broadcast_outbox SET {sets} WHERE id=:id"), {"id": row_id, **params}
            )

    def recent_sends(self, destination: str, since: datetime) -> list[datetime]:
        with self._connect() as c:
            found = (
                c.execute(
                    text(
                        "SELECT sent_at FROM broadcast_outbox WHERE destination=:d AND"
                        " sent_at >= :t ORDER BY sent_at"
                    ),
                    {"d": destination, "t": ts(since)},
                )
                .scalars()
                .all()
            )
            c.rollback()
        return [t for t in (parse_ts(v) for v in found) if t is not None]

    def rows(self, destination: str | None = None) -> list[OutboxRow]:
        """Every outbox row, oldest first (inspection and tests)."""
        where = "" if destination is None else " WHERE destination=:d"
        with self._connect() as c:
            found = (
                c.execute(
                    text(f"SELECT * FROM broadcast_outbox{where} ORDER BY id"), {"d": destination}
                )
                .mappings()
                .all()
            )
            c.rollback()
        return [OutboxRow.of(m) for m in found]

    def dispose(self) -> None:
        self.engine.dispose()


def _thread(m: Any) -> Thread:
    return Thread(
        position_id=m["position_id"],
        entry_key=m["entry_key"],
        signal_id=m["signal_id"],
        symbol=m["symbol"],
        side=m["side"],
        as_of=parse_ts(m["as_of"]),  # type: ignore[arg-type]
        entry_price=m["entry_price"],
        risk_pct=m["risk_pct"],
        has_position=bool(m["has_position"]),
        alias=bool(m["alias"]),
        closed_at=parse_ts(m["closed_at"]),
    )
