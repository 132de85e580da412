"""The Bybit broker through real ccxt against the local Bybit v5 server (tests/fakes).

Market data: the bundled real BTC/ETH candles and funding. Orders, positions, leverage and
margin mode are the fake's account engine; every request is signed by ccxt (any signature
is accepted).
"""

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from execution.bybit import BybitBroker
from execution.engine import ExecutionEngine
from execution.store import Store
from runtime.factory import build_engine, check_mode
from sextant.config import ConfigError, load_settings
from sextant.config.market import BUNDLED_DATA_DIR
from sextant.positions import OrderRecord
from tests.execution.helpers import demo_settings, market, signal, snapshot
from tests.fakes.bybit_v5 import FakeBybit, load_bundled_frames

pytestmark = pytest.mark.anyio
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
NOW = datetime(2025, 4, 7, 15, tzinfo=UTC)
D = Decimal


@pytest.fixture(scope="module")
def frames():  # type: ignore[no-untyped-def]
    return load_bundled_frames(BUNDLED_DATA_DIR, [BTC, ETH], "2025-03-20", "2025-04-12")


@pytest.fixture
def fake(frames) -> Iterator[FakeBybit]:  # type: ignore[no-untyped-def]
    with FakeBybit(**frames._asdict(), now_ms=NOW, timeout_hold_s=0.5) as server:
        yield server


@pytest.fixture
async def engine(fake: FakeBybit, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ExecutionEngine]:
    eng = build_engine(demo_settings(fake, tmp_path / "state", monkeypatch))
    await eng.start()
    yield eng
    await eng.aclose()


def btc_signal(fake: FakeBybit, qty: str = "0.05", side: str = "long"):  # type: ignore[no-untyped-def]
    price = D(str(fake.price(BTC)))
    sign = 1 if side == "long" else -1
    lvl = lambda pct: str((price * (1 + sign * D(pct) / 100)).quantize(D("0.1")))  # noqa: E731
    return signal(BTC, side, NOW, entry=str(price), stop=lvl("-3"), tp1=lvl("4.5"),
                  tp2=lvl("7.5"), qty=qty, leverage=5)


async def open_btc(engine: ExecutionEngine, fake: FakeBybit, qty: str = "0.05"):  # type: ignore[no-untyped-def]
    sig = btc_signal(fake, qty)
    m = market(BTC, "0.1", "0.001")
    return sig, await engine.broker.open(sig, market=m, price=sig.entry, time=NOW)


def link_ids(fake: FakeBybit) -> set[str]:
    return {o.order_link_id for o in fake.open_orders()}


async def test_entry_isolated_leverage_and_three_resting_reduce_only_orders(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    sig, res = await open_btc(engine, fake)
    assert res.status == "filled" and res.position is not None
    assert fake.margin_mode == "ISOLATED_MARGIN"
    assert fake.positions[BTC].leverage == 5
    ex = fake.position(BTC)
    assert ex is not None and ex.size == 0.05 and ex.side == "Buy"
    pid = sig.signal_id
    resting = {o.order_link_id: o for o in fake.open_orders(BTC)}
    assert set(resting) == {f"{pid}-sl", f"{pid}-t1", f"{pid}-t2"}
    assert all(o.reduce_only and o.status == "Untriggered" for o in resting.values())
    assert resting[f"{pid}-sl"].trigger_price == float(sig.stop_loss)
    assert resting[f"{pid}-sl"].trigger_direction == 2  # a long's stop triggers on a fall
    assert resting[f"{pid}-t1"].trigger_price == float(sig.take_profit_1)
    assert resting[f"{pid}-t1"].trigger_direction == 1
    assert (resting[f"{pid}-t1"].qty, resting[f"{pid}-t2"].qty) == (0.025, 0.025)
    pos = res.position
    assert pos.entry_price == D(str(ex.avg_price)) and pos.quantity == D("0.050")
    # the entry fee is Bybit's, as booked: 0.05 x price x 0.055 %
    assert pos.entry_fee == D(f"{0.05 * ex.avg_price * 0.00055:.8f}")

    # a repeated submission of the same signal cannot open twice
    again = await engine.broker.open(sig, market=market(BTC, "0.1", "0.001"), price=sig.entry,
                                     time=NOW)
    assert again.status == "exists" and fake.position(BTC).size == 0.05
    creates = [r for r in fake.requests_to("/v5/order/create")
               if r.body.get("orderLinkId") == f"{pid}-e"]
    assert len(creates) == 1


async def test_a_rejected_order_opens_nothing(engine: ExecutionEngine, fake: FakeBybit) -> None:
    fake.reject_next_order()  # 110007 "ab not enough for new order"
    sig, res = await open_btc(engine, fake)
    assert res.status == "rejected" and "110007" in res.error
    assert fake.position(BTC) is None and fake.open_orders() == []
    assert engine.store.open_positions() == []
    order = engine.store.order(f"{sig.signal_id}-e")
    assert order is not None and order.status == "rejected"


async def test_a_partial_fill_is_booked_and_protected_as_filled(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    fake.partial_fill_next_order(0.5)
    sig, res = await open_btc(engine, fake, qty="0.050")
    assert res.status == "partially_filled" and res.position is not None
    assert res.position.quantity == D("0.025") == D(str(fake.position(BTC).size))
    resting = {o.order_link_id: o.qty for o in fake.open_orders(BTC)}
    pid = sig.signal_id
    # stop covers what filled; TP1 half of it on the 0.001 grid (0.0125 -> 0.012), TP2 the rest
    assert resting == {f"{pid}-sl": 0.025, f"{pid}-t1": 0.012, f"{pid}-t2": 0.013}
    assert engine.store.order(f"{pid}-e").status == "partially_filled"  # type: ignore[union-attr]


async def test_a_timeout_on_order_creation_does_not_double_submit(
    fake: FakeBybit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng = build_engine(demo_settings(fake, tmp_path / "s", monkeypatch, timeout_s=0.25))
    try:
        await eng.start()
        fake.fail("/v5/order/create", "timeout_after_apply")  # created, then the answer is lost
        sig, res = await open_btc(eng, fake)
        assert res.status == "filled" and fake.position(BTC).size == 0.05
        entry = f"{sig.signal_id}-e"
        sent = [r for r in fake.requests_to("/v5/order/create")
                if r.body.get("orderLinkId") == entry]
        assert len(sent) == 1  # asked Bybit by orderLinkId instead of sending again
        asked = [r for r in fake.requests_to("/v5/order/realtime")
                 if r.query.get("orderLinkId") == entry]
        assert asked
        assert [o.order_link_id for o in fake.orders.values()].count(entry) == 1

        # a timeout where the order never arrived: asked, not found, sent again (same id)
        fake.fail("/v5/order/create", "timeout")
        sig2 = btc_signal(fake, "0.02", side="long").model_copy(
            update={"signal_id": "sx-25040716-BTC-L", "symbol": BTC})
        res2 = await eng.broker.open(sig2, market=market(BTC, "0.1", "0.001"), price=sig2.entry,
                                     time=NOW + timedelta(hours=1))
        assert res2.status == "filled"
        sent2 = [r for r in fake.requests_to("/v5/order/create")
                 if r.body.get("orderLinkId") == "sx-25040716-BTC-L-e"]
        assert len(sent2) == 2
        assert [o.order_link_id for o in fake.orders.values()].count("sx-25040716-BTC-L-e") == 1
    finally:
        await eng.aclose()


async def test_restart_reconciliation(
    fake: FakeBybit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = demo_settings(fake, tmp_path / "state", monkeypatch)
    first = build_engine(settings)
    await first.start()
    sig, res = await open_btc(first, fake)
    await first.aclose()
    pid = sig.signal_id
    assert res.position is not None

    # --- while Sextant is down ---
    # 1. its stop disappears (cancelled by hand in the exchange's UI)
    stop = fake.order_by_link_id(f"{pid}-sl")
    with fake._lock:
        fake._cancel(stop, "CancelByUser")
    # 2. someone opens an ETH position Sextant does not know
    fake.inject_position(ETH, "long", 0.5, 1500.0, leverage=3)
    # 3. the price runs through TP1: the exchange closes half
    fake.set_price(BTC, float(sig.take_profit_1) + 50)
    tp1 = fake.order_by_link_id(f"{pid}-t1")
    assert tp1.status == "Filled"

    # --- restart ---
    second = build_engine(settings)
    report = await second.start()
    try:
        # the TP1 fill is booked at the exchange's price and fee
        [(after, fill)] = report.booked
        assert (fill.reason, fill.quantity) == ("tp1", D("0.025"))
        assert fill.price == D(str(tp1.avg_price))
        assert fill.fee == D(f"{tp1.cum_exec_fee:.8f}")  # Bybit sends fees with 8 decimals
        assert after.tp1_done and after.quantity == D("0.025")
        # the missing stop is placed again, for what is left
        replaced = {o.client_order_id: o for o in report.replaced}
        assert f"{pid}-s1" in replaced and replaced[f"{pid}-s1"].quantity == D("0.025")
        assert f"{pid}-s1" in link_ids(fake)
        # the unknown ETH position is adopted, reported, and gets a stop 5 % away
        [adopted] = report.adopted
        assert (adopted.symbol, adopted.side, adopted.quantity) == (ETH, "long", D("0.5"))
        assert adopted.origin == "adopted" and adopted.stop_loss == D("1425.00")
        eth_orders = {o.order_link_id: o for o in fake.open_orders(ETH)}
        assert eth_orders[f"{adopted.position_id}-sl"].trigger_price == 1425.0
        assert {o.symbol for o in second.store.open_positions()} == {BTC, ETH}
        # a second sync finds nothing more to do
        again = await second.broker.sync(NOW)
        assert again.empty
        # realised PnL - fees booked by Sextant = the exchange wallet's change
        pnl, fees, funding = second.store.realized_totals()
        assert float(pnl - fees - funding) == pytest.approx(fake.wallet_balance - 10_000, abs=1e-6)
    finally:
        await second.aclose()


async def test_a_stop_filled_while_down_closes_the_position(
    fake: FakeBybit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = demo_settings(fake, tmp_path / "state", monkeypatch)
    first = build_engine(settings)
    await first.start()
    sig, _ = await open_btc(first, fake)
    await first.aclose()
    fake.set_price(BTC, float(sig.stop_loss) - 100)  # gaps through the stop
    second = build_engine(settings)
    report = await second.start()
    try:
        [(closed, fill)] = report.booked
        assert fill.reason == "stop_loss" and closed.status == "closed"
        assert second.store.open_positions() == []
        assert second.store.orders(sig.signal_id, active=True) == []
        assert fake.position(BTC) is None and fake.open_orders() == []
    finally:
        await second.aclose()


async def test_an_entry_filled_while_down_is_booked_and_protected(
    fake: FakeBybit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the order went out and before the answer was booked."""
    settings = demo_settings(fake, tmp_path / "state", monkeypatch)
    sig = btc_signal(fake)
    store = Store.open(settings.state_dir)
    with store.tx() as tx:
        tx.put_signal(sig, "c-x", "recorded")
        tx.put_order(OrderRecord(
            client_order_id=f"{sig.signal_id}-e", position_id=sig.signal_id, symbol=BTC,
            side="buy", kind="entry", quantity=D("0.05"), mode="demo", created_at=NOW,
            updated_at=NOW,
        ))
    fake.inject_order(BTC, "Buy", 0.05, order_link_id=f"{sig.signal_id}-e")  # it did arrive
    eng = build_engine(settings, store=store)
    report = await eng.start()
    try:
        assert [o.status for o in report.resolved] == ["filled"]
        assert report.adopted == []  # known through its order, not adopted
        [pos] = eng.store.open_positions()
        assert pos.position_id == sig.signal_id and pos.quantity == D("0.050")
        assert len(link_ids(fake)) == 3
    finally:
        await eng.aclose()


async def test_trailing_moves_the_exchange_stop_new_first(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    sig, _ = await open_btc(engine, fake)
    pid = sig.signal_id
    fake.set_price(BTC, float(sig.take_profit_1) + 10)  # TP1 fills on the exchange
    act = await engine.tick(NOW + timedelta(minutes=1), {})
    assert [f.reason for f in act.fills] == ["tp1"]
    [pos] = engine.store.open_positions()
    # trail 2 % under the best tick price, floored to the 0.1 tick
    best = D(str(fake.price(BTC)))
    assert pos.stop_loss == ((best * D("0.98")) / D("0.1")).to_integral_value(
        rounding="ROUND_FLOOR") * D("0.1")
    assert link_ids(fake) == {f"{pid}-t2", f"{pid}-s1"}
    assert fake.order_by_link_id(f"{pid}-sl").status == "Deactivated"


def test_live_needs_explicit_env_and_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYBIT_API_KEY", "k")
    monkeypatch.setenv("BYBIT_API_SECRET", "s")
    live = load_settings(mode="live", market={"source": "bybit"})
    with pytest.raises(ConfigError, match="SEXTANT_MODE=live"):
        check_mode(live, environ={})
    check_mode(live, environ={"SEXTANT_MODE": "live"})
    monkeypatch.delenv("BYBIT_API_SECRET")
    with pytest.raises(ConfigError, match="BYBIT_API_SECRET"):
        load_settings(mode="live", market={"source": "bybit"})


def test_the_broker_is_chosen_by_mode(tmp_path: Path, fake: FakeBybit,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert type(build_engine(load_settings(state_dir=tmp_path)).broker).__name__ == "PaperBroker"
    assert isinstance(build_engine(demo_settings(fake, tmp_path / "d", monkeypatch)).broker,
                      BybitBroker)


async def test_an_outage_leaves_a_pending_entry_that_the_next_sync_settles(
    engine: ExecutionEngine, fake: FakeBybit
) -> None:
    sig = btc_signal(fake)
    fake.fail("/v5/order", "503", times=None)  # create and every order query: 503
    act = await engine.execute(
        [sig], as_of=NOW, cycle_id="c",
        snapshots={BTC: snapshot(market(BTC, "0.1", "0.001"), float(sig.entry), NOW)},
    )
    assert act.intents[0].status == "skipped"
    assert act.intents[0].reasons[0].code == "exchange_unavailable"
    assert engine.store.order(f"{sig.signal_id}-e").status == "pending"  # type: ignore[union-attr]
    fake.clear_faults()
    passes = engine.settings.execution.order_lookup_passes
    for n in range(1, passes + 1):  # Bybit's views may lag: looked up again on each pass
        await engine.tick(NOW + timedelta(seconds=30 * n), {})
        settled = engine.store.order(f"{sig.signal_id}-e")
        assert settled is not None
        assert settled.status == ("pending" if n < passes else "cancelled"), n
    assert engine.store.open_positions() == [] and fake.position(BTC) is None  # never arrived
