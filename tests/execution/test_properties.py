"""Invariants under random prices and signals (hypothesis).

- the stop never loosens and the size never grows after entry (pure lifecycle);
- exposure never exceeds the limits (max positions, correlation groups, one per symbol, margin)
  when the Risk Manager decides with the engine's real book;
- realised PnL + fees + funding reconcile with the equity change, and the per-position
  ledger agrees with the fills and funding tables.
"""

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execution.engine import ExecutionEngine
from execution.paper import PaperBroker
from execution.store import Store
from sextant.config import load_settings
from sextant.lifecycle import Bar, apply_exit, step
from sextant.risk import decide
from tests.execution.helpers import es, pos
from tests.execution.test_paper_engine import FakeFeed
from tests.risk.builders import btc_market, doge_market, generic_market, inputs, uniform_analysis

D = Decimal
T0 = datetime(2025, 3, 3, 0, tzinfo=UTC)
H = timedelta(hours=1)
S = es()


def _bar(t: datetime, prev: Decimal, close: Decimal, up: Decimal, down: Decimal) -> Bar:
    return Bar(time=t, open=prev, high=max(prev, close) + up, low=max(min(prev, close) - down,
               D("0.01")), close=close)


moves = st.lists(
    st.tuples(
        st.integers(-300, 300),  # close-to-close move in basis points
        st.integers(0, 150),  # wick above, bp
        st.integers(0, 150),  # wick below, bp
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(
    side=st.sampled_from(["long", "short"]),
    stop_bp=st.integers(150, 500),
    qty_lots=st.integers(1, 400),
    path=moves,
    news_at=st.one_of(st.none(), st.integers(0, 79)),
)
def test_stop_never_loosens_and_size_never_grows(
    side: str, stop_bp: int, qty_lots: int, path: list[tuple[int, int, int]], news_at: int | None
) -> None:
    sign = 1 if side == "long" else -1
    r = D(stop_bp) / 100  # stop distance in price units at entry 100
    p = pos(side, "100", str(100 - sign * r), str(100 + sign * r * D("1.5")),
            str(100 + sign * r * D("2.5")), str(D(qty_lots) / 10))
    initial, price, t = p.quantity, D(100), T0
    exited = D(0)
    for i, (mv, up, down) in enumerate(path):
        t += H
        close = max(price * (1 + D(mv) / 10000), D("0.01")).quantize(D("0.01"))
        b = _bar(t, price, close, (close * up / 10000).quantize(D("0.01")),
                 (close * down / 10000).quantize(D("0.01")))
        res = step(p, b, S, close_for_news=news_at == i)
        new = res.position
        # the stop only ever moves in the position's favour
        assert (new.stop_loss >= p.stop_loss) if side == "long" else (new.stop_loss <= p.stop_loss)
        for ex in res.exits:
            assert 0 < ex.quantity <= new.quantity
            new, fill = apply_exit(new, reason=ex.reason, quantity=ex.quantity, price=ex.price,
                                   fee=D(0), time=t)
            exited += fill.quantity
        assert new.quantity <= p.quantity and new.quantity >= 0  # never grows
        assert new.quantity + exited == initial
        if not p.is_open:
            assert new == p  # closed stays closed
        p, price = new, close


POOL = {
    "BTC/USDT:USDT": (btc_market(), D("80000")),
    "ETH/USDT:USDT": (generic_market("ETH/USDT:USDT"), D("2000")),
    "SOL/USDT:USDT": (generic_market("SOL/USDT:USDT"), D("150")),
    "DOGE/USDT:USDT": (doge_market(), D("0.2")),
    "XRP/USDT:USDT": (generic_market("XRP/USDT:USDT"), D("2.5")),
    "LTC/USDT:USDT": (generic_market("LTC/USDT:USDT"), D("90")),
}
hours = st.lists(
    st.tuples(
        st.lists(st.floats(-0.95, 0.95), min_size=len(POOL), max_size=len(POOL)),  # scores
        st.lists(st.integers(-400, 400), min_size=len(POOL), max_size=len(POOL)),  # moves bp
    ),
    min_size=2,
    max_size=14,
)


async def _simulate(
    state: Path, plan: list[tuple[list[float], list[int]]], rate_bp: int
) -> ExecutionEngine:
    settings_ = load_settings(state_dir=state)
    store = Store.open(state)
    feed = FakeFeed()
    engine = ExecutionEngine(settings_, store, PaperBroker(settings_, store), feed)
    await engine.start()
    prices = {s: p for s, (_, p) in POOL.items()}
    rs = settings_.risk
    for k, (scores, mvs) in enumerate(plan):
        t = T0 + k * H
        for (sym, (m, _)), mv in zip(POOL.items(), mvs, strict=True):
            close = (prices[sym] * (1 + D(mv) / 10000)).quantize(m.price_tick)
            close = max(close, m.price_tick * 10)
            b = _bar(t, prices[sym], close, m.price_tick * 3, m.price_tick * 3)
            if k:
                feed.bars_by_symbol.setdefault(sym, []).append(b)
            prices[sym] = close
            if t.hour % 8 == 0 and k:
                feed.rates.setdefault(sym, []).append((t, D(rate_bp) / 100000))
        await engine.advance(t)
        book = engine.portfolio_at(t)
        cands = [
            inputs(m, uniform_analysis(sym, sc, atr_pct=2.5), bid=float(prices[sym]),
                   ask=float(prices[sym]), as_of=t)
            for (sym, (m, _)), sc in zip(POOL.items(), scores, strict=True)
        ]
        signals = decide(cands, btc_change_4h_pct=0.0, portfolio=book, settings=settings_)
        await engine.execute(signals, as_of=t, cycle_id=f"c{k}",
                             snapshots={c.snapshot.symbol: c.snapshot for c in cands})
        # -- exposure within the limits, after every hour --
        open_ = engine.store.open_positions()
        assert len(open_) <= rs.max_open_positions
        syms = [p.symbol for p in open_]
        assert len(syms) == len(set(syms))  # one per symbol
        groups = [rs.group_of(s) for s in syms if rs.group_of(s)]
        assert all(groups.count(g) <= rs.max_per_group for g in groups)
        after = engine.portfolio_at(t + H)
        assert after.margin_used <= after.equity
    return engine


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=hours, rate_bp=st.integers(-30, 30))
def test_exposure_limits_and_pnl_reconciliation(
    plan: list[tuple[list[float], list[int]]], rate_bp: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = asyncio.run(_simulate(Path(tmp), plan, rate_bp))
        store = engine.store
        positions = store.positions()
        fills, funding = store.fills(), store.funding()
        # the per-position ledger (model arithmetic) agrees with the tables (booked rows)
        for p in positions:
            mine = [f for f in fills if f.position_id == p.position_id]
            assert sum((f.pnl for f in mine), D(0)) == p.realized_pnl
            assert sum((f.fee for f in mine), D(0)) == p.fees_paid
            assert sum((f.amount for f in funding if f.position_id == p.position_id),
                       D(0)) == p.funding_paid
            entry = [f for f in mine if f.kind == "entry"]
            assert len(entry) == 1 and entry[0].quantity == p.initial_quantity
            assert sum((f.quantity for f in mine if f.kind == "exit"), D(0)) + p.quantity == \
                p.initial_quantity
        # realised PnL - fees - funding + open PnL = the equity change, to the last decimal
        pnl, fees, fund = store.realized_totals()
        unrealized = sum((p.unrealized_pnl() for p in positions if p.is_open), D(0))
        change = engine.equity() - engine.starting_equity()
        assert change == pnl - fees - fund + unrealized
        assert change == sum((p.net_pnl for p in positions), D(0)) + unrealized
        store.close()
