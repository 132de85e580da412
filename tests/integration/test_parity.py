"""One account core: the paper loop and the backtest over the same replayed hours agree.

The paper side is the real `sextant loop --replay-from ... --speed max` in process (the
graph every hour, the paper broker, the store); the backtest side is the backtester with
`fills="quote"`, i.e. the paper broker's reference prices (an entry at the quote its signal
carries, funding marked at the last close). Both books then hold the same fills (time, reason,
quantity, price, fee, PnL), the same funding per position and the same equity.

With its default `fills="next_open"` the backtest differs from paper in exactly one thing: the
reference price of what is decided at T (an entry fills at the open of the bar starting at T,
without the assumed spread; funding is marked at that open). The second test pins that down:
the same decisions and exits, only the entry prices (and what follows from them) move.
"""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from backtest.engine import Backtest, BacktestRequest, BacktestResult
from execution.engine import book_equity
from execution.store import Store
from runtime.loop import ReplayWindow, serve
from sextant.config import Settings, load_settings
from sextant.positions import Fill

H = timedelta(hours=1)
START = datetime(2025, 4, 7, tzinfo=UTC)
END = datetime(2025, 4, 8, 11, tzinfo=UTC)  # the loop's last cycle
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "DOGE/USDT:USDT")


def fill_key(f: Fill) -> tuple[Any, ...]:
    return (f.time, f.position_id, f.kind, f.reason, f.quantity, f.price, f.fee, f.pnl)


def paper_loop(settings: Settings, start: datetime = START, end: datetime = END) -> Store:
    asyncio.run(serve(settings, ReplayWindow(start, end), quiet=True))
    return Store.open(settings.state_dir)


def backtest(
    settings: Settings, fills: str, start: datetime = START, end: datetime = END
) -> BacktestResult:
    # The loop decides at `start`; the backtest's first decision is at the close of its first
    # bar, and entries decided at `end` fill at the open of the bar after it.
    request = BacktestRequest(start - H, end + H, SYMBOLS, fills=fills)  # type: ignore[arg-type]
    return Backtest(settings, request).run()


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Store, BacktestResult]:
    state = tmp_path_factory.mktemp("parity") / "state"
    settings = load_settings(state_dir=state, watchlist=list(SYMBOLS))
    store = paper_loop(settings)
    return settings, store, backtest(settings, "quote")


def test_paper_loop_and_backtest_book_the_same_fills(
    books: tuple[Settings, Store, BacktestResult],
) -> None:
    _, store, result = books
    paper = sorted(fill_key(f) for f in store.fills())
    replayed = sorted(fill_key(f) for f in result.fills if f.time <= END)
    assert paper == replayed
    kinds = {(k[2], k[3]) for k in paper}
    assert ("entry", "entry") in kinds and any(k[2] == "exit" for k in paper)  # both kinds


def test_the_same_fees_funding_and_equity(
    books: tuple[Settings, Store, BacktestResult],
) -> None:
    settings, store, result = books
    positions = {p.position_id: p for p in [*[c.position for c in result.positions],
                                              *result.open_positions]}
    paper_positions = {p.position_id: p for p in store.positions()}
    assert set(paper_positions) <= set(positions)
    for pid, pos in paper_positions.items():
        other = positions[pid]
        assert (pos.fees_paid, pos.funding_paid, pos.realized_pnl) == (
            other.fees_paid, other.funding_paid, other.realized_pnl
        ), pid
    assert sum(p.funding_paid for p in paper_positions.values()) != 0  # funding was charged
    # Equity at the last cycle, before its own entries (the backtest fills those an hour on).
    [at_end] = [eq for t, eq in result.equity if t == END]
    paper = book_equity(store, Decimal(settings.equity), exclude_opened_from=END)
    assert paper == at_end


def test_the_default_backtest_differs_only_in_the_reference_price(
    books: tuple[Settings, Store, BacktestResult],
) -> None:
    settings, _, quote = books
    nxt = backtest(settings, "next_open")
    entries = {f.position_id: f for f in nxt.fills if f.kind == "entry"}
    quoted = {f.position_id: f for f in quote.fills if f.kind == "entry"}
    shared = sorted(set(entries) & set(quoted))
    assert shared  # the same signals are entered by both conventions
    for pid in shared:  # decided at the same hour, filled at that hour, the same way round
        a, b = entries[pid], quoted[pid]
        assert (a.time, a.side) == (b.time, b.side)
    # the quote carries the assumed spread, the next open does not: their prices differ ...
    first = min(shared, key=lambda p: entries[p].time)
    assert entries[first].price != quoted[first].price
    # ... and nothing else: before any PnL separates the books, the size is the same
    assert entries[first].quantity == quoted[first].quantity
    # later sizes follow each book's equity (sized on it), which the prices moved apart
    assert nxt.equity[-1][1] != quote.equity[-1][1]


@pytest.mark.slow
def test_closing_all_on_the_circuit_breaker_books_alike(tmp_path: Path) -> None:
    """With close_all_on_circuit_breaker both books close every position on the observation
    that trips the breaker (2025-03-10 12:00 here), at its last price."""
    start, end = datetime(2025, 3, 9, tzinfo=UTC), datetime(2025, 3, 10, 13, tzinfo=UTC)
    settings = load_settings(
        state_dir=tmp_path / "state",
        watchlist=list(SYMBOLS),
        execution={"close_all_on_circuit_breaker": True},
    )
    store = paper_loop(settings, start, end)
    result = backtest(settings, "quote", start, end)
    paper = sorted(fill_key(f) for f in store.fills())
    assert any(k[3] == "circuit_breaker" for k in paper)
    assert paper == sorted(fill_key(f) for f in result.fills if f.time <= end)
    [at_end] = [eq for t, eq in result.equity if t == end]
    assert book_equity(store, Decimal(settings.equity), exclude_opened_from=end) == at_end


def test_the_rules_beyond_the_spec_book_alike(tmp_path: Path) -> None:
    """The paper loop and the backtest with the new rules on (in-sample hours): the breakeven
    in R with its cost-covering offset, the ATR trail from breakeven, the signal-reversal exit,
    cost-aware sizing, book volatility targeting, the history guard, capped weights."""
    start, end = datetime(2025, 4, 9, tzinfo=UTC), datetime(2025, 4, 10, 13, tzinfo=UTC)
    settings = load_settings(
        state_dir=tmp_path / "state",
        watchlist=list(SYMBOLS),
        risk={"long_threshold": 0.3, "short_threshold": -0.3, "cost_aware_sizing": True,
              "book_vol_target_pct": 40.0, "history_guard": True,
              "history_guard_daily_bars": 150, "weight_redistribution": "capped"},
        execution={"reversal_exit_score": 0.2, "breakeven_trigger_unit": "r",
                   "breakeven_trigger_r": "0.5", "breakeven_offset_covers_costs": True,
                   "trail_unit": "atr", "trail_atr": "0.5", "trail_start": "breakeven",
                   "stale_exit": False},
    )
    store = paper_loop(settings, start, end)
    result = backtest(settings, "quote", start, end)
    paper = sorted(fill_key(f) for f in store.fills())
    reasons = {k[3] for k in paper}
    assert {"signal_reversal", "trailing_stop", "breakeven_stop"} <= reasons, reasons
    assert paper == sorted(fill_key(f) for f in result.fills if f.time <= end)
    assert all(p.atr is not None for p in store.positions())  # the signal's ATR reached them
    [at_end] = [eq for t, eq in result.equity if t == end]
    assert book_equity(store, Decimal(settings.equity), exclude_opened_from=end) == at_end
