"""The precomputed (vectorised) path decides exactly as the per-cycle path.

The backtest runs over a span with a sample of traced hours; at each one it records the book it
handed the Risk Manager and the signals it got back for every symbol. The real graph
(`run_cycle`: Data Collector, Math Engine, Risk Manager on the replay snapshots) is then run at
the same hours with the same book: same eligibility, same decisions, same levels and sizes,
same reasons; scores equal within 1e-9 (the Math Engine's Wilder warm-up, see
tests/math_engine/test_consistency.py). The span covers the open-interest window (BTC, ETH) and
hours with positions open, so vetoes and portfolio limits are exercised too.
"""

from datetime import UTC, datetime, timedelta

import pytest

from backtest.engine import Backtest, BacktestRequest
from sextant.config import load_settings
from sextant.lifecycle import should_close_for_reversal
from sextant.risk.weights import (
    base_weights,
    effective_weights,
    final_score,
    risk_regime,
    score_side,
)
from tests.backtest.helpers import ALL, compiled_graph, cycle_signals

START = datetime(2025, 11, 24, tzinfo=UTC)
END = datetime(2025, 12, 6, tzinfo=UTC)
# Every 41 hours (different hours of the day), plus the hours at which entries were decided.
EVERY = frozenset(START + timedelta(hours=5 + 41 * i) for i in range(7))
LEVELS = ("entry", "stop_loss", "take_profit_1", "take_profit_2", "leverage", "quantity",
          "risk_pct", "stop_distance_pct")


@pytest.fixture(scope="module")
def plain():
    settings = load_settings()
    return settings, Backtest(settings, BacktestRequest(START, END, ALL)).run()


@pytest.fixture(scope="module")
def sample(plain) -> frozenset[datetime]:
    _, result = plain
    entries = sorted({f.time for f in result.fills if f.kind == "entry"})
    assert len(entries) >= 4
    return EVERY | frozenset(entries[:: max(1, len(entries) // 6)][:6])


@pytest.fixture(scope="module")
def traced(plain, sample):
    settings, _ = plain
    request = BacktestRequest(START, END, ALL, trace_hours=sample)
    return settings, Backtest(settings, request).run()


def test_tracing_changes_nothing(plain, traced, sample) -> None:
    assert set(traced[1].traces) == set(sample)
    assert traced[1].fills == plain[1].fills
    assert traced[1].equity == plain[1].equity


def test_vectorised_path_decides_like_the_cycle(traced, sample) -> None:
    settings, result = traced
    graph = compiled_graph()
    actionable = with_positions = 0
    for as_of in sorted(sample):
        trace = result.traces[as_of]
        signals, state = cycle_signals(settings, as_of, list(ALL), trace.portfolio, graph)
        # The same universe: eligibility of every symbol.
        universe = state["universe"]
        assert {s: not why for s, why in trace.universe.items()} == {
            s: u.eligible for s, u in universe.items()
        }, as_of
        assert state["btc_change_4h_pct"] == pytest.approx(trace.btc_change_4h_pct, abs=1e-9)
        ours = {s.symbol: s for s in trace.signals}
        theirs = {s.symbol: s for s in signals}
        assert set(ours) == set(theirs), as_of
        for symbol, mine in ours.items():
            cyc = theirs[symbol]
            where = (as_of, symbol)
            assert mine.decision == cyc.decision, where
            assert mine.regime == cyc.regime, where
            assert mine.score == pytest.approx(cyc.score, abs=1e-9), where
            assert [r.code for r in mine.reasons] == [r.code for r in cyc.reasons], where
            for key in LEVELS:
                assert getattr(mine, key) == getattr(cyc, key), (where, key)
            for name, value in mine.components.items():
                other = cyc.components[name]
                assert (value is None) == (other is None), (where, name)
                if value is not None:
                    assert value == pytest.approx(other, abs=1e-9), (where, name)
            assert mine.weights == cyc.weights, where
        actionable += sum(s.decision != "WAIT" for s in signals)
        with_positions += bool(trace.portfolio.open_symbols)
    # Not vacuous: entries were decided and the book was not always flat.
    assert actionable >= 3, actionable
    assert with_positions >= 3, with_positions


def test_open_interest_reaches_both_paths(traced) -> None:
    _, result = traced
    seen = [
        s.components["open_interest"]
        for t in result.traces.values()
        for s in t.signals
        if s.symbol in ("BTC/USDT:USDT", "ETH/USDT:USDT")
    ]
    assert any(v is not None for v in seen)


def test_precomputed_score_is_the_risk_managers_score(plain) -> None:
    """The candidate filter (the vectorised final score and side) is bit for bit what the
    Risk Manager's per-cycle functions compute from the same analysis."""
    settings, _ = plain
    bt = Backtest(settings, BacktestRequest(START, END, ALL[:3]))
    checked = sides = 0
    for j, series in enumerate(bt.series):
        for row in [int(r) for r in bt.rows[j] if r >= 0][::7]:
            an = series.analysis(row, START)
            comps = {**an.components, "news": None}
            w = effective_weights(base_weights(risk_regime(an.regime), settings.risk), comps)
            score = final_score(comps, w)
            assert score == series.score[row]
            assert score_side(score, settings.risk) == series.side[row]
            checked += 1
            sides += series.side[row] != 0
    assert checked > 100 and sides > 5


def test_open_interest_ends_as_in_the_cycle() -> None:
    """Around the end of the OI history (last point 2025-12-17 00:00) the cycle stops getting
    OI once it is two days old; slower timeframes then lose it too. The series follows."""
    settings = load_settings()
    hours = [datetime(2025, 12, 18, 23, tzinfo=UTC) + timedelta(hours=h) for h in (0, 1, 2, 7, 24)]
    symbols = ("BTC/USDT:USDT", "ETH/USDT:USDT")
    request = BacktestRequest(
        datetime(2025, 12, 16, tzinfo=UTC), datetime(2025, 12, 21, tzinfo=UTC), symbols,
        trace_hours=frozenset(hours),
    )
    result = Backtest(settings, request).run()
    graph = compiled_graph()
    seen = set()
    for as_of in hours:
        trace = result.traces[as_of]
        signals, _ = cycle_signals(settings, as_of, list(symbols), trace.portfolio, graph)
        theirs = {s.symbol: s for s in signals}
        for mine in trace.signals:
            cyc = theirs[mine.symbol]
            assert mine.decision == cyc.decision, (as_of, mine.symbol)
            assert mine.score == pytest.approx(cyc.score, abs=1e-9), (as_of, mine.symbol)
            assert mine.components == pytest.approx(cyc.components, abs=1e-9)
            seen.add(mine.components["open_interest"] is None)
    assert seen == {True, False}  # OI present at the first hours, gone at the last


# -- the rules beyond the spec: the same in the backtest and in the cycle ----------------------

RULES_START = datetime(2025, 3, 1, tzinfo=UTC)  # in-sample: the rules are not tuned on this test
RULES_END = datetime(2025, 3, 13, tzinfo=UTC)


def rules_settings():
    return load_settings(
        risk={
            "long_threshold": 0.3, "short_threshold": -0.3, "weight_redistribution": "capped",
            "history_guard": True, "history_guard_daily_bars": 150, "stop_method": "quantile",
            "quantile_stop_multiplier": 2.5, "cost_aware_sizing": True,
            "book_vol_target_pct": 40.0,
        },
        execution={
            "reversal_exit_score": 0.2, "breakeven_trigger_unit": "atr",
            "breakeven_offset_covers_costs": True, "trail_unit": "atr", "trail_atr": "1.5",
            "trail_start": "breakeven", "stale_exit": False,
        },
    )


@pytest.fixture(scope="module")
def rules_run():
    settings = rules_settings()
    plain = Backtest(settings, BacktestRequest(RULES_START, RULES_END, ALL)).run()
    entries = sorted({f.time for f in plain.fills if f.kind == "entry"})
    reversals = sorted({f.time for f in plain.fills if f.reason == "signal_reversal"})
    assert len(entries) >= 4 and len(reversals) >= 2, (len(entries), len(reversals))
    sample = frozenset(
        [RULES_START + timedelta(hours=7 + 53 * i) for i in range(5)]
        + entries[:: max(1, len(entries) // 4)][:4] + reversals[:3]
    )
    request = BacktestRequest(RULES_START, RULES_END, ALL, trace_hours=sample)
    traced = Backtest(settings, request).run()
    assert traced.fills == plain.fills
    return settings, traced, sample


def test_new_rules_decide_and_exit_like_the_cycle(rules_run) -> None:
    settings, result, sample = rules_run
    graph = compiled_graph()
    codes: set[str] = set()
    reversed_here = 0
    for as_of in sorted(sample):
        trace = result.traces[as_of]
        signals, _ = cycle_signals(settings, as_of, list(ALL), trace.portfolio, graph)
        theirs = {s.symbol: s for s in signals}
        assert {s.symbol for s in trace.signals} == set(theirs), as_of
        for mine in trace.signals:
            cyc = theirs[mine.symbol]
            where = (as_of, mine.symbol)
            assert mine.decision == cyc.decision, where
            assert mine.score == pytest.approx(cyc.score, abs=1e-9), where
            assert [r.code for r in mine.reasons] == [r.code for r in cyc.reasons], where
            for key in (*LEVELS, "atr"):
                assert getattr(mine, key) == getattr(cyc, key), (where, key)
            assert mine.weights == cyc.weights, where
            codes.update(r.code for r in mine.reasons)
        # The reversal exits the backtest takes at this hour are those the live engine takes
        # with the cycle's signals (ExecutionEngine.reversals: the same rule on these scores).
        scores = {s.symbol: s.score for s in signals}
        live = {
            p.position_id for p in trace.positions
            if p.opened_at < as_of
            and should_close_for_reversal(p, scores.get(p.symbol), settings.execution)
        }
        assert trace.reversals == live, as_of
        reversed_here += len(live)
    # Not vacuous: the new rules acted in the sampled hours.
    assert reversed_here >= 1
    assert {"history_guard", "driver"} <= codes, codes
