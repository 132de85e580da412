"""Property tests of the sizing invariants: with cost-aware sizing the loss at the stop,
fees and expected slippage included, is the risk budget (never more, at most one lot less);
volatility targeting never lets the book's daily ATR exposure pass its budget."""

from decimal import Decimal

from hypothesis import HealthCheck, event, given, target
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from sextant.config import Settings
from sextant.risk import evaluate_symbol
from sextant.risk import levels as lv
from tests.risk.builders import default_settings, inputs, portfolio, uniform_analysis
from tests.risk.test_properties import markets

SMART = default_settings(risk={"cost_aware_sizing": True, "book_vol_target_pct": 25.0})


def stop_out_loss(side: str, entry: Decimal, stop: Decimal, qty: Decimal, s: Settings) -> Decimal:
    """Computed independently of the code under test: both fills with slippage against us,
    the taker fee on each."""
    slip, fee = s.execution.slippage_pct / 100, s.execution.taker_fee_pct / 100
    if side == "long":
        e, x = entry * (1 + slip), stop * (1 - slip)
        return qty * (e - x) + qty * fee * (e + x)
    e, x = entry * (1 - slip), stop * (1 + slip)
    return qty * (x - e) + qty * fee * (e + x)


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    m=markets(),
    side=st.sampled_from(["long", "short"]),
    stop_pct=st.floats(1.5, 5.0),
    equity=st.sampled_from([Decimal(x) for x in ("50", "1000", "10000", "123456.78", "5000000")]),
    risk_pct=st.sampled_from([Decimal("0.5"), Decimal("1.5"), Decimal("3")]),
)
def test_loss_at_stop_with_costs_is_the_risk_budget(m, side, stop_pct, equity, risk_pct) -> None:
    market, price = m
    levels = lv.price_levels(side, price, stop_pct, market, SMART.risk)
    cost = lv.expected_cost_per_unit(side, levels, SMART.execution)
    assert cost > 0
    qty = lv.position_quantity(equity, risk_pct, levels, market, cost)
    budget = equity * risk_pct / 100
    loss = stop_out_loss(side, levels.entry, levels.stop_loss, qty, SMART)
    one_lot = stop_out_loss(side, levels.entry, levels.stop_loss, market.amount_step, SMART)
    tol = Decimal("1e-18") * budget
    assert loss <= budget + tol
    assert loss > budget - one_lot - tol


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    m=markets(),
    value=st.sampled_from([-0.9, 0.9]),
    atr=st.floats(0.5, 8.0),
    used=st.floats(0.0, 1.2),
)
def test_signals_keep_both_budgets(m, value, atr, used) -> None:
    market, price = m
    equity = Decimal(10_000)
    vol_budget = equity * Decimal("0.25") / lv.SQRT_365
    open_vol = (vol_budget * Decimal(str(used))).quantize(Decimal("0.0001"))
    book = portfolio(equity).model_copy(update={"open_daily_vol": open_vol})
    an = uniform_analysis("TEST/USDT:USDT", value, atr_pct=atr)
    ask = float(Decimal(str(price)) + market.price_tick)
    sig = evaluate_symbol(inputs(market, an, bid=price, ask=ask), btc_change_4h_pct=0.0,
                          portfolio=book, settings=SMART)
    event(sig.decision if sig.decision != "WAIT" else sig.reasons[0].code)
    if sig.decision == "WAIT":
        return
    target(1.0, label="actionable")
    side = sig.side
    assert side is not None and sig.quantity is not None and sig.atr is not None
    loss = stop_out_loss(side, sig.entry, sig.stop_loss, sig.quantity, SMART)
    assert loss <= equity * SMART.risk.risk_per_trade_pct / 100 * (1 + Decimal("1e-12"))
    assert sig.risk_pct == (loss / equity * 100).quantize(Decimal("0.0001"))
    assert open_vol + sig.quantity * sig.atr <= vol_budget * (1 + Decimal("1e-12"))
