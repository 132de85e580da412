"""Every lifecycle rule with hand-computed numbers (long entry 100, stop 98 = 1R of 2)."""

from datetime import UTC, datetime
from decimal import Decimal

from sextant.lifecycle import (
    Exit,
    StopMove,
    apply_exit,
    apply_funding,
    circuit_breaker_until,
    entry_fill_price,
    exit_fee,
    exit_fill_price,
    exit_pnl_pct,
    fee_for,
    funding_times,
    r_multiple,
    round_exit_price,
    should_close_for_news,
    step,
    tp1_quantity,
)
from tests.execution.helpers import T0, D, H, bar, es, pos

S = es()


# -- TP1 50% at 1.5R, TP2 at 2.5R ---------------------------------------------------------------


def test_tp1_closes_half_then_the_stop_trails_2pct_from_the_high() -> None:
    p = pos()  # long 10 @ 100, stop 98 (R = 2), TP1 103 (1.5R), TP2 105 (2.5R)
    r = step(p, bar(T0 + H, "100.5", "103.2", "100.2", "102.8"), S)
    # high 103.2 >= TP1 103: half of 10 on the 0.1 lot grid = 5.0; the target is a conditional
    # market order (as on Bybit): triggered at 103, it fills at market like a stop
    assert r.exits == [Exit("tp1", D("5.0"), D("103"), market=True)]
    # end of bar: best 103.2 is +3.2% >= 2.5% -> breakeven 100 x 1.0015 = 100.15; TP1 done ->
    # trail 103.2 x 0.98 = 101.136, floored to the 0.01 tick = 101.13: the tighter one wins
    assert r.stop_moves == [StopMove(old=D("98"), new=D("101.13"), reason="trail")]
    assert r.position.stop_loss == D("101.13") and r.position.tp1_done
    # the fill: 103 less 0.05 % slippage = 102.9485, floored to the 0.01 tick = 102.94; taker fee
    # 0.055 % of 102.94 x 5 = 514.70 x 0.00055 = 0.283085
    price = round_exit_price(r.position, exit_fill_price(r.position, r.exits[0], S.slippage_pct))
    fee = fee_for(price * D("5.0"), r.exits[0].market, S)
    assert (price, fee) == (D("102.94"), D("0.283085"))
    after, fill = apply_exit(r.position, reason="tp1", quantity=D("5.0"), price=price,
                             fee=fee, time=T0 + H)
    assert fill.pnl == D("14.70")  # (102.94 - 100) x 5
    assert after.quantity == D("5.0") and after.status == "open"
    assert after.fees_paid == D("0.283085")
    assert r_multiple(p, fill) == D("1.47")  # 14.70 / (2 x 5): slippage costs 0.03R of 1.5R

    r2 = step(after, bar(T0 + 2 * H, "102.8", "105.1", "102.0", "104.9"), S)
    # low 102.0 stays above the 101.13 stop; high 105.1 >= TP2 105 closes the other 5 at market
    assert r2.exits == [Exit("tp2", D("5.0"), D("105"), market=True)]
    # 105 x 0.9995 = 104.9475 -> 104.94; taker fee 104.94 x 5 = 524.70 x 0.00055 = 0.288585
    price2 = round_exit_price(r2.position, exit_fill_price(r2.position, r2.exits[0],
                                                           S.slippage_pct))
    fee2 = fee_for(price2 * D("5.0"), r2.exits[0].market, S)
    assert (price2, fee2) == (D("104.94"), D("0.288585"))
    done, fill2 = apply_exit(r2.position, reason="tp2", quantity=D("5.0"), price=price2,
                             fee=fee2, time=T0 + 2 * H)
    assert fill2.pnl == D("24.70") and done.status == "closed" and done.exit_reason == "tp2"
    assert done.realized_pnl == D("39.40")  # 14.70 + 24.70
    assert done.fees_paid == D("0.571670")  # 0.283085 + 0.288585
    assert r_multiple(p, fill2) == D("2.47")  # 24.70 / (2 x 5)


def test_tp1_and_tp2_in_one_strong_bar() -> None:
    r = step(pos(), bar(T0 + H, "100.2", "105.5", "100.1", "105.2"), S)
    assert [(e.reason, e.quantity, e.price, e.market) for e in r.exits] == [
        ("tp1", D("5.0"), D("103"), True), ("tp2", D("5.0"), D("105"), True)]


def test_tp1_half_on_the_lot_grid() -> None:
    assert tp1_quantity(pos(qty="0.3"), D("0.5")) == D("0.1")  # 0.15 floored to 0.1
    assert tp1_quantity(pos(qty="0.1"), D("0.5")) == D("0.1")  # half is no lot: all of it


def test_a_target_gapped_through_fills_at_the_better_open_at_market() -> None:
    r = step(pos(), bar(T0 + H, "103.6", "104", "103.5", "103.8"), S)
    assert r.exits[0] == Exit("tp1", D("5.0"), D("103.6"), market=True)


# -- stops: conservative order, gaps, next-bar effect ---------------------------------------------


def test_stop_first_when_a_bar_touches_both_stop_and_target() -> None:
    r = step(pos(), bar(T0 + H, "100", "103.5", "97.9", "101"), S)
    assert r.exits == [Exit("stop_loss", D("10"), D("98"), market=True)]
    assert r.stop_moves == []


def test_a_gap_through_the_stop_fills_at_the_open() -> None:
    r = step(pos(), bar(T0 + H, "97", "97.5", "96.5", "97.2"), S)
    assert r.exits == [Exit("stop_loss", D("10"), D("97"), market=True)]


def test_breakeven_at_exactly_2_5_pct_and_not_below() -> None:
    p = pos(stop="97", tp1="104.5", tp2="107.5")
    below = step(p, bar(T0 + H, "100", "102.49", "99.5", "102"), S)
    assert below.stop_moves == [] and below.position.stop_loss == D("97")
    at = step(p, bar(T0 + H, "100", "102.5", "99.5", "102"), S)
    # +2.5% -> entry + 0.15% = 100.15, in the trade's favour
    assert at.stop_moves == [StopMove(old=D("97"), new=D("100.15"), reason="breakeven")]


def test_a_stop_move_takes_effect_from_the_next_bar() -> None:
    p = pos(stop="97", tp1="104.5", tp2="107.5")
    # the bar that lifts the stop to 100.15 also trades at 100.1: no exit in that bar
    r = step(p, bar(T0 + H, "100.5", "102.6", "100.1", "101"), S)
    assert r.exits == [] and r.position.stop_loss == D("100.15")
    r2 = step(r.position, bar(T0 + 2 * H, "101", "101.2", "100.0", "100.4"), S)
    assert r2.exits == [Exit("breakeven_stop", D("10"), D("100.15"), market=True)]


def test_short_breakeven_and_trail_mirror_the_long() -> None:
    p = pos("short", "100", "103", "95.5", "92.5")  # R = 3, TP1 = 100 - 4.5, TP2 = 100 - 7.5
    r = step(p, bar(T0 + H, "100", "100.3", "97.5", "97.8"), S)
    # -2.5% in the short's favour -> 100 x (1 - 0.0015) = 99.85 (rounded up, toward entry)
    assert r.position.stop_loss == D("99.85")
    r2 = step(r.position, bar(T0 + 2 * H, "97.8", "98", "95.4", "95.9"), S)
    assert r2.exits == [Exit("tp1", D("5.0"), D("95.5"), market=True)]  # a market order
    # slippage against the short: 95.5 x 1.0005 = 95.54775, rounded up to the tick = 95.55
    tp1 = round_exit_price(r2.position, exit_fill_price(r2.position, r2.exits[0],
                                                        S.slippage_pct))
    assert tp1 == D("95.55")
    assert fee_for(tp1 * D("5.0"), r2.exits[0].market, S) == D("0.2627625")  # 477.75 x 0.055 %
    # trail: best 95.4 x 1.02 = 97.308 -> ceiling to the tick = 97.31, below 99.85: tighter
    assert r2.stop_moves == [StopMove(old=D("99.85"), new=D("97.31"), reason="trail")]


def test_the_stop_never_loosens() -> None:
    p = pos().model_copy(update={"stop_loss": D("101")})
    r = step(p, bar(T0 + H, "101.5", "102.9", "101.2", "102.5"), S)  # +2.9%: BE 100.15 < 101
    assert r.stop_moves == [] and r.position.stop_loss == D("101")
    after_tp1 = p.model_copy(update={"tp1_done": True, "stop_loss": D("104")})
    r = step(after_tp1, bar(T0 + H, "104.5", "105", "104.2", "104.8"), S)  # trail 102.9 < 104
    assert r.position.stop_loss == D("104")


def test_liquidation_before_a_stop_beyond_it() -> None:
    # 20x: long liquidation at 100 x (1 - 1/20 + 0.5%) = 95.5, before a (wrong) stop at 94;
    # Bybit takes the position over at the bankruptcy price 100 x (1 - 1/20) = 95: the whole
    # margin (100 x 10 / 20 = 50) is lost, with no slippage and no fee on top
    p = pos(stop="94", tp1="109", tp2="115", leverage=20)
    assert p.liquidation_price == D("95.5")
    r = step(p, bar(T0 + H, "99", "99.5", "95", "96"), S)
    assert r.exits == [Exit("liquidation", D("10"), D("95"), market=True)]
    ex = r.exits[0]
    price = round_exit_price(r.position, exit_fill_price(r.position, ex, S.slippage_pct))
    assert price == D("95") and exit_fee(ex, price, ex.quantity, S) == 0
    _, fill = apply_exit(r.position, reason="liquidation", quantity=ex.quantity, price=price,
                         fee=D(0), time=T0 + H)
    assert fill.pnl == D("-50") == -(p.entry_price * p.quantity / p.leverage)
    # a short at 20x: bankruptcy 100 x (1 + 1/20) = 105, even when the bar gaps to 110
    s = pos("short", "100", "106", "90", "85", leverage=20)
    r = step(s, bar(T0 + H, "110", "111", "109", "110"), S)
    assert r.exits == [Exit("liquidation", D("10"), D("105"), market=True)]


# -- time- and news-driven exits ---------------------------------------------------------------


def test_stale_after_48h_below_1pct() -> None:
    p = pos()
    early = step(p, bar(T0 + 47 * H, "100", "101", "99.5", "100.2"), S)
    assert early.exits == []
    stale = step(p, bar(T0 + 48 * H, "100.5", "101", "100.3", "100.9"), S)  # +0.9% < 1%
    assert stale.exits == [Exit("stale_exit", D("10"), D("100.9"), market=True)]
    fine = step(p, bar(T0 + 48 * H, "100.5", "101.2", "100.3", "101.0"), S)  # +1.0%: stays
    assert fine.exits == []


def test_news_panic_closes_longs_only() -> None:
    assert should_close_for_news(pos(), close_longs=True, close_shorts=False)
    assert not should_close_for_news(pos("short", "100", "103", "95.5", "92.5"), True, False)
    r = step(pos(), bar(T0 + H, "100", "100.4", "99.6", "99.8"), S, close_for_news=True)
    assert r.exits == [Exit("news_panic", D("10"), D("99.8"), market=True)]


def test_daily_circuit_breaker_at_minus_5pct_until_the_next_utc_day() -> None:
    now = datetime(2025, 3, 3, 15, 30, tzinfo=UTC)
    assert circuit_breaker_until(D("10000"), D("9500"), 5.0, now) == datetime(
        2025, 3, 4, tzinfo=UTC)
    assert circuit_breaker_until(D("10000"), D("9500.01"), 5.0, now) is None


# -- money: fees, funding, R and PnL % -------------------------------------------------------------


def test_fees_funding_and_pnl_pct() -> None:
    assert entry_fill_price("long", D("100"), D("0.05"), D("0.01")) == D("100.05")
    assert entry_fill_price("short", D("100"), D("0.05"), D("0.01")) == D("99.95")
    assert fee_for(D("1000"), True, S) == D("0.55")  # taker 0.055%
    assert fee_for(D("1000"), False, S) == D("0.2")  # maker 0.02%
    p = pos(fee="0.55")  # entry fee on 10 x 100 at 0.055%
    _, pay = apply_funding(p, D("0.0001"), D("100"))
    assert pay == D("0.1")  # 10 x 100 x 0.01%: longs pay a positive rate
    _, receive = apply_funding(pos("short", "100", "103", "95.5", "92.5"), D("0.0001"), D("100"))
    assert receive == D("-0.1")
    _, fill = apply_exit(p, reason="tp1", quantity=D("5"), price=D("103"), fee=D("0"),
                         time=T0 + H)
    # (15 - 0 - 0.55 x 5/10) / (100 x 5) x 100 = 2.945 %
    assert exit_pnl_pct(p, fill) == D("2.945")


def test_funding_settlements_every_8h() -> None:
    got = funding_times(datetime(2025, 3, 3, 7, tzinfo=UTC), datetime(2025, 3, 4, 8, tzinfo=UTC), 8)
    assert [t.hour for t in got] == [8, 16, 0, 8]


def test_a_bar_already_applied_changes_nothing() -> None:
    b = bar(T0 + H, "100.5", "103.2", "100.2", "102.8")
    once = step(pos(), b, S)
    twice = step(once.position, b, S)
    assert twice.position == once.position and twice.exits == [] and twice.stop_moves == []
    # and the bar that closed when the position was opened is not applied to it
    assert step(pos(), bar(T0, "90", "110", "90", "100"), S).exits == []


def test_exits_never_exceed_the_position() -> None:
    p = pos(qty="10")
    r = step(p, bar(T0 + H, "100.2", "105.5", "100.1", "105.2"), S)
    assert sum((e.quantity for e in r.exits), Decimal(0)) == p.quantity
