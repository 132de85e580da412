"""Paper broker + engine with hand-computed fills, fees, funding, breaker and portfolio limits."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from execution.engine import ExecutionEngine
from execution.paper import PaperBroker
from execution.store import Store
from sextant.config import Settings, load_settings
from sextant.lifecycle import Bar
from sextant.models import NewsAssessment
from sextant.reasons import Code
from sextant.risk import decide
from tests.execution.helpers import D, bar, market, signal, snapshot
from tests.risk.builders import btc_market, inputs, uniform_analysis

pytestmark = pytest.mark.anyio
T0 = datetime(2025, 3, 3, 12, tzinfo=UTC)
H = timedelta(hours=1)
SYM = "TEST/USDT:USDT"


class FakeFeed:
    """Bars, last prices and funding given by the test."""

    def __init__(self) -> None:
        self.bars_by_symbol: dict[str, list[Bar]] = {}
        self.rates: dict[str, list[tuple[datetime, Decimal]]] = {}

    async def bars(self, symbols: Sequence[str], after: datetime, until: datetime):  # type: ignore[no-untyped-def]
        return {
            s: [b for b in self.bars_by_symbol.get(s, []) if b.time - H >= after
                and b.time <= until]
            for s in symbols
        }

    async def prices(self, symbols: Sequence[str], at: datetime) -> dict[str, Decimal]:
        out = {}
        for s in symbols:
            seen = [b for b in self.bars_by_symbol.get(s, []) if b.time <= at]
            if seen:
                out[s] = seen[-1].close
        return out

    async def funding(self, symbol: str, after: datetime, until: datetime):  # type: ignore[no-untyped-def]
        return [(t, r) for t, r in self.rates.get(symbol, []) if after < t <= until]

    async def close(self) -> None:
        return None


def make(tmp_path: Path, **kw) -> tuple[ExecutionEngine, FakeFeed]:  # type: ignore[no-untyped-def]
    settings: Settings = load_settings(state_dir=tmp_path / "state", **kw)
    store = Store.open(settings.state_dir)
    feed = FakeFeed()
    return ExecutionEngine(settings, store, PaperBroker(settings, store), feed), feed


def long_signal(symbol: str = SYM, as_of: datetime = T0, qty: str = "10"):  # type: ignore[no-untyped-def]
    return signal(symbol, "long", as_of, entry="100", stop="98", tp1="103", tp2="105", qty=qty)


async def enter(engine: ExecutionEngine, *sigs, as_of: datetime = T0, news=None):  # type: ignore[no-untyped-def]
    snaps = {s.symbol: snapshot(market(s.symbol), float(s.entry), as_of) for s in sigs}
    return await engine.execute(list(sigs), as_of=as_of, cycle_id="c", snapshots=snaps,
                                news=news)


async def test_paper_entry_fill_fee_and_resting_orders(tmp_path: Path) -> None:
    engine, _ = make(tmp_path)
    await engine.start()
    sig = long_signal()
    act = await enter(engine, sig)
    [pos] = engine.store.open_positions()
    # the ask 100 plus 0.05 % slippage on the 0.01 tick: 100.05; taker fee 0.055 % of 1000.5
    assert pos.entry_price == D("100.05") and pos.entry_fee == D("0.5502750")
    assert act.intents[0].status == "filled" and act.intents[0].entry == D("100.05")
    orders = {o.client_order_id: o for o in engine.store.orders(pos.position_id)}
    pid = sig.signal_id
    assert (orders[f"{pid}-e"].status, orders[f"{pid}-e"].average_price) == ("filled", D("100.05"))
    assert {k: (o.status, o.quantity, o.trigger_price) for k, o in orders.items()
            if o.kind != "entry"} == {
        f"{pid}-sl": ("open", D("10"), D("98")),
        f"{pid}-t1": ("open", D("5.0"), D("103")),
        f"{pid}-t2": ("open", D("5.0"), D("105")),
    }
    # the same signal again (a repeated cycle) opens nothing more
    again = await enter(engine, sig)
    assert again.intents[0].status == "filled" and len(engine.store.positions()) == 1
    assert len(engine.store.fills()) == 1


async def test_tp1_then_trailing_stop_fees_and_equity_by_hand(tmp_path: Path) -> None:
    engine, feed = make(tmp_path)
    await engine.start()
    sig = long_signal()
    await enter(engine, sig)
    feed.bars_by_symbol[SYM] = [
        bar(T0 + H, "100.5", "103.2", "100.2", "102.8"),  # TP1 5 @ 103; stop trails to 101.13
        bar(T0 + 2 * H, "102.8", "102.9", "101.0", "101.2"),  # low 101.0 crosses 101.13
    ]
    act = await engine.advance(T0 + 2 * H)
    assert [(f.reason, f.quantity, f.price, f.fee) for f in act.fills] == [
        # TP1 is a conditional market order (as on Bybit): triggered at 103, it fills at
        # 103 x (1 - 0.05 %) = 102.9485 -> 102.94 (floor); taker 0.055 % of 5 x 102.94 = 0.283085
        ("tp1", D("5.0"), D("102.94"), D("0.283085")),
        # the stop fills at market: 101.13 x (1 - 0.05 %) = 101.079435 -> 101.07 (floor);
        # taker 0.055 % of 5 x 101.07 = 0.2779425
        ("trailing_stop", D("5.0"), D("101.07"), D("0.27794250")),
    ]
    [closed] = engine.store.positions()
    assert closed.status == "closed" and closed.exit_reason == "trailing_stop"
    # realised (102.94 - 100.05) x 5 + (101.07 - 100.05) x 5 = 14.45 + 5.10 = 19.55
    assert closed.realized_pnl == D("19.55")
    assert closed.fees_paid == D("1.1113025")  # 0.550275 + 0.283085 + 0.2779425
    assert engine.equity() == D("10018.4386975")  # 10000 + 19.55 - 1.1113025
    states = {o.client_order_id.rsplit("-", 1)[1]: o.status
              for o in engine.store.orders(sig.signal_id)}
    assert states == {"e": "filled", "t1": "filled", "sl": "cancelled", "s1": "filled",
                      "t2": "cancelled"}
    # every exit is an ExitEvent for the broadcaster, with R and net PnL %
    # R: the risk of 5 units at entry is |100.05 - 98| x 5 = 10.25
    assert [e.r_multiple for e in act.exit_events] == [D("1.4098"), D("0.4976")]  # 14.45, 5.10
    # net % of the 5 units' entry notional 500.25: (14.45 - 0.283085 - 0.2751375) / 500.25
    # = 13.8917775 / 500.25 = 2.77697 %
    assert act.exit_events[0].pnl_pct == D("2.7770")


async def test_funding_every_8h_once(tmp_path: Path) -> None:
    engine, feed = make(tmp_path)
    await engine.start()
    await enter(engine, long_signal())
    feed.bars_by_symbol[SYM] = [
        bar(T0 + k * H, "100.1", "101.2", "99.9", "100.5" if k < 4 else "101.0")
        for k in range(1, 6)
    ]
    feed.rates[SYM] = [(T0 + 4 * H, D("0.0001"))]  # the 16:00 UTC settlement
    act = await engine.advance(T0 + 5 * H)
    [pay] = engine.store.funding()
    # 10 units x the 16:00 close 101.0 x 0.01 %: a long pays 0.101
    assert (pay.time, pay.mark_price, pay.amount) == (T0 + 4 * H, D("101.0"), D("0.1010"))
    assert act.funding == 1
    await engine.advance(T0 + 5 * H)  # again: nothing is charged twice
    assert len(engine.store.funding()) == 1
    [pos] = engine.store.open_positions()
    assert pos.funding_paid == D("0.1010")


async def test_circuit_breaker_trips_blocks_entries_and_can_close_all(tmp_path: Path) -> None:
    engine, feed = make(tmp_path, execution={"close_all_on_circuit_breaker": True})
    await engine.start()
    await engine.advance(T0)  # the day's first look: it starts at 10000
    a = signal(SYM, "long", T0, entry="100", stop="90", tp1="115", tp2="125", qty="100")
    b = signal("TWO/USDT:USDT", "long", T0, entry="100", stop="90", tp1="115", tp2="125",
               qty="100")
    await enter(engine, a, b)
    for s in (SYM, "TWO/USDT:USDT"):
        feed.bars_by_symbol[s] = [bar(T0 + H, "100", "100.2", "97.4", "97.5")]
    act = await engine.advance(T0 + H)
    # equity: 10000 - 2 x 5.50275 (entry fees) + 2 x (97.5 - 100.05) x 100 = 9478.9945,
    # -5.21 % of the day's 10000 <= -5 %: no entries until the next UTC day
    assert act.tripped == datetime(2025, 3, 4, tzinfo=UTC)
    day = engine.store.day(T0.date())
    assert day is not None and day.breaker_pnl_pct == D("-5.2101")
    # close-all: both closed at 97.5 less 0.05 % slippage, floored: 97.45
    assert sorted((f.reason, f.price) for f in act.fills) == [
        ("circuit_breaker", D("97.45")), ("circuit_breaker", D("97.45"))]
    pf = engine.portfolio_at(T0 + 2 * H)
    assert pf.circuit_breaker_until == datetime(2025, 3, 4, tzinfo=UTC)
    cand = inputs(btc_market(), uniform_analysis("BTC/USDT:USDT", 0.9, atr_pct=2.5),
                  bid=80000.0, ask=80000.1)
    [sig] = decide([cand], btc_change_4h_pct=0.0, portfolio=pf, settings=engine.settings)
    assert sig.decision == "WAIT" and sig.reasons[0].code == Code.CIRCUIT_BREAKER
    assert engine.portfolio_at(datetime(2025, 3, 4, tzinfo=UTC)).circuit_breaker_until is None


async def test_portfolio_limits_through_the_risk_manager_with_the_real_book(
    tmp_path: Path,
) -> None:
    engine, _ = make(tmp_path)
    await engine.start()
    btc = signal("BTC/USDT:USDT", "long", T0, entry="80000", stop="78000", tp1="83000",
                 tp2="85000", qty="0.01")
    eth = signal("ETH/USDT:USDT", "long", T0, entry="2000", stop="1950", tp1="2075",
                 tp2="2125", qty="1")
    await enter(engine, btc, eth)
    later = T0 + H
    # the cycle that opened them does not see them (it is redone identically after a crash)
    assert engine.portfolio_at(T0).open_symbols == ()
    pf = engine.portfolio_at(later)
    assert pf.open_symbols == ("BTC/USDT:USDT", "ETH/USDT:USDT")
    # margin: 80040 x 0.01 / 5 + 2001 x 1 / 5 = 160.08 + 400.2
    assert pf.margin_used == D("560.28")
    # equity: 10000 - fees 0.440220 - 1.100550
    assert pf.equity == D("9998.459230") and pf.day_pnl == D("0")

    from tests.risk.builders import generic_market

    def cand(symbol: str, score: float):  # type: ignore[no-untyped-def]
        m = btc_market() if symbol.startswith("BTC") else generic_market(symbol)
        return inputs(m, uniform_analysis(symbol, score, atr_pct=2.5), bid=50.0, ask=50.01,
                      as_of=later)

    out = {s.symbol: s for s in decide(
        [cand("BTC/USDT:USDT", 0.9), cand("SOL/USDT:USDT", 0.8), cand("XRP/USDT:USDT", 0.7),
         cand("LTC/USDT:USDT", 0.6)],
        btc_change_4h_pct=0.0, portfolio=pf, settings=engine.settings)}
    assert out["BTC/USDT:USDT"].reasons[0].code == Code.POSITION_OPEN  # one per symbol
    assert out["SOL/USDT:USDT"].reasons[0].code == Code.CORRELATION_LIMIT  # layer1 has ETH
    assert out["XRP/USDT:USDT"].decision == "LONG"  # the third slot
    assert out["LTC/USDT:USDT"].reasons[0].code == Code.MAX_POSITIONS  # 3 taken


async def test_news_panic_closes_open_longs_on_that_coin(tmp_path: Path) -> None:
    engine, _ = make(tmp_path)
    await engine.start()
    two = "TWO/USDT:USDT"
    await enter(engine, long_signal(),
                signal(two, "short", T0, entry="100", stop="102", tp1="97", tp2="95", qty="10"))
    panic = {s: NewsAssessment(symbol=s, available=True, score=-0.9, close_longs=True)
             for s in (SYM, two)}
    snaps = {s: snapshot(market(s), 99.0, T0 + H) for s in (SYM, two)}
    act = await engine.execute([], as_of=T0 + H, cycle_id="c2", snapshots=snaps, news=panic)
    # the long is closed at the bid 99 less slippage (98.9505 -> 98.95); the short stays
    assert [(f.symbol, f.reason, f.price) for f in act.fills] == [(SYM, "news_panic", D("98.95"))]
    assert [p.symbol for p in engine.store.open_positions()] == [two]


async def test_manual_close(tmp_path: Path) -> None:
    engine, feed = make(tmp_path)
    await engine.start()
    await enter(engine, long_signal())
    feed.bars_by_symbol[SYM] = [bar(T0 + H, "100.1", "101", "100", "100.8")]
    act = await engine.close([SYM], now=T0 + H)
    # market at the last price 100.8 less slippage: 100.7496 -> 100.74
    assert [(f.reason, f.price) for f in act.fills] == [("manual", D("100.74"))]
    assert engine.store.open_positions() == []
    assert (await engine.close(None, now=T0 + 2 * H)).exits == []


async def test_ticks_between_cycles_do_not_make_the_next_cycle_stale(tmp_path: Path) -> None:
    engine, feed = make(tmp_path)
    await engine.start()
    await enter(engine, long_signal())
    feed.bars_by_symbol[SYM] = [bar(T0 + H, "100.1", "100.6", "99.9", "100.4")]
    for minutes in (30, 60, 90):  # the live monitor, every 30 s in real life
        await engine.tick(T0 + timedelta(minutes=minutes), {})
    later = signal("TWO/USDT:USDT", "long", T0 + H, entry="50", stop="49", tp1="51.5",
                   tp2="52.5", qty="10")
    act = await enter(engine, later, as_of=T0 + H)  # the 13:00 cycle, run at 13:00:20
    assert act.intents[0].status == "filled"
    # a cycle older than the book (e.g. `run --once --as-of` in the past) only records
    old = signal("OLD/USDT:USDT", "long", T0 - H, entry="50", stop="49", tp1="51.5",
                 tp2="52.5", qty="10")
    stale = await enter(engine, old, as_of=T0 - H)
    assert stale.intents[0].status == "skipped"
    assert stale.intents[0].reasons[0].code == "as_of_before_book"


async def test_the_bots_status_reads_the_live_book(tmp_path: Path) -> None:
    from execution.report import status_provider

    engine, _ = make(tmp_path)
    await engine.start()
    await enter(engine, long_signal())
    doc = await status_provider(engine)()
    assert doc["schema"] == "sextant.status/1" and doc["mode"] == "dry_run"
    [p] = doc["positions"]
    assert (p["symbol"], p["side"], p["entry"], p["quantity"]) == (SYM, "long", 100.05, 10.0)
    assert doc["equity"] == 9999.4497  # 10000 - the 0.550275 entry fee, to 4 decimals
