"""The one SQLite database (WAL) under the state directory, and versioned migrations.

Each component (execution, LLM tape, broadcast outbox) owns its tables and an ordered list of
migrations; `migrate()` applies the ones a database has not seen yet, each in a transaction,
and records them in `schema_migrations`. Migrations are never edited once released: add one.

A state directory or database that cannot be used (read-only, full, truncated, not a database)
surfaces as one `StateError` naming the path and the problem (the CLI's exit 3), raised from
SQLAlchemy's `handle_error` hook, so no caller sees SQLite's exception types.
"""

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext

from sextant.errors import StateError

DB_FILE = "sextant.db"

# SQLite's primary result codes that mean the file or its folder is unusable (sqlite.org/rescode)
_STATE_PROBLEMS = {
    3: "permission denied",  # SQLITE_PERM
    8: "read-only: the database or its folder cannot be written",  # SQLITE_READONLY
    10: "disk I/O error (disk full, or the file cannot be written)",  # SQLITE_IOERR
    11: "the database is corrupt (truncated or damaged); restore it from a backup",  # CORRUPT
    13: "the disk is full (or the file-size limit was reached)",  # SQLITE_FULL
    14: "cannot open the database file (is its folder writable?)",  # SQLITE_CANTOPEN
    26: "not a SQLite database (truncated or overwritten); restore it from a backup",  # NOTADB
}


def state_problem(exc: BaseException) -> str | None:
    """What an SQLite error says about the file, or None when it is not about the file."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None:
            return _STATE_PROBLEMS.get(code & 0xFF)
    return None


def state_error(path: Path, exc: BaseException) -> StateError | None:
    problem = state_problem(exc)
    return StateError(path, f"{problem} ({exc})") if problem else None


SQLITE_MAGIC = b"SQLite format 3\x00"


def check_database_file(path: Path) -> None:
    """Refuse a database file that is not SQLite or shorter than its own header says (a
    truncated copy): SQLite would only notice when a query reaches a missing page, which can
    be after the first request to the exchange."""
    try:
        size = path.stat().st_size
        if size == 0:
            return  # a new, empty file: SQLite initialises it
        with path.open("rb") as fh:
            header = fh.read(100)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StateError(path, f"cannot read the database file: {exc.strerror}") from None
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise StateError(path, f"{_STATE_PROBLEMS[26]} (no SQLite header)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # the in-header page count is valid when its "valid-for" number equals the change counter
    if header[92:96] == header[24:28] and size < pages * page_size:
        raise StateError(
            path,
            f"{_STATE_PROBLEMS[11]} (the file has {size} bytes, its header says "
            f"{pages * page_size})",
        )


def ensure_state_dir(state_dir: Path) -> None:
    """Create the state directory; a path that cannot be created is a StateError."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(state_dir, f"cannot create the state directory: {exc.strerror}") from None
    if not state_dir.is_dir():
        raise StateError(state_dir, "not a directory")


@dataclass(frozen=True)
class Migration:
    component: str
    version: int
    description: str
    apply: Callable[[Connection], None]


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # pysqlite's implicit transactions skip DDL; take control so migrations are atomic.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; crash-safe
    cur.execute("PRAGMA synchronous=FULL")  # a committed fill survives a power cut
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(state_dir: Path, filename: str = DB_FILE) -> Engine:
    ensure_state_dir(state_dir)
    path = state_dir / filename
    check_database_file(path)
    engine = create_engine(f"sqlite:///{path}", future=True)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))

    def _state(context: ExceptionContext) -> None:
        # Raising here replaces SQLAlchemy's wrapper (its documented use of the hook).
        error = state_error(path, context.original_exception)
        if error is not None:
            raise error from None

    event.listen(engine, "handle_error", _state)
    return engine


def migrate(engine: Engine, migrations: Sequence[Migration]) -> list[str]:
    """Apply pending migrations in (component, version) order; returns what was applied."""
    applied: list[str] = []
    with engine.begin() as conn:
        conn.execute(text(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " component TEXT NOT NULL, version INTEGER NOT NULL, description TEXT NOT NULL,"
            " PRIMARY KEY (component, version))"
        ))
    for m in sorted(migrations, key=lambda m: (m.component, m.version)):
        with engine.begin() as conn:
            done = conn.execute(
                text("SELECT 1 FROM schema_migrations WHERE component=:c AND version=:v"),
                {"c": m.component, "v": m.version},
            ).first()
            if done:
                continue
            m.apply(conn)
            conn.execute(
                text("INSERT INTO schema_migrations VALUES (:c, :v, :d)"),
                {"c": m.component, "v": m.version, "d": m.description},
            )
            applied.append(f"{m.component}:{m.version}")
    return applied
