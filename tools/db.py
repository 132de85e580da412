"""The one SQLite database (WAL) under the state directory, and versioned migrations.

Each component (execution, LLM tape, broadcast outbox) owns its tables and an ordered list of
migrations; `migrate()` applies the ones a database has not seen yet, each in a transaction,
and records them in `schema_migrations`. Migrations are never edited once released: add one.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text

DB_FILE = "sextant.db"


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
    state_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{state_dir / filename}", future=True)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
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
