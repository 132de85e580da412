"""The execution store: positions, orders, fills, signals, funding, daily equity, cycles.

One SQLite database (WAL) shared with the other components (`tools.db`); the tables here are
the "execution" component's, created by versioned migrations. Money and sizes are stored as
decimal TEXT (never floats), times as ISO 8601 UTC text.

Every change that belongs together is written in one transaction (`Store.tx()`): an entry's
order, fill and position; an exit's order, fill and the smaller position. A process killed at
any moment leaves either all of it or none. Positions are updated compare-and-swap
(`Tx.update_position(old, new)`): a writer that read a stale copy (another process closed the
position meanwhile) gets `StaleWrite` instead of silently undoing the other's change.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, text

from sextant.account import Day
from sextant.errors import StaleWrite
from sextant.models import Signal
from sextant.positions import SPARSE_FIELDS, Fill, OrderRecord, Position
from tools.db import Migration, make_engine, migrate

COMPONENT = "execution"


def _v1(conn: Connection) -> None:
    for ddl in (
        """CREATE TABLE positions (
            position_id TEXT PRIMARY KEY,
            symbol TEXT NOT NULL,
            side TEXT NOT NULL,
            status TEXT NOT NULL,
            mode TEXT NOT NULL,
            origin TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            closed_at TEXT,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX positions_status ON positions (status, symbol)",
        """CREATE TABLE orders (
            client_order_id TEXT PRIMARY KEY,
            position_id TEXT NOT NULL,
            symbol TEXT NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            exchange_order_id TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX orders_position ON orders (position_id, status)",
        """CREATE TABLE fills (
            fill_id TEXT PRIMARY KEY,
            position_id TEXT NOT NULL,
            symbol TEXT NOT NULL,
            kind TEXT NOT NULL,
            reason TEXT NOT NULL,
            quantity TEXT NOT NULL,
            price TEXT NOT NULL,
            fee TEXT NOT NULL,
            pnl TEXT NOT NULL,
            time TEXT NOT NULL,
            order_id TEXT NOT NULL,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX fills_position ON fills (position_id, time)",
        """CREATE TABLE signals (
            signal_id TEXT PRIMARY KEY,
            cycle_id TEXT NOT NULL,
            symbol TEXT NOT NULL,
            as_of TEXT NOT NULL,
            decision TEXT NOT NULL,
            status TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            data TEXT NOT NULL
        )""",
        "CREATE INDEX signals_cycle ON signals (cycle_id)",
        """CREATE TABLE funding_payments (
            position_id TEXT NOT NULL,
            time TEXT NOT NULL,
            symbol TEXT NOT NULL,
            rate TEXT NOT NULL,
            mark_price TEXT NOT NULL,
            amount TEXT NOT NULL,
            PRIMARY KEY (position_id, time)
        )""",
        """CREATE TABLE daily_equity (
            day TEXT PRIMARY KEY,
            start_equity TEXT NOT NULL,
            started_at TEXT NOT NULL,
            last_equity TEXT NOT NULL,
            last_at TEXT NOT NULL,
            breaker_until TEXT,
            breaker_tripped_at TEXT,
            breaker_pnl_pct TEXT
        )""",
        """CREATE TABLE cycles (
            cycle_id TEXT PRIMARY KEY,
            as_of TEXT NOT NULL,
            status TEXT NOT NULL,
            mode TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            summary TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX cycles_as_of ON cycles (status, as_of)",
        """CREATE TABLE execution_kv (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
    ):
        conn.execute(text(ddl))


def _v2(conn: Connection) -> None:
    """News-panic flags get their own table (they were a "SYM:10,..." text in the kv)."""
    conn.execute(text(
        """CREATE TABLE news_flags (
            symbol TEXT PRIMARY KEY,
            close_longs INTEGER NOT NULL,
            close_shorts INTEGER NOT NULL
        )"""
    ))
    row = conn.execute(text("SELECT value FROM execution_kv WHERE key='news_flags'")).first()
    for item in filter(None, (row.value if row is not None else "").split(",")):
        symbol, bits = item.rsplit(":", 1)
        conn.execute(
            text("INSERT INTO news_flags VALUES (:s, :l, :h)"),
            {"s": symbol, "l": int(bits[0] == "1"), "h": int(bits[1] == "1")},
        )
    conn.execute(text("DELETE FROM execution_kv WHERE key='news_flags'"))


def _v3(conn: Connection) -> None:
    # The equity curve: the last equity the monitor observed in each UTC hour.
    conn.execute(text(
        "CREATE TABLE equity_marks (hour TEXT PRIMARY KEY, at TEXT NOT NULL, equity TEXT NOT NULL)"
    ))


MIGRATIONS = [
    Migration(
        COMPONENT,
        1,
        "positions, orders, fills, signals, funding, daily equity, cycles, kv",
        _v1,
    ),
    Migration(COMPONENT, 2, "news-panic flags as a table", _v2),
    Migration(COMPONENT, 3, "hourly equity marks (the equity curve)", _v3),
]


# -- (de)serialisation: exact decimals, UTC ISO times, canonical JSON ---------------------------


def iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts!r}")
    return ts.astimezone(UTC).isoformat()


def parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


def _plain(o: Any) -> Any:
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, datetime):
        return iso(o)
    if isinstance(o, date):
        return o.isoformat()
    raise TypeError(f"not serialisable: {type(o).__name__}")


def dump(model: BaseModel | dict[str, Any]) -> str:
    """Canonical JSON with decimals as strings: equal models give equal text."""
    data = model.model_dump() if isinstance(model, BaseModel) else model
    if isinstance(model, Position):  # rows written before these fields existed stay equal
        data = {k: v for k, v in data.items() if not (k in SPARSE_FIELDS and v is None)}
    return json.dumps(data, default=_plain, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class FundingPayment:
    position_id: str
    symbol: str
    time: datetime
    rate: Decimal
    mark_price: Decimal
    amount: Decimal  # positive = paid by us, negative = received


@dataclass(frozen=True)
class DayRecord:
    day: date
    start_equity: Decimal
    started_at: datetime
    last_equity: Decimal
    last_at: datetime
    breaker_until: datetime | None = None
    breaker_tripped_at: datetime | None = None
    breaker_pnl_pct: Decimal | None = None

    def as_day(self) -> Day:
        """The account core's view of this day (`sextant.account.Day`)."""
        return Day(
            self.day, self.start_equity, self.breaker_until, self.breaker_tripped_at,
            self.breaker_pnl_pct,
        )


@dataclass(frozen=True)
class CycleRecord:
    cycle_id: str
    as_of: datetime
    status: str  # running | completed | abandoned
    mode: str
    started_at: datetime
    finished_at: datetime | None
    summary: dict[str, Any]


def _day(row: Any) -> DayRecord:
    return DayRecord(
        day=date.fromisoformat(row.day),
        start_equity=Decimal(row.start_equity),
        started_at=parse_time(row.started_at),  # type: ignore[arg-type]
        last_equity=Decimal(row.last_equity),
        last_at=parse_time(row.last_at),  # type: ignore[arg-type]
        breaker_until=parse_time(row.breaker_until),
        breaker_tripped_at=parse_time(row.breaker_tripped_at),
        breaker_pnl_pct=None if row.breaker_pnl_pct is None else Decimal(row.breaker_pnl_pct),
    )


def _cycle(row: Any) -> CycleRecord:
    return CycleRecord(
        cycle_id=row.cycle_id,
        as_of=parse_time(row.as_of),  # type: ignore[arg-type]
        status=row.status,
        mode=row.mode,
        started_at=parse_time(row.started_at),  # type: ignore[arg-type]
        finished_at=parse_time(row.finished_at),
        summary=json.loads(row.summary),
    )


class Tx:
    """Writes inside one transaction (see `Store.tx`)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- positions --
    def insert_position(self, pos: Position) -> None:
        self.conn.execute(
            text(
                "INSERT INTO positions VALUES (:id, :symbol, :side, :status, :mode, :origin,"
                " :opened, :closed, :data)"
            ),
            {
                "id": pos.position_id,
                "symbol": pos.symbol,
                "side": pos.side,
                "status": pos.status,
                "mode": pos.mode,
                "origin": pos.origin,
                "opened": iso(pos.opened_at),
                "closed": iso(pos.closed_at),
                "data": dump(pos),
            },
        )

    def update_position(self, old: Position, new: Position) -> None:
        """Compare-and-swap: refuses (StaleWrite) when the stored row is no longer `old`."""
        if old.position_id != new.position_id:
            raise ValueError("update_position: ids differ")
        res = self.conn.execute(
            text(
                "UPDATE positions SET status=:status, closed_at=:closed, data=:data"
                " WHERE position_id=:id AND data=:old"
            ),
            {
                "id": new.position_id,
                "status": new.status,
                "closed": iso(new.closed_at),
                "data": dump(new),
                "old": dump(old),
            },
        )
        if res.rowcount != 1:
            raise StaleWrite(f"position {new.position_id} changed since it was read")

    # -- orders, fills, funding --
    def put_order(self, order: OrderRecord) -> None:
        self.conn.execute(
            text(
                "INSERT INTO orders VALUES (:id, :pid, :symbol, :kind, :status, :xid, :created,"
                " :updated, :data) ON CONFLICT(client_order_id) DO UPDATE SET"
                " status=excluded.status, exchange_order_id=excluded.exchange_order_id,"
                " updated_at=excluded.updated_at, data=excluded.data"
            ),
            {
                "id": order.client_order_id,
                "pid": order.position_id,
                "symbol": order.symbol,
                "kind": order.kind,
                "status": order.status,
                "xid": order.exchange_order_id,
                "created": iso(order.created_at),
                "updated": iso(order.updated_at),
                "data": dump(order),
            },
        )

    def add_fill(self, fill_id: str, fill: Fill) -> bool:
        """Insert once; False when this fill was already booked (idempotent replays)."""
        res = self.conn.execute(
            text(
                "INSERT OR IGNORE INTO fills VALUES (:id, :pid, :symbol, :kind, :reason, :qty,"
                " :price, :fee, :pnl, :time, :order_id, :data)"
            ),
            {
                "id": fill_id,
                "pid": fill.position_id,
                "symbol": fill.symbol,
                "kind": fill.kind,
                "reason": fill.reason,
                "qty": str(fill.quantity),
                "price": str(fill.price),
                "fee": str(fill.fee),
                "pnl": str(fill.pnl),
                "time": iso(fill.time),
                "order_id": fill.order_id,
                "data": dump(fill),
            },
        )
        return res.rowcount == 1

    def add_funding(self, p: FundingPayment) -> bool:
        res = self.conn.execute(
            text(
                "INSERT OR IGNORE INTO funding_payments VALUES (:pid, :time, :symbol, :rate,"
                " :mark, :amount)"
            ),
            {
                "pid": p.position_id,
                "time": iso(p.time),
                "symbol": p.symbol,
                "rate": str(p.rate),
                "mark": str(p.mark_price),
                "amount": str(p.amount),
            },
        )
        return res.rowcount == 1

    # -- signals, days, cycles, kv --
    def put_signal(
        self, signal: Signal, cycle_id: str, status: str, note: str = "", *, overwrite: bool = True
    ) -> None:
        """Record a signal; `overwrite=False` keeps the status of one already recorded."""
        on_conflict = "DO NOTHING"
        if overwrite:
            on_conflict = "DO UPDATE SET status=excluded.status, note=excluded.note"
        self.conn.execute(
            text(
                "INSERT INTO signals VALUES (:id, :cycle, :symbol, :as_of, :decision, :status,"
                f" :note, :data) ON CONFLICT(signal_id) {on_conflict}"
            ),
            {
                "id": signal.signal_id,
                "cycle": cycle_id,
                "symbol": signal.symbol,
                "as_of": iso(signal.as_of),
                "decision": signal.decision,
                "status": status,
                "note": note,
                "data": signal.model_dump_json(),
            },
        )

    def set_signal_status(self, signal_id: str, status: str, note: str = "") -> None:
        self.conn.execute(
            text("UPDATE signals SET status=:s, note=:n WHERE signal_id=:id"),
            {"s": status, "n": note, "id": signal_id},
        )

    def ensure_day(self, day: date, equity: Decimal, time: datetime) -> None:
        """The day's starting equity is the first one observed that day; later calls only
        update the day's last equity."""
        self.conn.execute(
            text(
                "INSERT INTO daily_equity (day, start_equity, started_at, last_equity, last_at)"
                " VALUES (:day, :eq, :t, :eq, :t) ON CONFLICT(day) DO UPDATE SET"
                " last_equity=excluded.last_equity, last_at=excluded.last_at"
                " WHERE excluded.last_at >= daily_equity.last_at"
            ),
            {"day": day.isoformat(), "eq": str(equity), "t": iso(time)},
        )

    def mark_equity(self, time: datetime, equity: Decimal) -> None:
        """The equity curve keeps one point per UTC hour: its latest observation."""
        hour = time.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        self.conn.execute(
            text(
                "INSERT INTO equity_marks VALUES (:h, :t, :eq) ON CONFLICT(hour) DO UPDATE SET"
                " at=excluded.at, equity=excluded.equity WHERE excluded.at >= equity_marks.at"
            ),
            {"h": iso(hour), "t": iso(time), "eq": str(equity)},
        )

    def trip_breaker(self, day: date, until: datetime, time: datetime, pnl_pct: Decimal) -> None:
        self.conn.execute(
            text(
                "UPDATE daily_equity SET breaker_until=:u, breaker_tripped_at=:t,"
                " breaker_pnl_pct=:p WHERE day=:day AND breaker_until IS NULL"
            ),
            {"u": iso(until), "t": iso(time), "p": str(pnl_pct), "day": day.isoformat()},
        )

    def cycle_started(self, cycle_id: str, as_of: datetime, mode: str, now: datetime) -> None:
        self.conn.execute(
            text(
                "INSERT INTO cycles (cycle_id, as_of, status, mode, started_at)"
                " VALUES (:id, :as_of, 'running', :mode, :now) ON CONFLICT(cycle_id) DO NOTHING"
            ),
            {"id": cycle_id, "as_of": iso(as_of), "mode": mode, "now": iso(now)},
        )

    def cycle_finished(
        self, cycle_id: str, status: str, now: datetime, summary: dict[str, Any]
    ) -> None:
        self.conn.execute(
            text(
                "UPDATE cycles SET status=:s, finished_at=:now, summary=:sum WHERE cycle_id=:id"
            ),
            {"s": status, "now": iso(now), "sum": json.dumps(summary, default=_plain),
             "id": cycle_id},
        )

    def set_news_flags(self, flags: Mapping[str, tuple[bool, bool]]) -> None:
        """Replace the news-panic flags the monitor applies until the next cycle:
        symbol -> (close longs, close shorts)."""
        self.conn.execute(text("DELETE FROM news_flags"))
        for symbol, (longs, shorts) in sorted(flags.items()):
            self.conn.execute(
                text("INSERT INTO news_flags VALUES (:s, :l, :h)"),
                {"s": symbol, "l": int(longs), "h": int(shorts)},
            )

    def set(self, key: str, value: str) -> None:
        self.conn.execute(
            text(
                "INSERT INTO execution_kv VALUES (:k, :v)"
                " ON CONFLICT(key) DO UPDATE SET value=excluded.value"
            ),
            {"k": key, "v": value},
        )

    def set_default(self, key: str, value: str) -> None:
        self.conn.execute(
            text("INSERT OR IGNORE INTO execution_kv VALUES (:k, :v)"), {"k": key, "v": value}
        )


class Store:
    """Reads and transactions over the execution tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, state_dir: Path) -> Store:
        engine = make_engine(Path(state_dir))
        migrate(engine, MIGRATIONS)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        with self.engine.begin() as conn:
            yield Tx(conn)

    def _rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    # -- positions --
    def positions(self, status: str | None = None, symbol: str | None = None) -> list[Position]:
        sql = "SELECT data FROM positions WHERE 1=1"
        if status is not None:
            sql += " AND status=:status"
        if symbol is not None:
            sql += " AND symbol=:symbol"
        sql += " ORDER BY opened_at, position_id"
        rows = self._rows(sql, status=status, symbol=symbol)
        return [Position.model_validate_json(r.data) for r in rows]

    def open_positions(self) -> list[Position]:
        return self.positions(status="open")

    def position(self, position_id: str) -> Position | None:
        rows = self._rows("SELECT data FROM positions WHERE position_id=:id", id=position_id)
        return Position.model_validate_json(rows[0].data) if rows else None

    # -- orders and fills --
    def orders(
        self,
        position_id: str | None = None,
        *,
        active: bool = False,
        since: datetime | None = None,
        symbol: str | None = None,
    ) -> list[OrderRecord]:
        sql = "SELECT data FROM orders WHERE 1=1"
        if position_id is not None:
            sql += " AND position_id=:pid"
        if symbol is not None:
            sql += " AND symbol=:symbol"
        if active:
            sql += " AND status IN ('pending', 'open')"
        if since is not None:
            sql += " AND updated_at >= :since"
        sql += " ORDER BY created_at, client_order_id"
        rows = self._rows(sql, pid=position_id, since=iso(since), symbol=symbol)
        return [OrderRecord.model_validate_json(r.data) for r in rows]

    def order(self, client_order_id: str) -> OrderRecord | None:
        rows = self._rows("SELECT data FROM orders WHERE client_order_id=:id", id=client_order_id)
        return OrderRecord.model_validate_json(rows[0].data) if rows else None

    def fills(self, position_id: str | None = None) -> list[Fill]:
        sql = "SELECT data FROM fills"
        if position_id is not None:
            sql += " WHERE position_id=:pid"
        sql += " ORDER BY time, fill_id"
        return [Fill.model_validate_json(r.data) for r in self._rows(sql, pid=position_id)]

    def funding(self, position_id: str | None = None) -> list[FundingPayment]:
        sql = "SELECT * FROM funding_payments"
        if position_id is not None:
            sql += " WHERE position_id=:pid"
        sql += " ORDER BY time, position_id"
        return [
            FundingPayment(
                position_id=r.position_id,
                symbol=r.symbol,
                time=parse_time(r.time),  # type: ignore[arg-type]
                rate=Decimal(r.rate),
                mark_price=Decimal(r.mark_price),
                amount=Decimal(r.amount),
            )
            for r in self._rows(sql, pid=position_id)
        ]

    # -- account --
    def realized_totals(self, exclude: Collection[str] = ()) -> tuple[Decimal, Decimal, Decimal]:
        """(price PnL of every exit fill, every fee, every funding payment), exact; rows of
        the positions in `exclude` left out."""
        pnl = fees = Decimal(0)
        for r in self._rows("SELECT position_id, pnl, fee FROM fills"):
            if r.position_id not in exclude:
                pnl += Decimal(r.pnl)
                fees += Decimal(r.fee)
        funding = sum(
            (
                Decimal(r.amount)
                for r in self._rows("SELECT position_id, amount FROM funding_payments")
                if r.position_id not in exclude
            ),
            Decimal(0),
        )
        return pnl, fees, funding

    # -- signals --
    def signals(self, cycle_id: str | None = None) -> list[tuple[Signal, str, str]]:
        sql = "SELECT data, status, note FROM signals"
        if cycle_id is not None:
            sql += " WHERE cycle_id=:c"
        sql += " ORDER BY as_of, signal_id"
        return [
            (Signal.model_validate_json(r.data), r.status, r.note)
            for r in self._rows(sql, c=cycle_id)
        ]

    def signal(self, signal_id: str) -> Signal | None:
        rows = self._rows("SELECT data FROM signals WHERE signal_id=:id", id=signal_id)
        return Signal.model_validate_json(rows[0].data) if rows else None

    def signal_status(self, signal_id: str) -> str | None:
        rows = self._rows("SELECT status FROM signals WHERE signal_id=:id", id=signal_id)
        return rows[0].status if rows else None

    # -- days, cycles, kv --
    def day(self, day: date) -> DayRecord | None:
        rows = self._rows("SELECT * FROM daily_equity WHERE day=:d", d=day.isoformat())
        return _day(rows[0]) if rows else None

    def latest_day(self) -> DayRecord | None:
        rows = self._rows("SELECT * FROM daily_equity ORDER BY day DESC LIMIT 1")
        return _day(rows[0]) if rows else None

    def days(self) -> list[DayRecord]:
        return [_day(r) for r in self._rows("SELECT * FROM daily_equity ORDER BY day")]

    def equity_marks(self, since: datetime | None = None) -> list[tuple[datetime, Decimal]]:
        """(time observed, equity), one per UTC hour, oldest first."""
        sql = "SELECT at, equity FROM equity_marks"
        if since is not None:
            sql += " WHERE hour >= :since"
        sql += " ORDER BY hour"
        return [
            (parse_time(r.at), Decimal(r.equity))  # type: ignore[misc]
            for r in self._rows(sql, since=iso(since))
        ]

    def cycle(self, cycle_id: str) -> CycleRecord | None:
        rows = self._rows("SELECT * FROM cycles WHERE cycle_id=:id", id=cycle_id)
        return _cycle(rows[0]) if rows else None

    def cycles(self, status: str | None = None) -> list[CycleRecord]:
        sql = "SELECT * FROM cycles"
        if status is not None:
            sql += " WHERE status=:s"
        sql += " ORDER BY as_of"
        return [_cycle(r) for r in self._rows(sql, s=status)]

    def recent_cycles(self, limit: int) -> list[CycleRecord]:
        """The `limit` latest cycles by as_of (any status), newest first."""
        rows = self._rows("SELECT * FROM cycles ORDER BY as_of DESC LIMIT :n", n=limit)
        return [_cycle(r) for r in rows]

    def exit_fills(self, limit: int) -> list[Fill]:
        """The `limit` latest exit fills, newest first."""
        rows = self._rows(
            "SELECT data FROM fills WHERE kind='exit' ORDER BY time DESC, fill_id DESC LIMIT :n",
            n=limit,
        )
        return [Fill.model_validate_json(r.data) for r in rows]

    def last_cycle(self, status: str | None = "completed") -> CycleRecord | None:
        sql = "SELECT * FROM cycles"
        if status is not None:
            sql += " WHERE status=:s"
        sql += " ORDER BY as_of DESC LIMIT 1"
        rows = self._rows(sql, s=status)
        return _cycle(rows[0]) if rows else None

    def get(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM execution_kv WHERE key=:k", k=key)
        return rows[0].value if rows else None

    def news_flags(self) -> dict[str, tuple[bool, bool]]:
        """The news-panic flags of the last completed cycle: symbol -> (longs, shorts)."""
        rows = self._rows("SELECT * FROM news_flags ORDER BY symbol")
        return {r.symbol: (bool(r.close_longs), bool(r.close_shorts)) for r in rows}
