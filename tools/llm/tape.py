"""The LLM tape: every model answer with its as_of, inputs, prompt hash, raw text and parse.

Stored in the one SQLite database (`state/sextant.db`, component "llm"). A backtest replays what
the agents said at a time (`answer_at`) instead of asking a model that already knows the future;
only answers given close to their as_of (`point_in_time`) qualify. The daily budget sums `cost_usd`
over `day` (the UTC day the call was made, by the injected clock). Blocking: call from a thread.

Schema (migration llm:1):

    llm_tape(id, created_at, day, as_of, point_in_time, origin, cycle_id, agent, symbol, model,
             prompt_name, prompt_hash, attempt, status, inputs_json, raw_text, parsed_json,
             error, tokens_in, tokens_out, cost_usd, cost_source, latency_ms)
    llm_prompts(hash, name, text, first_seen)
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

from tools.db import Migration, make_engine, migrate

COMPONENT = "llm"
ANSWERED = ("ok", "repaired")


def storable(value: str | None) -> str | None:
    """Text SQLite (UTF-8) accepts: a lone surrogate in a model's answer becomes `\\ud800`
    instead of failing the write (and with it the day's cost accounting)."""
    if value is None:
        return None
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _v1(conn: Connection) -> None:
    conn.execute(
        text(
            """
            CREATE TABLE llm_tape (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                created_at TEXT NOT NULL,
                day TEXT NOT NULL,
                as_of TEXT NOT NULL,
                point_in_time INTEGER NOT NULL,
                origin TEXT NOT NULL,
                cycle_id TEXT,
                agent TEXT NOT NULL,
                symbol TEXT,
                model TEXT NOT NULL,
                prompt_name TEXT NOT NULL,
                prompt_hash TEXT NOT NULL,
                attempt INTEGER NOT NULL,
                status TEXT NOT NULL,
                inputs_json TEXT NOT NULL,
                raw_text TEXT,
                parsed_json TEXT,
                error TEXT,
                tokens_in INTEGER NOT NULL DEFAULT 0,
                tokens_out INTEGER NOT NULL DEFAULT 0,
                cost_usd REAL NOT NULL DEFAULT 0,
                cost_source TEXT,
                latency_ms REAL
            )
            """
        )
    )
    conn.execute(text("CREATE INDEX ix_llm_tape_lookup ON llm_tape (agent, symbol, as_of)"))
    conn.execute(text("CREATE INDEX ix_llm_tape_day ON llm_tape (day)"))
    conn.execute(
        text(
            "CREATE TABLE llm_prompts (hash TEXT PRIMARY KEY, name TEXT NOT NULL, "
            "text TEXT NOT NULL, first_seen TEXT NOT NULL)"
        )
    )


MIGRATIONS = [Migration(COMPONENT, 1, "LLM tape and prompt texts", _v1)]


def iso(ts: datetime) -> str:
    """Fixed-width UTC text (whole seconds) so that SQL compares times as strings."""
    return ts.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _parse_iso(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


@dataclass(frozen=True)
class TapeRecord:
    created_at: datetime
    as_of: datetime
    origin: str  # cycle | prompt_run | prompt_replay
    agent: str  # hunter | news
    model: str
    prompt_name: str
    prompt_hash: str
    attempt: int
    status: str  # ok | repaired | invalid | error
    inputs: dict[str, Any]
    symbol: str | None = None
    cycle_id: str | None = None
    raw_text: str | None = None
    parsed: Any = None
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    cost_source: str | None = None
    latency_ms: float | None = None


@dataclass(frozen=True)
class TapeEntry:
    id: int
    created_at: datetime
    as_of: datetime
    point_in_time: bool
    origin: str
    cycle_id: str | None
    agent: str
    symbol: str | None
    model: str
    prompt_name: str
    prompt_hash: str
    attempt: int
    status: str
    inputs: dict[str, Any]
    raw_text: str | None
    parsed: Any
    error: str | None
    tokens_in: int
    tokens_out: int
    cost_usd: float


@dataclass(frozen=True)
class DaySpend:
    day: date
    cost_usd: float
    calls: int  # model requests made (every attempt, failed ones too)
    tokens_in: int
    tokens_out: int


class Tape:
    def __init__(self, state_dir: Path, live_tolerance: timedelta = timedelta(hours=2)) -> None:
        self.state_dir = Path(state_dir)
        self.live_tolerance = live_tolerance
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                engine = make_engine(self.state_dir)
                migrate(engine, MIGRATIONS)
                self._engine = engine
            return self._engine

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    # -- writing ------------------------------------------------------------------------------

    def remember_prompt(
        self, name: str, prompt_hash: str, prompt_text: str, when: datetime
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT OR IGNORE INTO llm_prompts (hash, name, text, first_seen) "
                    "VALUES (:h, :n, :t, :w)"
                ),
                {"h": prompt_hash, "n": name, "t": prompt_text, "w": iso(when)},
            )

    def record(self, r: TapeRecord) -> int:
        lag = r.created_at - r.as_of
        live = timedelta(0) - timedelta(minutes=5) <= lag <= self.live_tolerance
        params = {
            "created_at": iso(r.created_at),
            "day": r.created_at.date().isoformat(),
            "as_of": iso(r.as_of),
            "pit": int(live and r.origin == "cycle"),
            "origin": r.origin,
            "cycle_id": r.cycle_id,
            "agent": r.agent,
            "symbol": r.symbol,
            "model": r.model,
            "prompt_name": r.prompt_name,
            "prompt_hash": r.prompt_hash,
            "attempt": r.attempt,
            "status": r.status,
            "inputs": json.dumps(r.inputs, sort_keys=True, default=str),
            "raw": storable(r.raw_text),
            "parsed": None if r.parsed is None else json.dumps(r.parsed, default=str),
            "error": storable(r.error),
            "tin": r.tokens_in,
            "tout": r.tokens_out,
            "cost": r.cost_usd,
            "cost_source": r.cost_source,
            "latency": r.latency_ms,
        }
        with self.engine.begin() as conn:
            res = conn.execute(
                text(
                    "INSERT INTO llm_tape (created_at, day, as_of, point_in_time, origin, "
                    "cycle_id, agent, symbol, model, prompt_name, prompt_hash, attempt, status, "
                    "inputs_json, raw_text, parsed_json, error, tokens_in, tokens_out, cost_usd, "
                    "cost_source, latency_ms) VALUES (:created_at, :day, :as_of, :pit, :origin, "
                    ":cycle_id, :agent, :symbol, :model, :prompt_name, :prompt_hash, :attempt, "
                    ":status, :inputs, :raw, :parsed, :error, :tin, :tout, :cost, :cost_source, "
                    ":latency)"
                ),
                params,
            )
            return int(res.lastrowid or 0)

    # -- reading ------------------------------------------------------------------------------

    def spent_on(self, day: date) -> float:
        with self.engine.connect() as conn:
            value = conn.execute(
                text("SELECT COALESCE(SUM(cost_usd), 0) FROM llm_tape WHERE day = :d"),
                {"d": day.isoformat()},
            ).scalar()
        return float(value or 0.0)

    def daily_spend(self, days: int) -> list[DaySpend]:
        """Spend per UTC day (the day the calls were made), the `days` latest, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT day, COALESCE(SUM(cost_usd), 0), COUNT(*), COALESCE(SUM(tokens_in), 0),"
                    " COALESCE(SUM(tokens_out), 0) FROM llm_tape GROUP BY day ORDER BY day DESC"
                    " LIMIT :n"
                ),
                {"n": days},
            ).all()
        return [
            DaySpend(date.fromisoformat(r[0]), float(r[1]), int(r[2]), int(r[3]), int(r[4]))
            for r in rows
        ]

    def prompt_text(self, prompt_hash: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                text("SELECT text FROM llm_prompts WHERE hash = :h"), {"h": prompt_hash}
            ).first()
        return None if row is None else str(row[0])

    def entries(
        self,
        agent: str,
        *,
        symbol: str | None = None,
        statuses: tuple[str, ...] = ANSWERED,
        origins: tuple[str, ...] = ("cycle",),
        limit: int = 20,
    ) -> list[TapeEntry]:
        """Recorded answers, newest first; one per (symbol, as_of), the last attempt."""
        where = ["agent = :agent"]
        params: dict[str, Any] = {"agent": agent, "limit": limit}
        if symbol is not None:
            where.append("symbol = :symbol")
            params["symbol"] = symbol
        where.append(f"status IN ({', '.join(f':s{i}' for i in range(len(statuses)))})")
        params |= {f"s{i}": s for i, s in enumerate(statuses)}
        where.append(f"origin IN ({', '.join(f':o{i}' for i in range(len(origins)))})")
        params |= {f"o{i}": o for i, o in enumerate(origins)}
        sql = (
            "SELECT * FROM llm_tape WHERE id IN (SELECT MAX(id) FROM llm_tape WHERE "
            + " AND ".join(where)
            + " GROUP BY COALESCE(symbol, ''), as_of) ORDER BY as_of DESC, id DESC LIMIT :limit"
        )
        with self.engine.connect() as conn:
            rows = conn.execute(text(sql), params).mappings().all()
        return [self._entry(r) for r in rows]

    def answer_at(
        self,
        agent: str,
        as_of: datetime,
        *,
        symbol: str | None = None,
        max_age: timedelta | None = None,
        point_in_time: bool = True,
    ) -> TapeEntry | None:
        """What the agent said last at or before `as_of` (for a backtest): no later answer."""
        sql = (
            "SELECT * FROM llm_tape WHERE agent = :agent AND as_of <= :as_of "
            "AND status IN ('ok', 'repaired')"
        )
        params: dict[str, Any] = {"agent": agent, "as_of": iso(as_of)}
        if symbol is not None:
            sql += " AND symbol = :symbol"
            params["symbol"] = symbol
        if point_in_time:
            sql += " AND point_in_time = 1"
        if max_age is not None:
            sql += " AND as_of >= :oldest"
            params["oldest"] = iso(as_of - max_age)
        sql += " ORDER BY as_of DESC, id DESC LIMIT 1"
        with self.engine.connect() as conn:
            row = conn.execute(text(sql), params).mappings().first()
        return None if row is None else self._entry(row)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM llm_tape")).scalar() or 0)

    @staticmethod
    def _entry(r: Any) -> TapeEntry:
        return TapeEntry(
            id=int(r["id"]),
            created_at=_parse_iso(r["created_at"]),
            as_of=_parse_iso(r["as_of"]),
            point_in_time=bool(r["point_in_time"]),
            origin=r["origin"],
            cycle_id=r["cycle_id"],
            agent=r["agent"],
            symbol=r["symbol"],
            model=r["model"],
            prompt_name=r["prompt_name"],
            prompt_hash=r["prompt_hash"],
            attempt=int(r["attempt"]),
            status=r["status"],
            inputs=json.loads(r["inputs_json"]),
            raw_text=r["raw_text"],
            parsed=None if r["parsed_json"] is None else json.loads(r["parsed_json"]),
            error=r["error"],
            tokens_in=int(r["tokens_in"]),
            tokens_out=int(r["tokens_out"]),
            cost_usd=float(r["cost_usd"]),
        )
