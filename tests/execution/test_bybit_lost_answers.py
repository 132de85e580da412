"""Protective orders and exits whose create answer was lost while Bybit's order views lag
(issue 9, item 1), through real ccxt against the local Bybit v5 server (tests/fakes).

The fake applies the create and drops the answer (`timeout_after_apply`) and keeps the order
out of every order view for many look-ups (`hide_order_link_id`), while the order rests,
triggers and fills on the exchange. Every test counts the resting reduce-only stops on the
exchange itself and checks the booked fill against Bybit's own execution (price, fee) and the
reason of the order that filled.
"""

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from execution.bybit import NOT_FOUND
from execution.engine import ExecutionEngine
from runtime.factory import build_engine
from sextant.config import Settings
from sextant.config.market import BUNDLED_DATA_DIR
from sextant.positions import Fill
from tests.execution.helpers import demo_settings, market, signal
from tests.fakes.bybit_v5 import FakeBybit, FakeExecution, load_bundled_frames

pytestmark = pytest.mark.anyio
BTC = "BTC/USDT:USDT"
NOW = datetime(2025, 4, 7, 15, tzinfo=UTC)
D = Decimal
M = market(BTC, "0.1", "0.001")
LAG = 200  # look-ups Bybit's order views miss the order for: longer than any test runs


@pytest.fixture(scope="module")
def frames():  # type: ignore[no-untyped-def]
    return load_bundled_frames(BUNDLED_DATA_DIR, [BTC], "2025-03-20", "2025-04-12")


@pytest.fixture
def fake(frames) -> Iterator[FakeBybit]:  # type: ignore[no-untyped-def]
    with FakeBybit(**frames._asdict(), now_ms=NOW, timeout_hold_s=0.2) as server:
        yield server


async def started(settings: Settings) -> ExecutionEngine:
    eng = build_engine(settings)
    await eng.start()
    eng.broker.fill_poll_delays_s = (0.0, 0.0, 0.0)  # type: ignore[attr-defined]
    return eng


@pytest.fixture
async def engine(fake: FakeBybit, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ExecutionEngine]:
    eng = await started(demo_settings(fake, tmp_path / "state", monkeypatch))
    yield eng
    await eng.aclose()


def btc_signal(fake: FakeBybit):  # type: ignore[no-untyped-def]
    price = D(str(fake.price(BTC)))
    lvl = lambda pct: str((price * (1 + D(pct) / 100)).quantize(D("0.1")))  # noqa: E731
    return signal(BTC, "long", NOW, entry=str(price), stop=lvl("-3"), tp1=lvl("4.5"),
                  tp2=lvl("7.5"), qty="0.05", leverage=5)


def stops_on_bybit(fake: FakeBybit) -> list[tuple[str, float]]:
    """The reduce-only conditional orders resting on Bybit that protect the long (they
    trigger on a fall): (orderLinkId, trigger), whoever placed them."""
    return sorted(
        (o.order_link_id, o.trigger_price) for o in fake.open_orders(BTC)
        if o.reduce_only and o.is_conditional and o.trigger_direction == 2
    )


def targets_on_bybit(fake: FakeBybit) -> list[tuple[str, float, float]]:
    return sorted(
        (o.order_link_id, o.trigger_price, o.qty) for o in fake.open_orders(BTC)
        if o.reduce_only and o.is_conditional and o.trigger_direction == 1
    )


def execution_of(fake: FakeBybit, link: str) -> FakeExecution:
    [ex] = [e for e in fake.executions if e.order_link_id == link and e.exec_type == "Trade"]
    return ex


def assert_booked_from(fill: Fill, ex: FakeExecution, reason: str, link: str) -> None:
    """Booked at Bybit's own price and fee, with the reason of the order that filled."""
    assert (fill.reason, fill.order_id) == (reason, link)
    assert fill.price == D(str(ex.exec_price))
    assert fill.fee == D(f"{ex.exec_fee:.8f}") and fill.fee > 0
    assert fill.quantity == D(str(ex.exec_qty))


# -- the stop --


async def test_a_lost_stop_answer_is_never_placed_twice_and_its_fill_is_booked_at_bybits_price(
    fake: FakeBybit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's case: the stop is made on Bybit, its answer lost and no retry left; Bybit's
    views lag over the restart. The next start must not take it for missing."""
    settings = demo_settings(fake, tmp_path / "state", monkeypatch, order_retries=0)
    first = await started(settings)
    sig = btc_signal(fake)
    pid = sig.signal_id
    fake.fail("/v5/order/create", "timeout_after_apply", skip=1)  # the entry passes
    fake.hide_order_link_id(f"{pid}-sl", looks=LAG)
    res = await first.broker.open(sig, market=M, price=sig.entry, time=NOW)
    assert res.status == "filled"
    assert first.store.order(f"{pid}-sl").status == "pending"  # type: ignore[union-attr]
    assert stops_on_bybit(fake) == [(f"{pid}-sl", float(sig.stop_loss))]  # it was made
    await first.aclose()

    second = await started(settings)  # the next start
    try:
        assert stops_on_bybit(fake) == [(f"{pid}-sl", float(sig.stop_loss))]
        assert [link for link, *_ in targets_on_bybit(fake)] == [f"{pid}-t1", f"{pid}-t2"]
        for _ in range(3):  # and on every pass after
            await second.broker.sync(NOW + timedelta(minutes=1))
            assert stops_on_bybit(fake) == [(f"{pid}-sl", float(sig.stop_loss))]

        fake.set_price(BTC, float(sig.stop_loss) - 50)  # the stop fills; views still lag
        report = await second.broker.sync(NOW + timedelta(minutes=5))
        [(closed, fill)] = report.booked
        assert_booked_from(fill, execution_of(fake, f"{pid}-sl"), "stop_loss", f"{pid}-sl")
        assert fill.pnl == (fill.price - closed.entry_price) * fill.quantity < 0
        assert closed.status == "closed" and closed.exit_reason == "stop_loss"
        assert [f.reason for f in second.store.fills(pid) if f.kind == "exit"] == ["stop_loss"]
        assert not any("outside" in n for n in report.notes)
        assert fake.open_orders(BTC) == []
    finally:
        await second.aclose()


async def test_the_old_stop_the_book_marks_cancelled_filling_beside_its_replacement(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    """The state an earlier version left: the stop taken for never arrived, a replacement
    placed beside it. The old one fills first: booked once, from Bybit, as the stop."""
    sig = btc_signal(fake)
    await engine.broker.open(sig, market=M, price=sig.entry, time=NOW)
    pid = sig.signal_id
    stop = engine.store.order(f"{pid}-sl")
    assert stop is not None and stop.status == "open"
    fake.cancel_reduce_only_on_flat = False  # the replacement triggers too, on a flat position
    twin = fake.inject_order(BTC, "Sell", 0.05, trigger_price=float(sig.stop_loss),
                             reduce_only=True, order_link_id=f"{pid}-s1")
    with engine.store.tx() as tx:
        tx.put_order(stop.model_copy(update={"status": "cancelled", "error": NOT_FOUND}))
        tx.put_order(stop.model_copy(update={
            "client_order_id": f"{pid}-s1", "exchange_order_id": twin.order_id}))
    fake.set_price(BTC, float(sig.stop_loss) - 50)
    assert fake.position(BTC) is None and fake.order_by_link_id(f"{pid}-sl").status == "Filled"  # type: ignore[union-attr]
    report = await engine.broker.sync(NOW + timedelta(minutes=5))
    [(closed, fill)] = report.booked
    assert_booked_from(fill, execution_of(fake, f"{pid}-sl"), "stop_loss", f"{pid}-sl")
    assert fill.pnl == (fill.price - closed.entry_price) * fill.quantity < 0  # the real loss
    assert closed.status == "closed" and closed.fees_paid == closed.entry_fee + fill.fee
    assert engine.store.order(f"{pid}-sl").status == "filled"  # type: ignore[union-attr]
    assert [f.reason for f in engine.store.fills(pid) if f.kind == "exit"] == ["stop_loss"]
    assert fake.open_orders(BTC) == []


async def test_a_resting_stop_the_book_marks_cancelled_is_taken_back_not_doubled(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    sig = btc_signal(fake)
    await engine.broker.open(sig, market=M, price=sig.entry, time=NOW)
    pid = sig.signal_id
    stop = engine.store.order(f"{pid}-sl")
    assert stop is not None
    with engine.store.tx() as tx:
        tx.put_order(stop.model_copy(update={"status": "cancelled", "error": NOT_FOUND}))
    report = await engine.broker.sync(NOW + timedelta(minutes=1))
    assert report.replaced == []
    assert stops_on_bybit(fake) == [(f"{pid}-sl", float(sig.stop_loss))]
    back = engine.store.order(f"{pid}-sl")
    assert back is not None and (back.status, back.error) == ("open", "")


# -- take-profits --


async def test_a_lost_tp1_answer_leaves_one_tp1_and_its_fill_is_booked_as_tp1(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    sig = btc_signal(fake)
    pid = sig.signal_id
    fake.fail("/v5/order/create", "timeout_after_apply", skip=2)  # entry and stop pass
    fake.hide_order_link_id(f"{pid}-t1", looks=LAG)
    res = await engine.broker.open(sig, market=M, price=sig.entry, time=NOW)
    assert res.status == "filled"
    for minute in (1, 2, 3):
        await engine.broker.sync(NOW + timedelta(minutes=minute))
        assert targets_on_bybit(fake) == [
            (f"{pid}-t1", float(sig.take_profit_1), 0.025),
            (f"{pid}-t2", float(sig.take_profit_2), 0.025),
        ]
        assert stops_on_bybit(fake) == [(f"{pid}-sl", float(sig.stop_loss))]

    fake.set_price(BTC, float(sig.take_profit_1) + 50)  # TP1 fills; its views still lag
    report = await engine.broker.sync(NOW + timedelta(minutes=5))
    [(after, fill)] = report.booked
    assert_booked_from(fill, execution_of(fake, f"{pid}-t1"), "tp1", f"{pid}-t1")
    assert after.is_open and after.tp1_done and after.quantity == D("0.025")
    assert after.quantity == D(str(fake.position(BTC).size))  # type: ignore[union-attr]
    assert not any("!=" in n for n in report.notes)
    assert [link for link, *_ in targets_on_bybit(fake)] == [f"{pid}-t2"]  # no TP1 again


# -- stop moves --


async def test_a_lost_answer_on_a_stop_move_leaves_one_stop_and_its_fill_is_breakeven(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    sig = btc_signal(fake)
    res = await engine.broker.open(sig, market=M, price=sig.entry, time=NOW)
    pid = sig.signal_id
    assert res.position is not None
    fake.set_price(BTC, float(res.position.entry_price) * 1.026)  # breakeven is due
    fake.fail("/v5/order/create", "timeout_after_apply")  # the new stop is made, answer lost
    fake.hide_order_link_id(f"{pid}-s1", looks=LAG)
    await engine.tick(NOW + timedelta(minutes=1), {})
    pos = engine.store.position(pid)
    assert pos is not None and pos.stop_loss > pos.entry_price  # the book moved...
    assert stops_on_bybit(fake) == [(f"{pid}-s1", float(pos.stop_loss))]  # ...and only it rests
    await engine.tick(NOW + timedelta(minutes=2), {})  # the next pass changes nothing
    assert stops_on_bybit(fake) == [(f"{pid}-s1", float(pos.stop_loss))]

    fake.set_price(BTC, float(pos.stop_loss) - 20)  # the breakeven stop fills, views lagging
    report = await engine.broker.sync(NOW + timedelta(minutes=3))
    [(closed, fill)] = report.booked
    assert_booked_from(fill, execution_of(fake, f"{pid}-s1"), "breakeven_stop", f"{pid}-s1")
    assert closed.status == "closed" and closed.exit_reason == "breakeven_stop"


async def test_a_stop_move_whose_answer_and_retries_were_lost_ends_with_one_stop(
    fake: FakeBybit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No retry left: the move fails with the new stop made on Bybit and unseen. The next
    passes confirm it, keep one stop, and the book and Bybit end on the breakeven stop."""
    eng = await started(demo_settings(fake, tmp_path / "state", monkeypatch, order_retries=0))
    try:
        sig = btc_signal(fake)
        res = await eng.broker.open(sig, market=M, price=sig.entry, time=NOW)
        pid = sig.signal_id
        assert res.position is not None
        fake.set_price(BTC, float(res.position.entry_price) * 1.026)
        fake.fail("/v5/order/create", "timeout_after_apply")
        fake.hide_order_link_id(f"{pid}-s1", looks=LAG)
        await eng.tick(NOW + timedelta(minutes=1), {})
        assert eng.store.order(f"{pid}-s1").status == "pending"  # type: ignore[union-attr]
        assert len(stops_on_bybit(fake)) == 2  # made on Bybit; the old one still stands
        for minute in (2, 3):
            await eng.tick(NOW + timedelta(minutes=minute), {})
        pos = eng.store.position(pid)
        assert pos is not None and pos.stop_loss > pos.entry_price
        [(_, level)] = stops_on_bybit(fake)
        assert level == float(pos.stop_loss)
        assert not any(o.status == "pending" for o in eng.store.orders(pid))
    finally:
        await eng.aclose()


async def test_an_old_stop_left_by_a_failed_cancel_is_removed_and_the_fill_named_by_its_order(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    sig = btc_signal(fake)
    res = await engine.broker.open(sig, market=M, price=sig.entry, time=NOW)
    pid = sig.signal_id
    assert res.position is not None
    fake.set_price(BTC, float(res.position.entry_price) * 1.026)
    fake.fail("/v5/order/cancel", "503")  # the old stop's cancel fails once
    await engine.tick(NOW + timedelta(minutes=1), {})
    pos = engine.store.position(pid)
    assert pos is not None and pos.stop_loss > pos.entry_price  # the new stop rests: moved
    await engine.broker.sync(NOW + timedelta(minutes=2))  # the next pass removes the old one
    assert stops_on_bybit(fake) == [(f"{pid}-s1", float(pos.stop_loss))]
    assert engine.store.order(f"{pid}-sl").status == "cancelled"  # type: ignore[union-attr]


async def test_a_stop_fill_is_named_by_the_order_that_filled_while_two_rested(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    """The new stop rests, the old one's cancel failed and the book kept the old level: a
    crash through both fills the breakeven stop first, booked as such, once."""
    sig = btc_signal(fake)
    res = await engine.broker.open(sig, market=M, price=sig.entry, time=NOW)
    pid = sig.signal_id
    assert res.position is not None
    fake.set_price(BTC, float(res.position.entry_price) * 1.026)
    fake.fail("/v5/order/cancel", "503", times=None)
    await engine.tick(NOW + timedelta(minutes=1), {})
    assert len(stops_on_bybit(fake)) == 2  # Bybit refuses every cancel
    # killed after the new stop rested, before the book's move was written: the old level
    held = engine.store.position(pid)
    assert held is not None
    with engine.store.tx() as tx:
        tx.update_position(held, held.model_copy(update={"stop_loss": sig.stop_loss}))
    fake.set_price(BTC, float(sig.stop_loss) - 50)
    fake.clear_faults()
    report = await engine.broker.sync(NOW + timedelta(minutes=2))
    [(closed, fill)] = report.booked
    assert_booked_from(fill, execution_of(fake, f"{pid}-s1"), "breakeven_stop", f"{pid}-s1")
    assert closed.status == "closed"
    assert fake.open_orders(BTC) == []


# -- exits --


async def test_a_lost_exit_answer_is_booked_at_bybits_price_with_its_own_reason(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    sig = btc_signal(fake)
    await engine.broker.open(sig, market=M, price=sig.entry, time=NOW)
    pid = sig.signal_id
    fake.set_price(BTC, float(sig.entry) * 0.99)
    fake.fail("/v5/order/create", "timeout_after_apply")  # the exit is made and fills
    fake.hide_order_link_id(f"{pid}-xnp", looks=LAG)
    act = await engine.close([BTC], now=NOW + timedelta(hours=1), reason="news_panic")
    assert act.exits == [] and fake.position(BTC) is None  # closed on Bybit, not confirmed
    report = await engine.broker.sync(NOW + timedelta(hours=1, seconds=30))
    [(closed, fill)] = report.booked
    assert_booked_from(fill, execution_of(fake, f"{pid}-xnp"), "news_panic", f"{pid}-xnp")
    assert closed.status == "closed" and closed.exit_reason == "news_panic"
    assert not any("outside" in n for n in report.notes)


async def test_an_unconfirmed_exit_is_sent_again_under_its_own_id_never_beside_it(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    """The exit never reached Bybit (every try timed out before it): the next exit asks
    again and re-sends the same orderLinkId, which closes the position once."""
    sig = btc_signal(fake)
    await engine.broker.open(sig, market=M, price=sig.entry, time=NOW)
    pid = sig.signal_id
    fake.set_price(BTC, float(sig.entry) * 1.004)
    fake.fail("/v5/order/create", "timeout", times=4)  # every try of the exit is lost
    act = await engine.close([BTC], now=NOW + timedelta(hours=1))
    assert act.exits == [] and fake.position(BTC) is not None
    assert engine.store.order(f"{pid}-xmn").status == "pending"  # type: ignore[union-attr]
    act = await engine.close([BTC], now=NOW + timedelta(hours=1, minutes=1))
    [(closed, fill)] = act.exits
    assert_booked_from(fill, execution_of(fake, f"{pid}-xmn"), "manual", f"{pid}-xmn")
    assert closed.status == "closed" and fake.position(BTC) is None
    assert [o.order_link_id for o in fake.orders.values() if not o.is_conditional] == [
        f"{pid}-e", f"{pid}-xmn"]


# -- nothing on Bybit explains a flat position yet --


async def test_a_flat_position_without_an_execution_waits_before_its_last_price(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    """Bybit shows the position flat and no execution of it (yet): a guess at the last price
    with no fee is the last resort, after the same number of passes as any look-up."""
    sig = btc_signal(fake)
    await engine.broker.open(sig, market=M, price=sig.entry, time=NOW)
    pid = sig.signal_id
    with fake._lock:  # flat, with no execution to show for it
        fake.positions[BTC].size, fake.positions[BTC].side = 0.0, ""
        fake.executions.clear()
    passes = engine.settings.execution.order_lookup_passes
    for n in range(1, passes):
        report = await engine.broker.sync(NOW + timedelta(minutes=n))
        assert report.booked == [] and engine.store.position(pid).is_open  # type: ignore[union-attr]
        assert any("no execution" in note for note in report.notes)
    report = await engine.broker.sync(NOW + timedelta(minutes=passes))
    [(closed, fill)] = report.booked
    assert (fill.reason, fill.fee, closed.status) == ("manual", D(0), "closed")
