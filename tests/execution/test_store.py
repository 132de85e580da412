"""The execution store: migrations, exact decimals, compare-and-swap, idempotent inserts."""

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from execution.store import FundingPayment, StaleWrite, Store
from tests.execution.helpers import T0, pos


def test_tables_and_migration_recorded_once(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    Store.open(tmp_path)  # a second open applies nothing again
    with store.engine.connect() as conn:
        names = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master"))}
        rows = conn.execute(
            text("SELECT component, version FROM schema_migrations WHERE component='execution'")
        ).all()
    assert {"positions", "orders", "fills", "signals", "funding_payments", "daily_equity",
            "cycles", "news_flags", "equity_marks"} <= names
    assert sorted(rows) == [("execution", 1), ("execution", 2), ("execution", 3)]


def test_news_flags_are_a_table_and_old_text_flags_migrate(tmp_path: Path) -> None:
    from execution.store import MIGRATIONS
    from tools.db import make_engine, migrate

    engine = make_engine(tmp_path)
    migrate(engine, MIGRATIONS[:1])  # a database written before the flags had a table
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO execution_kv VALUES ('news_flags', 'ETH/USDT:USDT:10,SOL/USDT:USDT:01')"
        ))
    engine.dispose()
    store = Store.open(tmp_path)
    assert store.news_flags() == {"ETH/USDT:USDT": (True, False), "SOL/USDT:USDT": (False, True)}
    assert store.get("news_flags") is None
    with store.tx() as tx:
        tx.set_news_flags({"BTC/USDT:USDT": (True, True)})
    assert store.news_flags() == {"BTC/USDT:USDT": (True, True)}
    with store.tx() as tx:
        tx.set_news_flags({})
    assert store.news_flags() == {}


def test_positions_round_trip_exactly_and_update_compare_and_swap(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    p = pos(entry="0.1234567891", qty="123456.789")
    with store.tx() as tx:
        tx.insert_position(p)
    assert store.position(p.position_id) == p  # decimals kept exactly (stored as text)
    moved = p.model_copy(update={"stop_loss": Decimal("0.1")})
    with store.tx() as tx:
        tx.update_position(p, moved)
    # a writer holding the old copy is refused instead of undoing the change
    with pytest.raises(StaleWrite), store.tx() as tx:
        tx.update_position(p, p.model_copy(update={"stop_loss": Decimal("0.05")}))
    assert store.position(p.position_id) == moved


def test_fills_and_funding_are_booked_once(tmp_path: Path) -> None:
    from sextant.lifecycle import apply_exit

    store = Store.open(tmp_path)
    p = pos()
    _, fill = apply_exit(p, reason="tp1", quantity=Decimal("5"), price=Decimal("103"),
                         fee=Decimal("0.1"), time=T0)
    pay = FundingPayment(p.position_id, p.symbol, T0, Decimal("0.0001"), Decimal("100"),
                         Decimal("0.1"))
    with store.tx() as tx:
        assert tx.add_fill("a", fill) and not tx.add_fill("a", fill)
        assert tx.add_funding(pay) and not tx.add_funding(pay)
    assert store.realized_totals() == (Decimal("15"), Decimal("0.1"), Decimal("0.1"))


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    p = pos()
    with pytest.raises(RuntimeError), store.tx() as tx:
        tx.insert_position(p)
        raise RuntimeError("killed mid-way")
    assert store.positions() == []


def test_equity_marks_keep_the_latest_observation_of_each_hour(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    store = Store.open(tmp_path)
    t = datetime(2025, 4, 7, 10, 0, tzinfo=UTC)
    try:
        with store.tx() as tx:
            tx.mark_equity(t.replace(minute=30), Decimal("101"))
            tx.mark_equity(t.replace(minute=59), Decimal("102"))
            tx.mark_equity(t.replace(minute=10), Decimal("99"))  # older: kept out
            tx.mark_equity(t.replace(hour=11), Decimal("103"))
        assert store.equity_marks() == [
            (t.replace(minute=59), Decimal("102")), (t.replace(hour=11), Decimal("103"))
        ]
        assert store.equity_marks(since=t.replace(hour=11)) == [(t.replace(hour=11),
                                                                 Decimal("103"))]
    finally:
        store.close()
