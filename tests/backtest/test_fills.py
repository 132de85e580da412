"""Fills, fees, funding, liquidation and the books, checked by hand against the raw data."""

import gzip
import io
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

import pandas as pd
import pytest

from backtest.engine import Backtest, BacktestRequest, BacktestResult
from backtest.report import document
from sextant.config import load_settings
from sextant.config.market import BUNDLED_DATA_DIR
from tools.market_data import csv_store
from tools.market_data.replay import load_market_rules

START = datetime(2025, 11, 20, tzinfo=UTC)
END = datetime(2025, 12, 4, tzinfo=UTC)
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "XRP/USDT:USDT", "DOGE/USDT:USDT", "LINK/USDT:USDT")
SLIP = Decimal("0.05") / 100  # the default slippage, %
TAKER = Decimal("0.055") / 100
HOUR = timedelta(hours=1)


def run(symbols=SYMBOLS, data_dir: Path | None = None, **kw) -> BacktestResult:
    settings = load_settings(**kw)
    return Backtest(settings, BacktestRequest(START, END, symbols, data_dir)).run()


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    return run()


def bars(symbol: str, data_dir: Path = BUNDLED_DATA_DIR) -> pd.DataFrame:
    return csv_store.read_frame(csv_store.ohlcv_path(data_dir, symbol, "1h"))


def tick_round(x: Decimal, tick: Decimal, up: bool) -> Decimal:
    return (x / tick).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR) * tick


def d(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def test_entries_fill_at_the_next_open_plus_slippage_with_the_taker_fee(result) -> None:
    rules = load_market_rules(BUNDLED_DATA_DIR)
    entries = [f for f in result.fills if f.kind == "entry"]
    assert len(entries) >= 5
    signals = {s.signal_id: s for s in result.signals}
    for f in entries:
        sig = signals[f.position_id]
        assert f.time == sig.as_of  # decided at a close, filled at the next bar's open
        bar = bars(f.symbol).loc[pd.Timestamp(f.time)]
        long = f.side == "long"
        raw = d(bar["open"]) * (1 + SLIP if long else 1 - SLIP)
        assert f.price == tick_round(raw, rules[f.symbol].price_tick, up=long)
        assert f.quantity == sig.quantity
        assert f.fee == f.price * f.quantity * TAKER


def test_exits_by_reason_match_the_bar(result) -> None:
    positions = {p.position.position_id: p.position for p in result.positions}
    checked = set()
    for f in (f for f in result.fills if f.kind == "exit"):
        pos = positions.get(f.position_id)
        if pos is None:
            continue
        bar = bars(f.symbol).loc[pd.Timestamp(f.time - HOUR)]  # the bar that closed at f.time
        long = pos.side == "long"
        if f.reason == "stop_loss":
            stop = pos.initial_stop
            assert (d(bar["low"]) <= stop) if long else (d(bar["high"]) >= stop)
            touched = min(stop, d(bar["open"])) if long else max(stop, d(bar["open"]))
            raw = touched * (1 - SLIP if long else 1 + SLIP)
            assert f.price == tick_round(raw, pos.tick, up=not long)
            assert f.fee == f.price * f.quantity * TAKER  # a stop is a market order
        elif f.reason in ("tp1", "tp2"):
            # a conditional market order on Bybit: filled at market like the stop, from the
            # target (or the open when the bar gapped through it) less slippage, taker fee
            level = pos.take_profit_1 if f.reason == "tp1" else pos.take_profit_2
            assert (d(bar["high"]) >= level) if long else (d(bar["low"]) <= level)
            touched = max(level, d(bar["open"])) if long else min(level, d(bar["open"]))
            raw = touched * (1 - SLIP if long else 1 + SLIP)
            assert f.price == tick_round(raw, pos.tick, up=not long)
            if touched == level:  # not gapped: below a long's target, never at it
                assert f.price < level if long else f.price > level
            assert f.fee == f.price * f.quantity * TAKER
        elif f.reason == "stale_exit":
            assert f.time - pos.opened_at >= timedelta(hours=48)
            raw = d(bar["close"]) * (1 - SLIP if long else 1 + SLIP)
            assert f.price == tick_round(raw, pos.tick, up=not long)
        else:
            continue
        checked.add(f.reason)
    assert {"stop_loss", "tp1"} <= checked


def test_the_books_reconcile(result) -> None:
    """Equity change = closed positions' net PnL + open positions' net PnL and open PnL;
    trade rows add up to their positions; fees and funding add up to the totals."""
    start, end = result.equity[0][1], result.equity[-1][1]
    closed = sum((p.net_pnl for p in result.positions), Decimal(0))
    open_part = sum(
        (p.net_pnl + p.unrealized_pnl() for p in result.open_positions), Decimal(0)
    )
    assert abs((end - start) - (closed + open_part)) < Decimal("1e-9")
    for p in result.positions:
        rows = [t for t in result.trades if t.position_id == p.position.position_id]
        assert abs(sum(t.pnl for t in rows) - p.net_pnl) < Decimal("1e-9")
        assert abs(p.net_pnl - p.position.net_pnl) < Decimal("1e-9")  # the lifecycle agrees
    all_positions = [p.position for p in result.positions] + result.open_positions
    assert abs(result.fees - sum(p.fees_paid for p in all_positions)) < Decimal("1e-9")
    assert abs(result.funding - sum(p.funding_paid for p in all_positions)) < Decimal("1e-9")


def test_funding_every_8h_from_the_history(result) -> None:
    rates = {
        s: csv_store.read_frame(csv_store.funding_path(BUNDLED_DATA_DIR, s))["funding_rate"]
        for s in SYMBOLS
    }
    checked = 0
    for p in result.positions:
        pos = p.position
        exits = [f for f in result.fills if f.position_id == pos.position_id and f.kind == "exit"]
        expected = Decimal(0)
        t = pos.opened_at.replace(minute=0) + HOUR
        while pos.closed_at is not None and t < pos.closed_at:
            if t.hour % 8 == 0:
                qty = pos.initial_quantity - sum(
                    (f.quantity for f in exits if f.time <= t), Decimal(0)
                )
                mark = d(bars(pos.symbol).loc[pd.Timestamp(t), "open"])
                rate = d(rates[pos.symbol].loc[pd.Timestamp(t)])
                expected += qty * mark * rate * (1 if pos.side == "long" else -1)
            t += HOUR
        assert abs(pos.funding_paid - expected) < Decimal("1e-12"), pos.position_id
        checked += expected != 0
    assert checked >= 3


def rewrite(path: Path, fn) -> None:
    df = fn(pd.read_csv(path))
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as g:
        g.write(df.to_csv(index=False).encode())
    path.write_bytes(buf.getvalue())


def test_missing_funding_history_is_a_warning_not_a_silent_zero(result, data_copy: Path) -> None:
    pos = next(
        p.position for p in result.positions
        if p.position.symbol == "ETH/USDT:USDT" and p.position.funding_paid != 0
    )
    lo, hi = int(pos.opened_at.timestamp() * 1000), int(pos.closed_at.timestamp() * 1000)
    rewrite(
        data_copy / "funding" / "ETH_USDT-funding.csv.gz",
        lambda df: df[(df["timestamp_ms"] <= lo) | (df["timestamp_ms"] > hi)],
    )
    again = run(data_dir=data_copy)
    same = next(p.position for p in again.positions if p.position.position_id == pos.position_id)
    assert same.funding_paid == 0
    warning = next(w for w in again.warnings if w.startswith("ETH/USDT:USDT: no funding rate"))
    assert "nothing was charged" in warning
    assert document(again)["warnings"] == again.warnings


def test_a_gap_through_the_liquidation_price_liquidates(result, data_copy: Path) -> None:
    """Isolated margin: a bar through the liquidation price (Bybit's formula with the
    maintenance margin rate setting) liquidates the position at the bankruptcy price: the
    whole margin is lost, however far the bar gapped beyond it."""
    entry = next(f for f in result.fills if f.kind == "entry")
    crash = entry.time + HOUR  # the bar after the entry bar
    factor = 0.4 if entry.side == "long" else 2.5
    ms = int(crash.timestamp() * 1000)
    path = data_copy / "futures" / f"{csv_store.base_name(entry.symbol)}-1h.csv.gz"

    def gap(df: pd.DataFrame) -> pd.DataFrame:
        row = df["timestamp_ms"] == ms
        price = float(df.loc[row, "open"].iloc[0]) * factor
        df.loc[row, ["open", "high", "low", "close"]] = price
        return df

    rewrite(path, gap)
    mmr = Decimal("0.7")
    again = run(data_dir=data_copy, execution={"maintenance_margin_pct": mmr})
    pos = next(
        p.position for p in again.positions if p.position.position_id == entry.position_id
    )
    assert pos.exit_reason == "liquidation"
    long = pos.side == "long"
    lev = Decimal(pos.leverage)
    liq = pos.entry_price * (1 - 1 / lev + mmr / 100 if long else 1 + 1 / lev - mmr / 100)
    assert pos.liquidation_price == liq
    fill = next(f for f in again.fills if f.position_id == pos.position_id and f.kind == "exit")
    assert fill.time == crash + HOUR
    # Bybit's liquidation engine takes the position over at the bankruptcy price, entry x
    # (1 -+ 1/leverage): no slippage, no fee; what was left above it goes to its insurance fund
    bust = pos.entry_price * (1 - 1 / lev if long else 1 + 1 / lev)
    assert fill.price == tick_round(bust, pos.tick, up=not long)
    assert fill.fee == 0 and fill.quantity == pos.initial_quantity
    margin = pos.entry_price * fill.quantity / lev
    # the loss is the whole margin (to the tick the fill is rounded to, against the position)
    assert margin <= -fill.pnl < margin + pos.tick * fill.quantity
    # Everything before the crash bar is as it was.
    assert [f for f in again.fills if f.time < crash] == [
        f for f in result.fills if f.time < crash
    ]


def test_interrupt_keeps_the_hours_done(tmp_path: Path) -> None:
    settings = load_settings()
    engine = Backtest(settings, BacktestRequest(START, END, SYMBOLS[:2]))
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 50

    out = engine.run(should_stop=stop)
    assert out.interrupted and out.hours_done == 50
    assert len(out.equity) == 51 and out.end == START + 50 * HOUR
    assert out.warnings[0].startswith("interrupted")
    assert document(out)["interrupted"] is True


def test_sizing_uses_the_current_equity(result) -> None:
    """Each entry's quantity puts 1.5 % of the equity at that hour at the stop, rounded down
    to the lot step (equity, not the starting capital: it changes from trade to trade)."""
    rules = load_market_rules(BUNDLED_DATA_DIR)
    equity = dict(result.equity)
    actionable = [s for s in result.signals if s.decision != "WAIT"]
    assert len(actionable) >= 5
    for sig in actionable:
        assert sig.quantity is not None and sig.entry is not None and sig.stop_loss is not None
        step = rules[sig.symbol].amount_step
        wanted = equity[sig.as_of] * Decimal("1.5") / 100 / abs(sig.entry - sig.stop_loss)
        assert sig.quantity == (wanted / step).to_integral_value(rounding=ROUND_FLOOR) * step
    assert len({equity[s.as_of] for s in actionable}) > 1


class _PanicAt:
    """A news source with one answer: critical news on `symbol` at `as_of` (close it)."""

    name = "tape"
    description = "one critical answer (test)"

    def __init__(self, symbol: str, as_of: datetime) -> None:
        self.symbol, self.as_of = symbol, as_of

    def has_answer(self, symbol: str, as_of: datetime) -> bool:
        return (symbol, as_of) == (self.symbol, self.as_of)

    def answer(self, symbol: str, as_of: datetime, volatility_ratio: float | None):  # type: ignore[no-untyped-def]
        from sextant.models import NewsAssessment

        if not self.has_answer(symbol, as_of):
            return None
        return NewsAssessment(symbol=symbol, available=True, score=-1.0, regime="PANIC",
                              close_longs=True, close_shorts=True, source="tape")


def test_a_news_panic_closes_at_the_next_open_as_the_live_cycle_does(result) -> None:
    """Critical news at T against an open position: the live cycle at T closes it at once, so
    the backtest fills it at the open of the bar starting at T (slippage, taker fee), not at
    that bar's close an hour later."""
    entries = {f.position_id: f for f in result.fills if f.kind == "entry"}
    first_exit = {}
    for f in result.fills:
        if f.kind == "exit":
            first_exit.setdefault(f.position_id, f)
    pid = next(p for p, e in entries.items()
               if p in first_exit and first_exit[p].time - e.time >= 3 * HOUR)
    entry = entries[pid]
    at = entry.time + HOUR  # the close of the entry bar: the cycle at that hour sees the news
    settings = load_settings()
    again = Backtest(settings, BacktestRequest(START, END, SYMBOLS),
                     news=_PanicAt(entry.symbol, at)).run()
    [fill] = [f for f in again.fills if f.position_id == pid and f.kind == "exit"]
    assert fill.reason == "news_panic" and fill.time == at
    bar = bars(entry.symbol).loc[pd.Timestamp(at)]  # the bar opening at T
    long = entry.side == "long"
    raw = d(bar["open"]) * (1 - SLIP if long else 1 + SLIP)
    pos = next(p.position for p in again.positions if p.position.position_id == pid)
    assert fill.price == tick_round(raw, pos.tick, up=not long)
    assert fill.fee == fill.price * fill.quantity * TAKER
    assert fill.quantity == entry.quantity and pos.exit_reason == "news_panic"
    # everything before T is as it was
    assert [f for f in again.fills if f.time < at] == [f for f in result.fills if f.time < at]


class _HostileAt:
    """One hostile answer: critical news for every coin at `as_of`, the market calm (NORMAL)."""

    name = "tape"
    description = "critical news on every coin at one hour (test)"

    def __init__(self, as_of: datetime) -> None:
        self.as_of = as_of

    def has_answer(self, symbol: str, as_of: datetime) -> bool:
        return as_of == self.as_of

    def answer(self, symbol: str, as_of: datetime, volatility_ratio: float | None):  # type: ignore[no-untyped-def]
        from sextant.models import NewsAssessment

        if as_of != self.as_of:
            return None
        return NewsAssessment(symbol=symbol, available=True, score=-1.0, regime="NORMAL",
                              close_longs=True, close_shorts=True, source="tape")


def test_one_hostile_answer_closes_at_most_the_cap_as_the_live_cycle_does(result) -> None:
    """The per-cycle cap on news-panic closes the market does not confirm
    (news.max_panic_closes_per_cycle, sextant.news.panic) holds in the backtest too."""
    entries = {f.position_id: f.time for f in result.fills if f.kind == "entry"}
    closed = {p.position.position_id: p.position.closed_at for p in result.positions}

    def open_at(t: datetime) -> int:
        return sum(1 for p, e in entries.items() if e < t and (closed.get(p) or END) > t)

    at = next(e + HOUR for e in sorted(entries.values()) if open_at(e + HOUR) >= 2)
    many = open_at(at)
    settings = load_settings()
    capped = Backtest(settings, BacktestRequest(START, END, SYMBOLS), news=_HostileAt(at)).run()
    panics = [f for f in capped.fills if f.reason == "news_panic"]
    assert len(panics) == settings.news.max_panic_closes_per_cycle == 1
    assert panics[0].time == at
    wide = load_settings(news={"max_panic_closes_per_cycle": many})
    free = Backtest(wide, BacktestRequest(START, END, SYMBOLS), news=_HostileAt(at)).run()
    assert len([f for f in free.fills if f.reason == "news_panic" and f.time == at]) == many
