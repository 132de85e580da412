"""Property tests: every actionable signal keeps the risk rules, whatever the inputs."""

from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, given, target
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from sextant.config import Settings
from sextant.math_engine.models import Regime
from sextant.models import FundingInfo, MarketInfo, NewsRegime, Signal
from sextant.reasons import Code
from sextant.risk import evaluate_symbol
from tests.risk.builders import analysis, inputs, news, portfolio

COMPONENTS = ("trend", "momentum", "volume", "open_interest", "news")
REGIMES: list[Regime | None] = ["trending_up", "trending_down", "ranging", "volatile", None]
NEWS_REGIMES: list[NewsRegime] = ["NORMAL", "DIGESTING", "PANIC"]
STOP_MULT = {"NORMAL": 1.0, "DIGESTING": 1.2, "PANIC": 1.5}


@dataclass(frozen=True)
class Case:
    market: MarketInfo
    bid: float
    ask: float
    equity: Decimal
    atr: float
    components: dict[str, float | None]
    regime: Regime | None
    news_regime: NewsRegime | None  # None: no news assessment at all
    funding: float | None
    btc_4h: float | None


@st.composite
def markets(draw: st.DrawFn) -> tuple[MarketInfo, float]:
    """A price in [0.0001, 100000] with a tick of 4-6 significant digits and a lot step worth
    between ~0.001 and ~100 USDT, as on real exchanges (BTC 0.10 / 0.001, DOGE 0.00001 / 1)."""
    exp = draw(st.integers(-4, 4))
    mantissa = draw(st.floats(1.0, 9.999))
    price = min(mantissa * 10.0**exp, 100_000.0)
    tick = Decimal(1).scaleb(exp - draw(st.integers(3, 5)))
    step = Decimal(1).scaleb(draw(st.integers(-exp - 3, -exp + 1)))
    market = MarketInfo(
        symbol="TEST/USDT:USDT", amount_step=step, price_tick=tick,
        min_amount=step * draw(st.sampled_from([1, 1, 10])),
        min_notional=Decimal(draw(st.sampled_from([0, 5]))),
        max_leverage=draw(st.sampled_from([1, 3, 5, 8, 10, 25, 50, 100, 125])),
    )
    return market, float(market.round_price(price))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    market, price = draw(markets())
    spread_ticks = draw(st.integers(1, 5))
    bid = price
    ask = float(Decimal(str(price)) + market.price_tick * spread_ticks)
    # A common lean makes strong (actionable) scores frequent; None makes a component missing.
    lean = draw(st.floats(-1.0, 1.0))
    comps: dict[str, float | None] = {}
    for name in COMPONENTS:
        value = draw(st.one_of(
            st.none(),
            st.floats(-1.0, 1.0),
            st.floats(-0.3, 0.3).map(lambda d, b=lean: max(-1.0, min(1.0, b + d))),
        ))
        comps[name] = value
    return Case(
        market=market, bid=bid, ask=ask,
        equity=Decimal(str(draw(st.sampled_from([50, 500, 1000, 10_000, 123_456.78, 5e6])))),
        atr=draw(st.floats(0.1, 15.0)),
        components=comps,
        regime=draw(st.sampled_from(REGIMES)),
        news_regime=draw(st.sampled_from([None, *NEWS_REGIMES])),
        funding=draw(st.one_of(st.none(), st.floats(-0.004, 0.004))),
        btc_4h=draw(st.one_of(st.none(), st.floats(-5.0, 5.0))),
    )


def run(case: Case, s: Settings) -> Signal:
    c = case.components
    an = analysis("TEST/USDT:USDT", trend=c["trend"], momentum=c["momentum"],
                  volume=c["volume"], open_interest=c["open_interest"], regime=case.regime,
                  atr_pct=case.atr)
    nw = None
    if case.news_regime is not None:
        nw = news("TEST/USDT:USDT", score=c["news"], regime=case.news_regime)
    funding = None if case.funding is None else FundingInfo(rate=case.funding)
    return evaluate_symbol(
        inputs(case.market, an, bid=case.bid, ask=case.ask, news_=nw, funding=funding),
        btc_change_4h_pct=case.btc_4h, portfolio=portfolio(case.equity), settings=s,
    )


@hsettings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_every_signal_keeps_the_rules(settings: Settings, case: Case) -> None:
    check(run(case, settings), case, settings)


@st.composite
def strong_cases(draw: st.DrawFn) -> Case:
    """No veto and a clear direction: (nearly) always actionable, to stress the arithmetic."""
    case = draw(cases())
    value = draw(st.sampled_from([-1.0, -0.9, -0.6, 0.6, 0.9, 1.0]))
    # every available component (trend always) equal to `value`: the score is `value`
    comps = {k: (None if v is None and k != "trend" else value)
             for k, v in case.components.items()}
    return Case(**{**case.__dict__, "components": comps, "funding": None, "btc_4h": None})


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=strong_cases())
def test_strong_signals_keep_the_rules(settings: Settings, case: Case) -> None:
    sig = run(case, settings)
    assert sig.decision != "WAIT" or sig.reasons[0].code in (
        Code.BELOW_MIN_ORDER, Code.INSUFFICIENT_MARGIN), sig.reasons
    check(sig, case, settings)


def check(sig: Signal, case: Case, s: Settings) -> None:
    rs = s.risk
    event(sig.decision)

    # score and weights, for every signal
    assert -1.0 <= sig.score <= 1.0
    available = {k for k in COMPONENTS if sig.components[k] is not None}
    if available:
        assert sum(sig.weights.values()) == pytest.approx(1.0, abs=1e-5)
    else:
        assert all(w == 0.0 for w in sig.weights.values())
    assert all(sig.weights[k] == 0.0 for k in COMPONENTS if k not in available)
    assert all(sig.weights[k] >= 0 for k in COMPONENTS)

    if sig.decision == "WAIT":
        assert any(r.kind in ("wait", "veto", "skip") for r in sig.reasons)
        assert sig.entry is None and sig.quantity is None and sig.leverage is None
        return
    target(1.0, label="actionable")
    assert sig.entry is not None and sig.stop_loss is not None
    assert sig.take_profit_1 is not None and sig.take_profit_2 is not None
    assert sig.quantity is not None and sig.leverage is not None
    m = case.market
    tick, step = m.price_tick, m.amount_step
    entry, stop = sig.entry, sig.stop_loss
    sign = 1 if sig.decision == "LONG" else -1
    # (the signal carries the score rounded to 6 decimals, hence >= and <=)
    assert (sig.score >= rs.long_threshold) if sign == 1 else (sig.score <= rs.short_threshold)

    # everything on the grid
    for p in (entry, stop, sig.take_profit_1, sig.take_profit_2):
        assert p % tick == 0
    assert sig.quantity % step == 0
    assert sig.quantity >= m.min_amount and sig.quantity > 0
    assert sig.quantity * entry >= m.min_notional

    # stop on the right side, within [1.5, 5] % x the news multiplier, one tick of rounding
    r = (entry - stop) * sign
    assert r > 0
    mult = STOP_MULT[case.news_regime or "NORMAL"]
    dist_pct = r / entry * 100
    one_tick_pct = tick / entry * 100
    lo = Decimal(str(rs.stop_min_pct * mult)) - one_tick_pct
    hi = Decimal(str(rs.stop_max_pct * mult)) + one_tick_pct
    assert lo <= dist_pct <= hi, (dist_pct, lo, hi)

    # targets at exactly 1.5 R and 2.5 R of the ROUNDED stop distance, within half a tick
    half = tick / 2
    tp1_dist = (sig.take_profit_1 - entry) * sign
    tp2_dist = (sig.take_profit_2 - entry) * sign
    assert abs(tp1_dist - Decimal(str(rs.tp1_r)) * r) <= half
    assert abs(tp2_dist - Decimal(str(rs.tp2_r)) * r) <= half

    # leverage
    assert 1 <= sig.leverage <= min(rs.max_leverage, m.max_leverage)

    # loss at the stop: 1.5 % of equity, never more, at most one lot step less
    budget = case.equity * rs.risk_per_trade_pct / 100
    loss = sig.quantity * r
    assert loss <= budget
    assert loss > budget - step * r
    # and the margin fits the (empty) account
    assert sig.quantity * entry / sig.leverage <= case.equity
