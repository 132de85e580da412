"""The Bybit broker when the exchange answers late, ambiguously or not at all, through real
ccxt against the local Bybit v5 server (tests/fakes): entries Bybit settles after the first
look, exits whose bookkeeping is interrupted, refused stop moves, outages after an entry,
positions closed outside Sextant, funding over more than Bybit's 7-day window, and the
single-writer rule for the exchange book.
"""

import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from execution.engine import ExecutionEngine
from execution.store import Store
from runtime.factory import build_engine
from runtime.lock import LOCK_FILE, ExchangeBusy, InstanceLock
from sextant.config import ConfigError
from sextant.config.market import BUNDLED_DATA_DIR
from sextant.positions import OrderRecord
from tests.execution.helpers import demo_settings, market, signal, snapshot
from tests.fakes.bybit_v5 import FakeBybit, load_bundled_frames

pytestmark = pytest.mark.anyio
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
NOW = datetime(2025, 4, 7, 15, tzinfo=UTC)
D = Decimal
M = market(BTC, "0.1", "0.001")


@pytest.fixture(scope="module")
def frames():  # type: ignore[no-untyped-def]
    return load_bundled_frames(BUNDLED_DATA_DIR, [BTC, ETH], "2025-03-20", "2025-04-25")


@pytest.fixture
def fake(frames) -> Iterator[FakeBybit]:  # type: ignore[no-untyped-def]
    with FakeBybit(**frames._asdict(), now_ms=NOW, timeout_hold_s=0.5) as server:
        yield server


@pytest.fixture
async def engine(fake: FakeBybit, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ExecutionEngine]:
    eng = build_engine(demo_settings(fake, tmp_path / "state", monkeypatch))
    await eng.start()
    eng.broker.fill_poll_delays_s = (0.0, 0.0, 0.0)  # type: ignore[attr-defined]
    yield eng
    await eng.aclose()


def btc_signal(fake: FakeBybit, qty: str = "0.05", stop: str = "-3", tp1: str = "4.5",
               tp2: str = "7.5", leverage: int = 5):  # type: ignore[no-untyped-def]
    price = D(str(fake.price(BTC)))
    lvl = lambda pct: str((price * (1 + D(pct) / 100)).quantize(D("0.1")))  # noqa: E731
    return signal(BTC, "long", NOW, entry=str(price), stop=lvl(stop), tp1=lvl(tp1),
                  tp2=lvl(tp2), qty=qty, leverage=leverage)


def resting(fake: FakeBybit) -> dict[str, float]:
    return {o.order_link_id: o.trigger_price for o in fake.open_orders(BTC)}


async def execute(engine: ExecutionEngine, sig):  # type: ignore[no-untyped-def]
    act = await engine.execute(
        [sig], as_of=NOW, cycle_id="c", snapshots={BTC: snapshot(M, float(sig.entry), NOW)}
    )
    return act.intents[0]


def assert_booked_from_signal(engine: ExecutionEngine, fake: FakeBybit, sig) -> None:  # type: ignore[no-untyped-def]
    """The position is the signal's own (not adopted), with its stop and targets, on the
    exchange as in the book."""
    [pos] = engine.store.open_positions()
    assert (pos.position_id, pos.origin) == (sig.signal_id, "signal")
    assert (pos.stop_loss, pos.take_profit_1, pos.take_profit_2) == (
        sig.stop_loss, sig.take_profit_1, sig.take_profit_2)
    assert pos.quantity == D(str(fake.position(BTC).size))
    assert sorted(resting(fake).values()) == sorted(
        float(x) for x in (sig.stop_loss, sig.take_profit_1, sig.take_profit_2))


# -- 1. entries Bybit has not settled at the first look --


async def test_a_market_entry_still_new_at_the_first_look_is_polled_until_filled(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    sig = btc_signal(fake)
    fake.defer_next_order(looks=2)  # accepted, processed at the third look-up
    res = await engine.broker.open(sig, market=M, price=sig.entry, time=NOW)
    assert res.status == "filled" and res.position is not None
    assert engine.store.order(f"{sig.signal_id}-e").status == "filled"  # type: ignore[union-attr]
    asked = [r for r in fake.requests_to("/v5/order/realtime")
             if r.query.get("orderLinkId") == f"{sig.signal_id}-e"]
    assert len(asked) == 3
    assert_booked_from_signal(engine, fake, sig)


async def test_an_entry_unsettled_after_polling_is_booked_by_sync_with_the_signals_levels(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    sig = btc_signal(fake)
    fake.defer_next_order()  # Bybit sits on it past every poll
    intent = await execute(engine, sig)
    assert intent.status == "submitted" and intent.reasons[0].code == "entry_not_settled"
    order = engine.store.order(f"{sig.signal_id}-e")
    assert order is not None and order.status == "pending"
    assert engine.store.open_positions() == [] and fake.position(BTC) is None

    fake.process_deferred()  # it fills now
    act = await engine.tick(NOW + timedelta(seconds=30), {})
    assert act.sync is not None and not act.sync.adopted
    [entry] = act.sync.entries
    assert entry.position_id == sig.signal_id
    assert act.exits == []  # an entry is never published as an exit
    assert_booked_from_signal(engine, fake, sig)
    assert engine.store.signal_status(sig.signal_id) == "filled"
    assert engine.store.order(f"{sig.signal_id}-e").status == "filled"  # type: ignore[union-attr]


async def test_our_filled_entry_without_a_position_is_booked_not_adopted(
    fake: FakeBybit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the order was settled as filled and before the position was written: the
    exchange position is ours, booked from the signal (not adopted with a 5 % stop)."""
    settings = demo_settings(fake, tmp_path / "state", monkeypatch)
    sig = btc_signal(fake)
    cid = f"{sig.signal_id}-e"
    placed = fake.inject_order(BTC, "Buy", 0.05, order_link_id=cid)
    store = Store.open(settings.state_dir)
    with store.tx() as tx:
        tx.put_signal(sig, "c-x", "recorded")
        tx.put_order(OrderRecord(
            client_order_id=cid, position_id=sig.signal_id, symbol=BTC, side="buy",
            kind="entry", quantity=D("0.05"), mode="demo", created_at=NOW, updated_at=NOW,
            status="filled", filled_quantity=D("0.050"), average_price=D(str(placed.avg_price)),
            fee=D(f"{placed.cum_exec_fee:.8f}"), exchange_order_id=placed.order_id,
        ))
    eng = build_engine(settings, store=store)
    try:
        report = await eng.start()
        assert report.adopted == [] and [p.position_id for p in report.entries] == [
            sig.signal_id]
        assert_booked_from_signal(eng, fake, sig)
    finally:
        await eng.aclose()


async def test_an_ambiguous_error_on_an_entry_bybit_did_make_is_settled_by_asking(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    sig = btc_signal(fake)
    fake.reject_next_order(10016, "Internal System Error.", applied=True)
    res = await engine.broker.open(sig, market=M, price=sig.entry, time=NOW)
    assert res.status == "filled"
    assert engine.store.order(f"{sig.signal_id}-e").status == "filled"  # type: ignore[union-attr]
    assert_booked_from_signal(engine, fake, sig)
    creates = [r for r in fake.requests_to("/v5/order/create")
               if r.body.get("orderLinkId") == f"{sig.signal_id}-e"]
    assert len(creates) == 1


async def test_an_ambiguous_error_leaves_the_entry_pending_for_the_lookup_passes(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    sig = btc_signal(fake)
    fake.reject_next_order(10016, "Internal System Error.")  # this time nothing was made
    intent = await execute(engine, sig)
    assert intent.status == "submitted"
    assert engine.store.order(f"{sig.signal_id}-e").status == "pending"  # type: ignore[union-attr]
    passes = engine.settings.execution.order_lookup_passes
    assert passes > 1
    for n in range(1, passes):  # not shown (Bybit's views may lag): pending, asked again
        await engine.tick(NOW + timedelta(seconds=30 * n), {})
        order = engine.store.order(f"{sig.signal_id}-e")
        assert order is not None and (order.status, order.missed_lookups) == ("pending", n)
    await engine.tick(NOW + timedelta(seconds=30 * passes), {})
    settled = engine.store.order(f"{sig.signal_id}-e")
    assert settled is not None and (settled.status, settled.error) == (
        "cancelled", "not found on the exchange")
    assert engine.store.open_positions() == [] and fake.position(BTC) is None


async def test_an_entry_shown_late_within_the_lookup_passes_is_booked_not_adopted(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    """Made on Bybit, its answer lost, and Bybit's views miss it for three passes."""
    sig = btc_signal(fake)
    cid = f"{sig.signal_id}-e"
    fake.reject_next_order(10016, "Internal System Error.", applied=True)
    fake.hide_order_link_id(cid, looks=2 * 4)  # the look after the error and three passes
    intent = await execute(engine, sig)
    assert intent.status == "submitted"
    for n in (1, 2, 3):
        act = await engine.tick(NOW + timedelta(seconds=30 * n), {})
        assert act.sync is not None and act.sync.adopted == []
        assert engine.store.order(cid).status == "pending"  # type: ignore[union-attr]
    act = await engine.tick(NOW + timedelta(seconds=120), {})
    assert act.sync is not None and act.sync.adopted == []
    assert [p.position_id for p in act.sync.entries] == [sig.signal_id]
    assert_booked_from_signal(engine, fake, sig)


async def test_a_duplicate_not_visible_yet_stays_pending_and_is_booked_from_its_signal(
    fake: FakeBybit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng = build_engine(demo_settings(fake, tmp_path / "s", monkeypatch, timeout_s=0.25))
    try:
        await eng.start()
        sig = btc_signal(fake)
        cid = f"{sig.signal_id}-e"
        fake.fail("/v5/order/create", "timeout_after_apply")  # made, the answer lost
        fake.hide_order_link_id(cid, looks=4)  # Bybit's order views lag: two look-ups miss it
        intent = await execute(eng, sig)
        # sent again with the same id: Bybit says duplicate (110072), still shows nothing
        assert [r.body.get("orderLinkId") for r in fake.requests_to("/v5/order/create")] == [
            cid, cid]
        assert intent.status == "submitted"
        assert eng.store.order(cid).status == "pending"  # type: ignore[union-attr]
        report = await eng.broker.sync(NOW + timedelta(seconds=30))
        assert report.adopted == [] and [p.position_id for p in report.entries] == [
            sig.signal_id]
        assert_booked_from_signal(eng, fake, sig)
    finally:
        await eng.aclose()


# -- 2. exits: booked as soon as Bybit confirms them --


async def test_an_exit_is_booked_before_the_cancels_so_an_outage_cannot_lose_it(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    sig = btc_signal(fake)
    res = await engine.broker.open(sig, market=M, price=sig.entry, time=NOW)
    pid = res.position.position_id  # type: ignore[union-attr]
    fake.cancel_reduce_only_on_flat = False  # the stop and targets keep resting when flat
    fake.set_price(BTC, float(sig.entry) * 1.004)
    fake.fail("/v5/order/cancel", "503", times=None)
    act = await engine.close([BTC], now=NOW + timedelta(hours=1))
    exit_order = fake.order_by_link_id(f"{pid}-xmn")
    assert exit_order is not None and exit_order.status == "Filled"
    [(closed, fill)] = act.exits
    assert (fill.reason, fill.order_id) == ("manual", f"{pid}-xmn")
    assert fill.price == D(str(exit_order.avg_price))
    assert fill.fee == D(f"{exit_order.cum_exec_fee:.8f}")
    assert closed.status == "closed" and engine.store.position(pid).status == "closed"  # type: ignore[union-attr]
    assert len(resting(fake)) == 3  # the cancels failed

    fake.clear_faults()
    act2 = await engine.tick(NOW + timedelta(hours=1, seconds=30), {})
    assert act2.exits == []  # nothing booked twice, nothing "closed outside"
    assert resting(fake) == {}  # what rested for the closed position is cancelled on Bybit
    assert engine.store.orders(pid, active=True) == []
    assert [(f.reason, f.price) for f in engine.store.fills(pid) if f.kind == "exit"] == [
        ("manual", fill.price)]


async def test_sync_books_our_own_filled_exit_at_its_price_and_fee(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    """Killed right after Bybit confirmed a market exit, before its fill was written."""
    sig = btc_signal(fake)
    res = await engine.broker.open(sig, market=M, price=sig.entry, time=NOW)
    pos = res.position
    assert pos is not None
    fake.set_price(BTC, float(sig.entry) * 1.006)
    _, fill, order = await engine.broker._market_exit(  # type: ignore[attr-defined]
        pos, "stale_exit", NOW + timedelta(hours=48))  # sent and settled, not booked
    assert fill is not None and order.status == "filled"
    assert engine.store.position(pos.position_id).is_open  # type: ignore[union-attr]
    report = await engine.broker.sync(NOW + timedelta(hours=48, seconds=30))
    [(closed, booked)] = report.booked
    assert (booked.reason, booked.price, booked.fee) == ("stale_exit", order.average_price,
                                                         order.fee)
    assert booked.order_id == order.client_order_id and closed.status == "closed"
    assert not any("outside" in n for n in report.notes)


async def test_a_position_closed_on_bybit_is_booked_from_its_executions(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    sig = btc_signal(fake)
    res = await engine.broker.open(sig, market=M, price=sig.entry, time=NOW)
    pid = res.position.position_id  # type: ignore[union-attr]
    fake.cancel_reduce_only_on_flat = False
    fake.set_price(BTC, float(sig.entry) * 1.01)
    fake.inject_order(BTC, "Sell", 0.05, reduce_only=True)  # closed by hand on Bybit
    assert fake.position(BTC) is None
    execution = fake.executions[-1]
    report = await engine.broker.sync(NOW + timedelta(minutes=5))
    [(closed, fill)] = report.booked
    assert fill.reason == "manual" and closed.status == "closed"
    assert fill.price == D(str(execution.exec_price))
    assert fill.fee == D(f"{execution.exec_fee:.8f}")  # Bybit's fee, not zero
    assert fill.pnl == (fill.price - closed.entry_price) * D("0.050")
    assert resting(fake) == {}  # its stop and targets are cancelled on Bybit too
    assert engine.store.orders(pid, active=True) == []


async def test_the_rest_of_a_position_closed_by_its_stop_is_cancelled_on_bybit(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    sig = btc_signal(fake)
    res = await engine.broker.open(sig, market=M, price=sig.entry, time=NOW)
    pid = res.position.position_id  # type: ignore[union-attr]
    fake.cancel_reduce_only_on_flat = False
    fake.set_price(BTC, float(sig.stop_loss) - 50)  # the stop fills on the exchange
    assert fake.position(BTC) is None and set(resting(fake)) == {f"{pid}-t1", f"{pid}-t2"}
    report = await engine.broker.sync(NOW + timedelta(minutes=5))
    [(_, fill)] = report.booked
    assert fill.reason == "stop_loss"
    assert resting(fake) == {}
    assert engine.store.orders(pid, active=True) == []


# -- 3. a refused stop move --


async def test_a_refused_stop_move_keeps_book_and_exchange_equal_and_is_retried(
    engine: ExecutionEngine, fake: FakeBybit, caplog: pytest.LogCaptureFixture
) -> None:
    sig = btc_signal(fake)
    res = await engine.broker.open(sig, market=M, price=sig.entry, time=NOW)
    pid = res.position.position_id  # type: ignore[union-attr]
    fake.set_price(BTC, float(res.position.entry_price) * 1.026)  # type: ignore[union-attr]
    fake.reject_next_order(10001, "params error")  # the breakeven stop is refused
    with caplog.at_level(logging.ERROR, logger="sextant.execution.bybit"):
        await engine.tick(NOW + timedelta(minutes=1), {})
    assert any("refused the stop" in r.message for r in caplog.records)
    pos = engine.store.position(pid)
    assert pos is not None and pos.stop_loss == sig.stop_loss
    stops = {k: v for k, v in resting(fake).items() if "-s" in k}
    assert stops == {f"{pid}-sl": float(pos.stop_loss)}

    await engine.tick(NOW + timedelta(minutes=2), {})  # the next pass moves it
    pos = engine.store.position(pid)
    assert pos is not None and pos.stop_loss > pos.entry_price  # breakeven
    stops = {k: v for k, v in resting(fake).items() if "-s" in k}
    assert stops == {f"{pid}-s2": float(pos.stop_loss)}


async def test_a_refused_stop_placement_in_sync_is_reported(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    sig = btc_signal(fake)
    res = await engine.broker.open(sig, market=M, price=sig.entry, time=NOW)
    pid = res.position.position_id  # type: ignore[union-attr]
    with fake._lock:
        fake._cancel(fake.order_by_link_id(f"{pid}-sl"), "CancelByUser")  # type: ignore[arg-type]
    fake.reject_next_order(10001, "params error")
    report = await engine.broker.sync(NOW + timedelta(minutes=1))
    assert report.replaced == []
    assert any(f"{pid}: Bybit refused the stop" in n and "10001" in n for n in report.notes)
    report = await engine.broker.sync(NOW + timedelta(minutes=2))  # tried again
    assert [o.kind for o in report.replaced] == ["stop"] and report.notes == []


# -- 4. an outage right after the entry --


async def test_an_outage_while_placing_the_stop_keeps_the_entry_booked_and_announced(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    sig = btc_signal(fake)
    fake.fail("/v5/order/create", "503", times=None, skip=1)  # the entry passes, then 503
    intent = await execute(engine, sig)
    assert intent.status == "filled"
    [pos] = engine.store.open_positions()
    assert pos.position_id == sig.signal_id and fake.position(BTC) is not None
    assert resting(fake) == {}
    fake.clear_faults()
    act = await engine.tick(NOW + timedelta(seconds=30), {})
    assert act.sync is not None
    assert sorted(o.kind for o in act.sync.replaced) == ["stop", "tp1", "tp2"]
    assert_booked_from_signal(engine, fake, sig)


# -- 5. funding over more than Bybit's 7-day window --


async def test_funding_is_paged_through_every_7_day_window(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    fake.execution_window_ms = 7 * 86_400_000  # as Bybit serves /v5/execution/list
    sig = btc_signal(fake, stop="-30", tp1="40", tp2="60", leverage=2)
    res = await engine.broker.open(sig, market=M, price=sig.entry, time=NOW)
    assert res.status == "filled"
    fake.set_now(NOW + timedelta(days=10))
    charged = [e for e in fake.executions if e.exec_type == "Funding"]
    assert len(charged) >= 29  # 10 days of 8-hourly settlements
    report = await engine.broker.sync(NOW + timedelta(days=10))
    assert report.funding == len(charged)
    pos = engine.store.position(sig.signal_id)
    assert pos is not None and pos.is_open
    assert pos.funding_paid == sum((D(f"{e.exec_fee:.8f}") for e in charged), D(0))
    again = await engine.broker.sync(NOW + timedelta(days=10, minutes=1))
    assert again.funding == 0


# -- 9. one process talks to Bybit for a book --


def hold_lock(state: Path) -> subprocess.Popen[str]:
    """Another process holding the loop's lock, as a running `sextant loop` does."""
    state.mkdir(parents=True, exist_ok=True)
    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(state / LOCK_FILE)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "os.pwrite(fd, b'4242\\n', 0)\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


async def test_no_second_process_syncs_with_bybit_while_the_loop_holds_the_lock(
    fake: FakeBybit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = demo_settings(fake, tmp_path / "state", monkeypatch)
    holder = hold_lock(settings.state_dir)
    try:
        eng = build_engine(settings)
        fake.reset_requests()
        with pytest.raises(ExchangeBusy, match="pid 4242") as err:
            await eng.start()
        assert isinstance(err.value, ConfigError)  # the CLI prints it, no traceback
        await eng.aclose()
        assert fake.requests == []  # not one request: no sync beside the loop

        # `sextant close` refuses the same way (exit 2, a message, nothing sent)
        from cli.main import main

        monkeypatch.setenv("SEXTANT_MODE", "demo")
        monkeypatch.setenv("SEXTANT_STATE_DIR", str(settings.state_dir))
        monkeypatch.setenv("SEXTANT_MARKET__SOURCE", "bybit")
        monkeypatch.setenv("SEXTANT_MARKET__BASE_URL", fake.base_url)
        capsys.readouterr()
        assert await _in_thread(main, ["close", "--all"]) == 2
        assert "sextant loop (pid 4242) is running" in capsys.readouterr().err
        assert fake.requests_to("/v5/position/list") == []
    finally:
        holder.kill()
        holder.wait()

    # the loop's own process (it holds the lock itself) and a free lock both work
    with InstanceLock(settings.state_dir):
        eng = build_engine(settings)
        await eng.start()
        await eng.aclose()
    eng = build_engine(settings)
    await eng.start()
    try:  # while it runs, it is the one holding the lock
        code = hold_lock_probe(settings.state_dir)
        assert code == 1
    finally:
        await eng.aclose()
    assert hold_lock_probe(settings.state_dir) == 0  # released on aclose


def hold_lock_probe(state: Path) -> int:
    """1 when another process cannot take the lock now, 0 when it can."""
    code = (
        "import fcntl, os, sys\n"
        f"fd = os.open({str(state / LOCK_FILE)!r}, os.O_RDWR | os.O_CREAT)\n"
        "try:\n"
        "    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except OSError:\n"
        "    sys.exit(1)\n"
    )
    return subprocess.run([sys.executable, "-c", code], check=False).returncode


async def _in_thread(fn, *args):  # type: ignore[no-untyped-def]
    """Run a blocking CLI entry point (it calls asyncio.run) outside this event loop."""
    import asyncio

    return await asyncio.to_thread(fn, *args)
