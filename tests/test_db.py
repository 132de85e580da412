"""The shared database: WAL mode and idempotent, versioned migrations."""

from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from tools.db import Migration, make_engine, migrate


def _create(conn: Connection) -> None:
    conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))


def _add_col(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE t ADD COLUMN w INTEGER DEFAULT 0"))


def test_migrations_apply_once_in_order(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    migs = [Migration("x", 2, "add w", _add_col), Migration("x", 1, "create", _create)]
    assert migrate(engine, migs) == ["x:1", "x:2"]
    assert migrate(engine, migs) == []
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        cols = [r[1] for r in conn.execute(text("PRAGMA table_info(t)"))]
        assert cols == ["id", "v", "w"]


def test_a_failing_migration_leaves_no_trace(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)

    def broken(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE u (id INTEGER)"))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        migrate(engine, [Migration("y", 1, "broken", broken)])
    with engine.connect() as conn:
        names = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master"))}
        assert "u" not in names
        assert conn.execute(text("SELECT count(*) FROM schema_migrations")).scalar() == 0
