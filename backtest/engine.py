"""The backtest: the live pipeline walked hour by hour over recorded data.

Per symbol, everything elementwise over bars is computed once (`features`): the Math Engine's
series, the snapshot inputs, the final score and its side. The hour loop then carries only what
depends on the path: the account, the open positions and their exits (`sextant.lifecycle`),
and, for the bars whose score is beyond a threshold, the full Risk Manager (`decide`: vetoes,
portfolio limits, sizing on the current equity) on the same objects a cycle would hold.

Time within hour k (the 1h bar opening at T and closing at T + 1h):
1. at T: funding settles on positions opened before T; a news panic decided at T closes its
   position at the bar's open (slippage, taker fee), as the live cycle closes it at once;
   entries decided at T fill at the bar's open plus slippage (taker fee);
2. during the bar: `lifecycle.step` on every open position (stop before targets; stop moves and
   time exits at the close); every exit, targets included (conditional market orders on
   Bybit), fills at market: slippage from the trigger (or the open of a gap) and the taker fee;
3. at T + 1h: positions are marked at the close, the day's PnL and circuit breaker updated, and
   the Risk Manager decides on the candidates with what closed by then: nothing later is read.

Fills, fees, funding, the day and the breaker are the account core's (`sextant.account`), the
paper broker's too. `fills="quote"` takes the paper broker's reference prices instead of the
next open: an entry decided at T fills at the quote its signal carries, a news-panic close at
the quote at T, funding settling at T is marked at the last close and booked before the
decisions at T, and a tripped breaker with `close_all_on_circuit_breaker` closes at once; the
paper loop over the same hours then books the very same fills (tests/integration/test_parity.py).
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from backtest.book import Book, ClosedPosition, TradeRow
from backtest.data import DataError, DataSet, load_data
from backtest.features import HOUR_NS, SymbolSeries
from backtest.news import NewsSource, NoNews, unavailable
from execution.prices import dec
from sextant.account import FillModel, fill_entry, fill_exit, funding_due, settle_funding
from sextant.config import Settings
from sextant.eligibility import eligibility_reasons
from sextant.lifecycle import Bar, Exit, forced_exit, funding_times, should_close_for_reversal, step
from sextant.math_engine.candles import candles_from_frame
from sextant.math_engine.volatility import hourly_volatility
from sextant.models import NewsAssessment, PortfolioState, Reason, Signal
from sextant.news.panic import plan_news_closes
from sextant.positions import Fill, Position
from sextant.risk import SymbolInputs, decide, evaluate_symbol, vetoes

Progress = Callable[[int, int, datetime, Decimal], None]


@dataclass(frozen=True)
class BacktestRequest:
    start: datetime
    end: datetime
    symbols: tuple[str, ...]
    data_dir: Path | None = None
    # Hours (decision times) at which every symbol is evaluated and the inputs recorded:
    # the equivalence test compares them with the per-cycle path.
    trace_hours: frozenset[datetime] = frozenset()
    # Reference prices of what is decided at T (`sextant.account.FillModel`): "next_open" =
    # the open of the bar starting at T; "quote" = the quote the signal carries and the last
    # close, as the paper broker fills (the parity test runs both books this way).
    fills: FillModel = "next_open"


@dataclass(frozen=True)
class Trace:
    as_of: datetime
    portfolio: PortfolioState
    btc_change_4h_pct: float | None
    universe: dict[str, list[Reason]]  # symbol -> eligibility reasons (empty = eligible)
    signals: list[Signal]
    positions: tuple[Position, ...] = ()  # open at as_of (before this hour's closes)
    reversals: frozenset[str] = frozenset()  # position ids the reversal rule closes


@dataclass
class BacktestResult:
    request: BacktestRequest
    settings: Settings
    start: datetime
    end: datetime
    symbols: list[str]
    skipped: dict[str, str]
    data_dir: Path
    equity: list[tuple[datetime, Decimal]]
    trades: list[TradeRow]
    positions: list[ClosedPosition]
    open_positions: list[Position]
    fills: list[Fill]
    signals: list[Signal]
    warnings: list[str]
    news: str
    news_source: str  # "unavailable" | "tape" | "live"
    news_symbol_hours: int
    interrupted: bool
    hours: int
    hours_done: int
    symbol_hours: int
    decisions: int  # symbol-hours the full Risk Manager evaluated
    fees: Decimal
    funding: Decimal
    exposure_hours: int
    gross_exposure: list[float]  # per hour: open notional / equity
    btc: list[tuple[datetime, float]]  # reference closes at each hour close (buy and hold)
    traces: dict[datetime, Trace] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)  # about the span: the first of `warnings`


@dataclass(frozen=True)
class _Decision:
    signals: list[Signal]
    evaluated: int
    trace: Trace | None


def no_data_message(skipped: dict[str, str], symbols: list[str], span: str) -> str:
    """Why no symbol can be backtested, each reason once with the symbols it applies to."""
    by_reason: dict[str, list[str]] = {}
    for s in symbols:
        by_reason.setdefault(skipped.get(s, "no data"), []).append(s.split("/")[0])
    return f"no symbol has data in {span}: " + "; ".join(
        f"{why} ({', '.join(names)})" for why, names in by_reason.items()
    )


def hour_floor(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class Backtest:
    def __init__(
        self,
        settings: Settings,
        request: BacktestRequest,
        *,
        news: NewsSource | None = None,
        data: DataSet | None = None,
    ) -> None:
        self.settings = settings
        self.request = request
        self.start = hour_floor(request.start)
        self.end = hour_floor(request.end)
        if self.end <= self.start:
            raise DataError(
                f"empty span: --from {self.start:%Y-%m-%d %H:%M} is not before --to "
                f"{self.end:%Y-%m-%d %H:%M} (the end of the data when --to is not given)",
                field="--to",
            )
        self.news = news or NoNews()
        symbols = list(dict.fromkeys(request.symbols))
        ref = settings.market.reference_symbol
        wanted = symbols + ([ref] if ref not in symbols else [])
        self.data = data or load_data(settings, wanted, self.end, request.data_dir)
        self.symbols = [s for s in symbols if s in self.data.symbols]
        if not self.symbols:
            span = f"{self.start:%Y-%m-%d %H:%M} .. {self.end:%Y-%m-%d %H:%M}"
            early = all(
                self.data.skipped.get(s, "").startswith("no candles before") for s in symbols
            )
            raise DataError(
                no_data_message(self.data.skipped, symbols, span),
                field="--from" if early else "--symbols",
            )
        # Notices about the span itself, shown first (the CLI prints them before the run).
        self.warnings: list[str] = []
        self._clamp_start(ref)
        self.series = [SymbolSeries(self.data.symbols[s], settings) for s in self.symbols]
        n = int((self.end - self.start) / timedelta(hours=1))
        start_ns = int(pd.Timestamp(self.start).value)
        self.grid_ns = start_ns + HOUR_NS * np.arange(n + 1, dtype=np.int64)  # bar opens + end
        self.times = [self.start + timedelta(hours=k) for k in range(n + 1)]
        self.hours = n
        # rows[j][k]: the row of symbol j's bar opening at grid hour k, or -1.
        self.rows = [self._rows(s.open_ns) for s in self.series]
        self.ref_close, self.ref_change = self._reference(ref)

    # -- set-up ---------------------------------------------------------------------------

    def _clamp_start(self, ref: str) -> None:
        """A span that starts before the data starts where the data does: every figure (the
        buy-and-hold's included) is then over hours that have bars, and a warning says so."""
        firsts = [
            hour_floor(self.data.symbols[s].hourly.index[0].to_pydatetime())
            for s in self.symbols
            if len(self.data.symbols[s].hourly)
        ]
        first = min(firsts) if firsts else self.end
        if first >= self.end:
            raise DataError(
                f"no data in the span {self.start:%Y-%m-%d %H:%M} .. {self.end:%Y-%m-%d %H:%M}",
                field="--from",
            )
        if first > self.start:
            self.warnings.append(
                f"--from {self.start:%Y-%m-%d %H:%M} is before the data, which starts "
                f"{first:%Y-%m-%d %H:%M}: the backtest and every figure (buy-and-hold "
                f"included) cover {first:%Y-%m-%d %H:%M} .. {self.end:%Y-%m-%d %H:%M}"
            )
            self.start = first
        if ref in self.data.symbols and len(self.data.symbols[ref].hourly):
            ref_first = hour_floor(self.data.symbols[ref].hourly.index[0].to_pydatetime())
            if ref_first > self.start:
                self.warnings.append(
                    f"buy-and-hold {ref.split('/')[0]} from {ref_first:%Y-%m-%d %H:%M}, where "
                    "its data starts"
                )

    def _rows(self, open_ns: np.ndarray) -> np.ndarray:
        grid = self.grid_ns[:-1]
        idx = np.searchsorted(open_ns, grid)
        safe = np.minimum(idx, len(open_ns) - 1)
        return np.where((idx < len(open_ns)) & (open_ns[safe] == grid), safe, -1)

    def _reference(self, ref: str) -> tuple[np.ndarray, np.ndarray]:
        """The reference symbol's close and 4h change (the BTC-dump veto) per grid hour."""
        n = self.hours
        close, change = np.full(n, np.nan), np.full(n, np.nan)
        if ref in self.symbols:
            s = self.series[self.symbols.index(ref)]
            rows, c_close, c_change = self.rows[self.symbols.index(ref)], s.close, s.columns[
                "change_4h_pct"
            ]
        elif ref in self.data.symbols:
            hourly = self.data.symbols[ref].hourly
            candles = candles_from_frame(hourly, "1h")
            rows = self._rows(candles.open_ns)
            c_close = candles.close
            c_change = hourly_volatility(candles, self.settings.math)["change_4h_pct"]
        else:
            return close, change
        ok = rows >= 0
        close[ok] = c_close[rows[ok]]
        change[ok] = c_change[rows[ok]]
        return close, change

    def _funding_by_hour(self, s: SymbolSeries) -> dict[int, float]:
        hours = (s.funding_ns // HOUR_NS) * HOUR_NS
        return dict(zip(hours.tolist(), s.funding_rate.tolist(), strict=True))

    # -- the walk -------------------------------------------------------------------------

    def run(
        self,
        *,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> BacktestResult:
        st = self.settings
        es, rs = st.execution, st.risk
        tp1_fraction = Decimal(str(rs.tp1_close_fraction))
        book = Book.starting(Decimal(st.equity))
        quote = self.request.fills == "quote"
        funding = [self._funding_by_hour(s) for s in self.series]
        index = {s: j for j, s in enumerate(self.symbols)}
        no_news = {s: unavailable(s) for s in self.symbols}
        with_news = not isinstance(self.news, NoNews)
        trace_hours = self.request.trace_hours
        # Candidates: bars whose final score is beyond a threshold (elementwise, precomputed).
        side_at = [
            np.where(rows >= 0, s.side[np.maximum(rows, 0)], 0)
            for s, rows in zip(self.series, self.rows, strict=True)
        ]
        candidates = np.stack(side_at, axis=1) != 0 if self.series else np.zeros((self.hours, 0))
        last_price: dict[str, Decimal] = {}
        pending: list[Signal] = []
        missing_funding: dict[str, list[datetime]] = {}
        unfilled: list[str] = []
        signals: list[Signal] = []
        traces: dict[datetime, Trace] = {}
        equity_curve: list[tuple[datetime, Decimal]] = [(self.start, book.cash)]
        gross: list[float] = []
        btc: list[tuple[datetime, float]] = []
        exposure_hours = decisions = news_hours = 0
        interrupted = False
        done = 0

        for k in range(self.hours):
            if should_stop is not None and should_stop():
                interrupted = True
                break
            t_open, t_close = self.times[k], self.times[k + 1]

            # 1a. Funding settles at T (on the funding grid) on positions opened before T:
            # here, after the decisions at T (next_open); with fills="quote" at the end of the
            # previous hour (2b), before them, as the paper engine books it.
            if not quote:
                self._settle_funding(book, k, t_open, funding, index, last_price, missing_funding)

            # 1b. News panic decided at T (critical news against an open position), then signal
            # reversals decided at T: closed at this bar's open, before anything else, as the
            # live cycle closes them at once.
            for symbol, trade in list(book.open.items()):
                row = self.rows[index[symbol]][k]
                if trade.close_for_news and (row >= 0 or trade.news_price is not None):
                    pos = trade.position
                    at = trade.news_price if quote else None
                    if at is None:
                        at = dec(self.series[index[symbol]].open[row])
                    self._fill_exit(book, pos, forced_exit(pos, "news_panic", at), t_open)
                elif trade.close_for_reversal and (row >= 0 or quote):
                    # (a reversal is only decided on a bar the symbol has: quote mode has its
                    # quote then)
                    pos = trade.position
                    at = trade.reversal_price if quote else None
                    if at is None:
                        at = dec(self.series[index[symbol]].open[row])
                    self._fill_exit(book, pos, forced_exit(pos, "signal_reversal", at), t_open)

            # 1c. Entries decided at T fill at this bar's open (or at their quote).
            for sig in pending:
                j = index[sig.symbol]
                row = self.rows[j][k]
                if (row < 0 and not quote) or sig.symbol in book.open:
                    unfilled.append(f"{sig.signal_id}: no {sig.symbol} fill at {t_open:%F %H:%M}")
                    continue
                assert sig.entry is not None
                reference = sig.entry if quote else dec(self.series[j].open[row])
                pos, fill = fill_entry(
                    sig,
                    reference=reference,
                    market=self.series[j].data.market,
                    time=t_open,
                    s=es,
                    mode="backtest",
                )
                book.enter(pos, fill)
            pending = []

            # 2. The bar against every open position: exits, stop moves, time exits.
            # next_open: a tripped breaker closes at the close of the next bar; quote: at once
            # (3a), as the paper engine closes on the observation that trips it
            breaker_close = (
                not quote
                and es.close_all_on_circuit_breaker
                and book.breaker_until(t_open) is not None
            )
            for symbol, trade in list(book.open.items()):
                j = index[symbol]
                row = self.rows[j][k]
                if row < 0:
                    continue
                s = self.series[j]
                bar = Bar(
                    time=t_close,
                    open=dec(s.open[row]),
                    high=dec(s.high[row]),
                    low=dec(s.low[row]),
                    close=dec(s.close[row]),
                )
                res = step(
                    trade.position,
                    bar,
                    es,
                    tp1_fraction=tp1_fraction,
                    close_for_circuit_breaker=breaker_close,
                )
                pos = res.position
                book.move(pos)
                for ex in res.exits:
                    pos = self._fill_exit(book, pos, ex, t_close)

            # 2b. fills="quote": funding settling at T + 1h, before that hour's decisions.
            if quote and k + 1 < len(self.times):
                self._settle_funding(
                    book, k + 1, t_close, funding, index, last_price, missing_funding
                )

            # 3a. Mark to market at the close; the day's PnL and the circuit breaker.
            for symbol in book.open:
                j = index[symbol]
                row = self.rows[j][k]
                if row >= 0:
                    last_price[symbol] = dec(self.series[j].close[row])
            equity = book.equity(last_price)
            tripped = book.close_of_day(t_close, equity, rs.daily_loss_limit_pct)
            if tripped and quote and es.close_all_on_circuit_breaker:
                for trade in list(book.open.values()):
                    pos = trade.position
                    at = pos.last_price or pos.entry_price
                    self._fill_exit(book, pos, forced_exit(pos, "circuit_breaker", at), t_close)
                equity = book.equity(last_price)
            if book.open:
                exposure_hours += 1
                notional = sum(
                    (t.position.quantity * last_price[s] for s, t in book.open.items()),
                    Decimal(0),
                )
                gross.append(float(notional / equity) if equity > 0 else 0.0)
            else:
                gross.append(0.0)
            ref = self.ref_close[k]
            if ref == ref:
                btc.append((t_close, float(ref)))

            # 3b. News: critical news against an open position at T + 1h closes it at the open
            # of the next bar (1b), as the live cycle at that hour closes it at once; the hours
            # with an answer count for the report.
            if with_news:
                news_hours += sum(
                    1
                    for j, s in enumerate(self.symbols)
                    if self.rows[j][k] >= 0 and self.news.has_answer(s, t_close)
                )
                # Capped per hour unless the market confirms, as the live cycle decides it.
                answers = {
                    symbol: answer
                    for symbol in book.open
                    if self.news.has_answer(symbol, t_close)
                    and (answer := self._news(index[symbol], k, t_close)) is not None
                }
                closing = {
                    d.position_id
                    for d in plan_news_closes(
                        [t.position for t in book.open.values()], answers, st.news
                    )
                    if d.action == "close"
                }
                for symbol, trade in book.open.items():
                    trade.close_for_news = trade.position.position_id in closing
                    trade.news_price = None
                    if trade.close_for_news and quote:  # the quote closing it at T
                        j, row = index[symbol], int(self.rows[index[symbol]][k])
                        if row >= 0:
                            ticker = self.series[j].snapshot(row, t_close).ticker
                            buying = trade.position.side == "short"
                            trade.news_price = dec(ticker.ask if buying else ticker.bid)

            # 3c. Signal reversal: an open position whose symbol's final score at T + 1h
            # crossed the exit level against it closes at the next bar's open (1b; with
            # fills="quote" at the quote at T + 1h), as the live cycle at that hour closes it.
            if es.reversal_exit_score is not None:
                for symbol, trade in book.open.items():
                    j, row = index[symbol], int(self.rows[index[symbol]][k])
                    score = self._score(j, k, t_close)
                    trade.close_for_reversal = should_close_for_reversal(
                        trade.position, score, es
                    )
                    trade.reversal_price = None
                    if trade.close_for_reversal and quote:
                        ticker = self.series[j].snapshot(row, t_close).ticker
                        buying = trade.position.side == "short"
                        trade.reversal_price = dec(ticker.ask if buying else ticker.bid)

            # 3d. The Risk Manager on this hour's candidates.
            traced = t_close in trace_hours
            picked = [
                j
                for j in range(len(self.series))
                if self.rows[j][k] >= 0
                and (
                    traced
                    or candidates[k, j]
                    or (with_news and self.news.has_answer(self.symbols[j], t_close))
                )
            ]
            if picked and equity > 0:
                outcome = self._decide(k, t_close, equity, book, picked, traced, no_news)
                decisions += outcome.evaluated
                signals.extend(outcome.signals)
                pending = [sig for sig in outcome.signals if sig.decision != "WAIT"]
                if outcome.trace is not None:
                    traces[t_close] = replace(
                        outcome.trace,
                        positions=tuple(t.position for t in book.open.values()),
                        reversals=frozenset(
                            t.position.position_id
                            for t in book.open.values()
                            if t.close_for_reversal
                        ),
                    )

            equity_curve.append((t_close, equity))
            done = k + 1
            if progress is not None:
                progress(done, self.hours, t_close, equity)

        symbol_hours = int(sum(int((rows[:done] >= 0).sum()) for rows in self.rows))
        warnings = self.warnings + self._warnings(missing_funding, unfilled, interrupted)
        return BacktestResult(
            request=self.request,
            settings=st,
            start=self.start,
            end=self.times[done] if interrupted else self.end,
            symbols=self.symbols,
            skipped=dict(self.data.skipped),
            data_dir=self.data.data_dir,
            equity=equity_curve,
            trades=book.trades,
            positions=book.closed,
            open_positions=[t.position for t in book.open.values()],
            fills=book.fills,
            signals=signals,
            warnings=warnings,
            news=self.news.description,
            news_source=self.news.name,
            news_symbol_hours=news_hours + getattr(self.news, "answered", 0),
            interrupted=interrupted,
            hours=self.hours,
            hours_done=done,
            symbol_hours=symbol_hours,
            decisions=decisions,
            fees=book.fees,
            funding=book.funding,
            exposure_hours=exposure_hours,
            gross_exposure=gross,
            btc=btc,
            traces=traces,
            notices=list(self.warnings),
        )

    def _settle_funding(
        self,
        book: Book,
        k: int,
        at: datetime,
        funding: list[dict[int, float]],
        index: dict[str, int],
        last_price: dict[str, Decimal],
        missing: dict[str, list[datetime]],
    ) -> None:
        """Funding settling at `at` (the open of grid hour k) on the positions opened before
        it, at the recorded rate: marked at the open of bar k (next_open) or at the last
        price seen (quote, as the paper engine marks it)."""
        es = self.settings.execution
        hour = timedelta(hours=1)
        if not book.open or not funding_times(at - hour, at, es.funding_interval_hours):
            return
        at_ns = int(self.grid_ns[k])
        for symbol, trade in list(book.open.items()):
            pos = trade.position
            if not funding_due(pos, at):
                continue
            j = index[symbol]
            rate = funding[j].get(at_ns)
            if rate is None:
                missing.setdefault(symbol, []).append(at)
                continue
            if self.request.fills == "quote":
                mark = pos.last_price or pos.entry_price
            else:
                row = self.rows[j][k] if k < self.hours else -1
                mark = dec(self.series[j].open[row]) if row >= 0 else last_price[symbol]
            pos, payment = settle_funding(pos, dec(rate), mark)
            book.pay_funding(symbol, pos, payment)

    def _fill_exit(self, book: Book, pos: Position, ex: Exit, time: datetime) -> Position:
        """As the paper broker fills (`sextant.account.fill_exit`)."""
        after, fill = fill_exit(pos, ex, time=time, s=self.settings.execution)
        book.exit(pos, after, fill)
        return after

    def _decide(
        self,
        k: int,
        as_of: datetime,
        equity: Decimal,
        book: Book,
        picked: list[int],
        traced: bool,
        no_news: dict[str, NewsAssessment],
    ) -> "_Decision":
        """The Risk Manager at one hour on the picked symbols, as the cycle would call it.

        Outside traced hours, symbols (or the whole hour) that the Risk Manager's own veto
        functions already turn into WAIT whatever else holds are not evaluated: a symbol with
        an open position, a tripped circuit breaker, a book at its maximum of positions.
        """
        st = self.settings
        rs = st.risk
        portfolio = book.portfolio(equity, as_of)
        change = self.ref_change[k]
        btc_change = float(change) if change == change else None
        with_news = not isinstance(self.news, NoNews)
        if not traced and (
            vetoes.max_positions_veto(len(book.open), rs) is not None
            or vetoes.circuit_breaker_veto(portfolio, as_of, rs) is not None
        ):
            return _Decision([], 0, None)
        inputs: list[SymbolInputs] = []
        universe: dict[str, list[Reason]] = {}
        for j in picked:
            s, row = self.series[j], int(self.rows[j][k])
            if not traced and vetoes.position_open_veto(s.symbol, portfolio) is not None:
                continue
            snap = s.snapshot(row, as_of)
            why = eligibility_reasons(snap, as_of, st)
            universe[s.symbol] = why
            if not why:
                news = (self._news(j, k, as_of) if with_news else None) or no_news[s.symbol]
                inputs.append(SymbolInputs(snap, s.analysis(row, as_of), news))
        decided = (
            decide(inputs, btc_change_4h_pct=btc_change, portfolio=portfolio, settings=st)
            if inputs
            else []
        )
        trace = Trace(as_of, portfolio, btc_change, universe, decided) if traced else None
        return _Decision(decided, len(inputs), trace)

    def _score(self, j: int, k: int, as_of: datetime) -> float | None:
        """The final score the cycle at `as_of` would give symbol j, None when the cycle would
        not score it (no bar, not eligible). Without news it is the precomputed series."""
        s, row = self.series[j], int(self.rows[j][k])
        if row < 0:
            return None
        snap = s.snapshot(row, as_of)
        if eligibility_reasons(snap, as_of, self.settings):
            return None
        news = None
        if not isinstance(self.news, NoNews) and self.news.has_answer(s.symbol, as_of):
            news = self._news(j, k, as_of)
        if news is None:
            return round(float(s.score[row]), 6)  # as a Signal carries it
        inputs = SymbolInputs(snap, s.analysis(row, as_of), news)
        portfolio = PortfolioState(equity=Decimal(1), day_start_equity=Decimal(1))
        signal = evaluate_symbol(
            inputs, btc_change_4h_pct=None, portfolio=portfolio, settings=self.settings
        )
        return signal.score

    def _news(self, j: int, k: int, as_of: datetime) -> NewsAssessment | None:
        row = self.rows[j][k]
        ratio = self.series[j].columns["volatility_ratio"][row] if row >= 0 else float("nan")
        return self.news.answer(self.symbols[j], as_of, None if ratio != ratio else float(ratio))

    def _warnings(
        self, missing: dict[str, list[datetime]], unfilled: list[str], interrupted: bool
    ) -> list[str]:
        out: list[str] = []
        if interrupted:
            out.append("interrupted: the results cover only the hours completed before the stop")
        for symbol, why in self.data.skipped.items():
            if symbol in self.request.symbols:
                out.append(f"{symbol}: not in the backtest ({why})")
        for j, s in enumerate(self.series):
            have = self.rows[j] >= 0
            if not have.any():
                out.append(f"{s.symbol}: no bars in the span")
                continue
            first, last = int(np.argmax(have)), len(have) - 1 - int(np.argmax(have[::-1]))
            if first > 0:
                out.append(f"{s.symbol}: data starts {self.times[first]:%Y-%m-%d %H:%M}")
            if last < self.hours - 1:
                out.append(f"{s.symbol}: data ends {self.times[last + 1]:%Y-%m-%d %H:%M}")
            if len(s.funding_ns) == 0:
                out.append(f"{s.symbol}: no funding history: funding cannot be charged")
        for symbol, times in sorted(missing.items()):
            out.append(
                f"{symbol}: no funding rate in the history for {len(times)} settlement(s) "
                f"while a position was open ({times[0]:%Y-%m-%d %H:%M} .. "
                f"{times[-1]:%Y-%m-%d %H:%M} UTC): nothing was charged for them"
            )
        if unfilled:
            out.append(f"{len(unfilled)} entry signal(s) not filled: " + "; ".join(unfilled[:5]))
        return out


def run_backtest(
    settings: Settings,
    request: BacktestRequest,
    *,
    news: NewsSource | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> BacktestResult:
    return Backtest(settings, request, news=news).run(progress=progress, should_stop=should_stop)
