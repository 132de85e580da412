"""The lifecycle rules in units that scale (R, ATR), the cost-covering breakeven, trailing from
entry or breakeven, the stale switch and the signal-reversal exit, with hand-computed numbers.

The position is the one of test_lifecycle.py: long 10 @ 100, stop 98 (R = 2 per unit), TP1
103, TP2 105, tick 0.01; with `atr` its 30-day daily ATR at entry is 4 (price units).
"""

import pytest

from sextant.lifecycle import (
    StopMove,
    breakeven_offset_pct,
    open_position,
    should_close_for_reversal,
    step,
    stop_reason,
)
from tests.execution.helpers import T0, D, H, bar, es, pos


def with_atr(p, atr: str = "4"):
    return p.model_copy(update={"atr": D(atr)})


def test_the_spec_rules_are_the_defaults() -> None:
    s = es()
    assert (s.breakeven_trigger_unit, s.trail_unit, s.trail_start) == ("pct", "pct", "tp1")
    assert s.stale_exit and s.reversal_exit_score is None
    assert breakeven_offset_pct(s) == D("0.15")


def test_breakeven_in_r() -> None:
    s = es(breakeven_trigger_unit="r", breakeven_trigger_r=D("1.5"))
    # 1.5R = 3 price units: a high of 102.99 is not enough, 103 is
    r = step(pos(), bar(T0 + H, "100", "102.99", "99.5", "102"), s)
    assert r.stop_moves == []
    r = step(pos(tp1="110", tp2="120"), bar(T0 + H, "100", "103", "99.5", "102"), s)
    # entry 100 x (1 + 0.15 %) = 100.15
    assert r.stop_moves == [StopMove(old=D("98"), new=D("100.15"), reason="breakeven")]
    assert r.position.stop_move == "breakeven"


def test_breakeven_in_atr_and_the_r_fallback_without_an_atr() -> None:
    s = es(breakeven_trigger_unit="atr", breakeven_trigger_atr=D("0.5"))
    # 0.5 ATR = 2: reached at 102 with an ATR of 4
    r = step(with_atr(pos()), bar(T0 + H, "100", "102", "99.5", "101"), s)
    assert [m.new for m in r.stop_moves] == [D("100.15")]
    # no ATR (an adopted position): 0.5 x R = 1, reached at 101
    r = step(pos(), bar(T0 + H, "100", "101", "99.5", "100.5"), s)
    assert [m.new for m in r.stop_moves] == [D("100.15")]


def test_breakeven_offset_covers_the_round_trip() -> None:
    s = es(breakeven_offset_covers_costs=True, breakeven_offset_pct=D("0"))
    # 2 x 0.055 % taker + 0.05 % exit slippage = 0.16 %: stop 100.16
    assert breakeven_offset_pct(s) == D("0.160")
    r = step(pos(), bar(T0 + H, "100", "102.6", "99.5", "102"), s)
    assert [m.new for m in r.stop_moves] == [D("100.16")]
    # filled there: 100.16 x (1 - 0.05 %) = 100.10992 -> 100.10 on the tick; fees 0.055 % of
    # 100 and of 100.10 = 0.110055 per unit: net (0.10 - 0.110055) per unit, about zero
    assert D("100.10") - D("100") - D("0.00055") * (D("100") + D("100.10")) == D("-0.010055")


def test_breakeven_off() -> None:
    p = pos(tp1="110", tp2="120")
    r = step(p, bar(T0 + H, "100", "104", "99.5", "103.5"), es(breakeven_trigger_unit="off"))
    assert r.stop_moves == []  # +4 % and no breakeven move (trailing comes after TP1)


def test_chandelier_trail_in_atr_from_entry() -> None:
    s = es(breakeven_trigger_unit="off", trail_unit="atr", trail_atr=D("1"), trail_start="entry")
    p = with_atr(pos(stop="90", tp1="130", tp2="150"))  # R = 10
    # best 103: trail 103 - 1 x 4 = 99 > 90
    r = step(p, bar(T0 + H, "100", "103", "99.5", "102"), s)
    assert r.stop_moves == [StopMove(old=D("90"), new=D("99"), reason="trail")]
    # a lower best never loosens it
    r2 = step(r.position, bar(T0 + 2 * H, "102", "102.5", "99.2", "100"), s)
    assert r2.stop_moves == [] and r2.position.stop_loss == D("99")
    # stopped below 99: a trailing stop, not a breakeven stop
    r3 = step(r2.position, bar(T0 + 3 * H, "100", "100", "98", "98.5"), s)
    assert [e.reason for e in r3.exits] == ["trailing_stop"]
    assert stop_reason(r2.position) == "trailing_stop"


def test_trail_in_r_from_breakeven() -> None:
    s = es(breakeven_trigger_unit="r", breakeven_trigger_r=D("1"), trail_unit="r",
           trail_r=D("0.5"), trail_start="breakeven")
    # before 1R (102): no trail; at 102.5 breakeven 100.15 and trail 102.5 - 1 = 101.5 -> trail
    assert step(pos(), bar(T0 + H, "100", "101.9", "99.5", "101"), s).stop_moves == []
    r = step(pos(), bar(T0 + H, "100", "102.5", "99.5", "102"), s)
    assert r.stop_moves == [StopMove(old=D("98"), new=D("101.5"), reason="trail")]


def test_short_trail_in_atr_rounds_toward_the_entry() -> None:
    s = es(breakeven_trigger_unit="off", trail_unit="atr", trail_atr=D("1.5"), trail_start="entry")
    p = with_atr(pos("short", "100", "110", "85", "75"), "3.333")
    # best (low) 95: 95 + 1.5 x 3.333 = 99.9995 -> ceiling on the 0.01 tick = 100.00
    r = step(p, bar(T0 + H, "100", "100.5", "95", "96"), s)
    assert [m.new for m in r.stop_moves] == [D("100.00")]


def test_stale_exit_can_be_switched_off() -> None:
    p = pos()
    late = bar(T0 + 48 * H, "100", "100.4", "99.6", "100.2")
    assert [e.reason for e in step(p, late, es()).exits] == ["stale_exit"]
    assert step(p, late, es(stale_exit=False)).exits == []


@pytest.mark.parametrize(
    ("level", "side", "score", "closes"),
    [
        (None, "long", -1.0, False),  # off
        (0.0, "long", 0.0, True),  # at the level closes
        (0.0, "long", 0.000001, False),
        (0.0, "short", 0.0, True),
        (0.0, "short", -0.1, False),
        (-0.45, "long", -0.44, False),
        (-0.45, "long", -0.46, True),
        (-0.45, "short", 0.46, True),  # mirrored: a short closes at >= +0.45
        (0.1, "long", 0.05, True),  # a long closes when the score fades below +0.1
        (0.1, "short", -0.05, True),
        (0.1, "short", -0.2, False),
    ],
)
def test_signal_reversal_rule(level, side, score, closes) -> None:
    p = pos() if side == "long" else pos("short", "100", "102", "97", "95")
    assert should_close_for_reversal(p, score, es(reversal_exit_score=level)) is closes
    assert should_close_for_reversal(p, None, es(reversal_exit_score=level)) is False


def test_open_position_records_the_atr() -> None:
    p, _ = open_position(
        position_id="p", symbol="TEST/USDT:USDT", side="long", fill_price=D("100"),
        quantity=D("2"), fee=D("0"), stop_loss=D("95"), take_profit_1=D("107.5"),
        take_profit_2=D("112.5"), leverage=3, time=T0, tick=D("0.01"), lot=D("0.1"), s=es(),
        atr=D("4.2"),
    )
    assert p.atr == D("4.2")
    assert p.daily_vol == D("8.4")  # 2 x 4.2
    assert p.model_copy(update={"atr": None}).daily_vol == D("10")  # 2 x R (5)


def test_settings_refuse_a_trailing_start_without_a_trigger() -> None:
    with pytest.raises(ValueError, match="trail_start"):
        es(breakeven_trigger_unit="off", trail_start="breakeven")
    # the offset-below-trigger check is a pct-unit rule
    assert es(breakeven_trigger_unit="r", breakeven_offset_pct=D("5")).breakeven_offset_pct == 5
