"""Stop distance, price levels on the tick grid, leverage bands and position size: by hand."""

from decimal import Decimal

import pytest

from sextant.config import Settings
from sextant.models import MarketInfo, NewsRegime, Signal
from sextant.reasons import Code
from sextant.risk import evaluate_symbol
from sextant.risk import levels as lv
from tests.risk.builders import (
    btc_market,
    doge_market,
    inputs,
    news,
    portfolio,
    uniform_analysis,
)

D = Decimal


# --- stop distance -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("atr", "mult", "pct", "clamped"),
    [
        (1.0, 1.0, 1.5, True),  # 1.0 x 1.0 = 1.0 -> raised to the 1.5 floor
        (1.5, 1.0, 1.5, False),  # exactly the floor
        (3.2, 1.0, 3.2, False),  # inside the bounds
        (5.0, 1.0, 5.0, False),  # exactly the cap
        (7.0, 1.0, 5.0, True),  # 7.0 -> capped to 5
        (1.0, 1.5, 2.25, True),  # PANIC: floor 1.5 x 1.5 = 2.25
        (7.0, 1.5, 7.5, True),  # PANIC after the bounds: 5 x 1.5 = 7.5 (beyond 5 on purpose)
        (4.0, 1.2, 4.8, False),  # DIGESTING: 4.0 x 1.2 = 4.8
        (7.0, 1.2, 6.0, True),  # DIGESTING after the bounds: 5 x 1.2 = 6.0
    ],
)
def test_stop_distance(settings: Settings, atr: float, mult: float, pct: float,
                       clamped: bool) -> None:
    sd = lv.stop_distance_pct(atr, settings.risk, mult)
    assert sd.pct == pytest.approx(pct)
    assert sd.raw_pct == pytest.approx(atr)  # atr_multiplier 1.0
    assert sd.clamped is clamped


@pytest.mark.parametrize(("regime", "pct"), [("NORMAL", 5.0), ("DIGESTING", 6.0), ("PANIC", 7.5)])
def test_news_regime_stop_multiplier_in_a_signal(
    settings: Settings, regime: NewsRegime, pct: float
) -> None:
    # ATR 9% -> bounded 5% -> x1 / x1.2 / x1.5
    an = uniform_analysis("BTC/USDT:USDT", 0.8, atr_pct=9.0)
    nw = news("BTC/USDT:USDT", score=0.8, regime=regime)
    sig = evaluate_symbol(inputs(btc_market(), an, bid=63123.3, ask=63123.4, news_=nw),
                          btc_change_4h_pct=0.0, portfolio=portfolio(), settings=settings)
    assert sig.decision == "LONG"
    assert sig.stop_distance_pct == pytest.approx(pct)
    assert any(r.code == Code.STOP_CLAMPED for r in sig.reasons)
    assert any(r.code == Code.NEWS_REGIME for r in sig.reasons) is (regime != "NORMAL")


# --- price levels ------------------------------------------------------------------------------


def _signal(settings: Settings, market: MarketInfo, value: float, atr: float,
            bid: float, ask: float, equity: str = "10000", margin_used: str = "0") -> Signal:
    an = uniform_analysis(market.symbol, value, atr_pct=atr)
    return evaluate_symbol(inputs(market, an, bid=bid, ask=ask), btc_change_4h_pct=0.0,
                           portfolio=portfolio(equity, margin_used=margin_used),
                           settings=settings)


def test_btc_long_levels(settings: Settings) -> None:
    sig = _signal(settings, btc_market(), 0.8, atr=2.37, bid=63123.3, ask=63123.4)
    assert sig.decision == "LONG"
    assert sig.entry == D("63123.4")  # the ask
    # 63123.4 x (1 - 0.0237) = 61627.37542 -> tick 0.1 -> 61627.4 ; R = 1496.0
    assert sig.stop_loss == D("61627.4")
    # TP1 = 63123.4 + 1.5 x 1496.0 = 63123.4 + 2244.0 = 65367.4
    assert sig.take_profit_1 == D("65367.4")
    # TP2 = 63123.4 + 2.5 x 1496.0 = 63123.4 + 3740.0 = 66863.4
    # (with the unrounded R 1496.02458: + 3740.06145 = 66863.46 -> 66863.5: the rounded R is used)
    assert sig.take_profit_2 == D("66863.4")
    # 1.5% of 10000 = 150 ; 150 / 1496.0 = 0.100267 -> step 0.001 DOWN -> 0.100
    assert sig.quantity == D("0.1")
    # loss at stop 0.100 x 1496.0 = 149.6 = 1.4960% of equity
    assert sig.risk_pct == D("1.4960")
    assert sig.leverage == 7  # ATR 2.37 >= 2 -> 7x
    assert sig.stop_distance_pct == pytest.approx(2.37)


def test_btc_short_levels(settings: Settings) -> None:
    sig = _signal(settings, btc_market(), -0.8, atr=2.37, bid=63123.4, ask=63123.5)
    assert sig.decision == "SHORT"
    assert sig.entry == D("63123.4")  # the bid
    # 63123.4 x 1.0237 = 64619.42458 -> 64619.4 ; R = 1496.0
    assert sig.stop_loss == D("64619.4")
    assert sig.take_profit_1 == D("60879.4")  # 63123.4 - 2244.0
    assert sig.take_profit_2 == D("59383.4")  # 63123.4 - 3740.0
    assert sig.quantity == D("0.1")  # 150 / 1496.0 = 0.100267 -> 0.100
    assert sig.leverage == 7


def test_doge_long_levels(settings: Settings) -> None:
    sig = _signal(settings, doge_market(), 0.8, atr=4.2, bid=0.16233, ask=0.16234)
    assert sig.decision == "LONG"
    assert sig.entry == D("0.16234")
    # 0.16234 x 0.958 = 0.15552172 -> tick 0.00001 -> 0.15552 ; R = 0.00682
    assert sig.stop_loss == D("0.15552")
    assert sig.take_profit_1 == D("0.17257")  # 0.16234 + 1.5 x 0.00682 = 0.16234 + 0.01023
    assert sig.take_profit_2 == D("0.17939")  # 0.16234 + 2.5 x 0.00682 = 0.16234 + 0.01705
    # 150 / 0.00682 = 21994.13 -> step 1 DOWN -> 21994 ; loss 21994 x 0.00682 = 149.99908
    assert sig.quantity == D("21994")
    assert sig.risk_pct == D("1.5000")  # 149.99908 / 10000 = 1.4999908 % -> 4 decimals
    assert sig.leverage == 3  # ATR 4.2 >= 4 -> 3x


def test_doge_short_levels(settings: Settings) -> None:
    sig = _signal(settings, doge_market(), -0.8, atr=4.2, bid=0.16234, ask=0.16235)
    assert sig.decision == "SHORT"
    assert sig.entry == D("0.16234")
    # 0.16234 x 1.042 = 0.16915828 -> 0.16916 ; R = 0.00682
    assert sig.stop_loss == D("0.16916")
    assert sig.take_profit_1 == D("0.15211")  # 0.16234 - 0.01023
    assert sig.take_profit_2 == D("0.14529")  # 0.16234 - 0.01705
    assert sig.quantity == D("21994")


def test_targets_round_half_a_tick_from_an_odd_r(settings: Settings) -> None:
    # a stop percentage chosen so that the rounded stop is 61627.3, i.e. R = 1496.1 (odd ticks)
    levels = lv.price_levels("long", 63123.4, 1496.1 / 63123.4 * 100, btc_market(),
                             settings.risk)
    assert levels.stop_loss == D("61627.3")  # R = 1496.1
    # 1.5 x 1496.1 = 2244.15 -> 65367.55 -> half-up -> 65367.6 (within half a tick of 1.5R)
    assert levels.take_profit_1 == D("65367.6")
    # 2.5 x 1496.1 = 3740.25 -> 66863.65 -> 66863.7
    assert levels.take_profit_2 == D("66863.7")


def test_stop_inside_one_tick_moves_one_tick_away(settings: Settings) -> None:
    coarse = MarketInfo(symbol="X/USDT:USDT", amount_step=D("1"), price_tick=D("0.0001"),
                        min_amount=D("1"), max_leverage=10)
    # 0.0010 x 0.985 = 0.000985 -> rounds back to 0.0010: the stop goes one tick away
    long = lv.price_levels("long", 0.0010, 1.5, coarse, settings.risk)
    assert (long.entry, long.stop_loss) == (D("0.0010"), D("0.0009"))
    short = lv.price_levels("short", 0.0010, 1.5, coarse, settings.risk)
    assert short.stop_loss == D("0.0011")
    assert short.take_profit_1 == D("0.0009")  # 0.0010 - 1.5 x 0.0001 = 0.00085 -> 0.0009


# --- leverage ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("atr", "mult", "market_max", "expected", "capped"),
    [
        (4.2, 1.0, 100, 3, False),  # >= 4 -> 3x
        (4.0, 1.0, 100, 3, False),  # band edge inclusive
        (3.0, 1.0, 100, 5, False),  # >= 3 -> 5x
        (2.5, 1.0, 100, 7, False),  # >= 2 -> 7x
        (2.0, 1.0, 100, 7, False),
        (1.99, 1.0, 100, 10, False),  # calmer -> 10x
        (1.2, 1.0, 100, 10, False),
        # PANIC x0.5, floored
        (4.2, 0.5, 100, 1, False),  # 3 x 0.5 = 1.5 -> 1
        (3.0, 0.5, 100, 2, False),  # 5 x 0.5 = 2.5 -> 2
        (2.5, 0.5, 100, 3, False),  # 7 x 0.5 = 3.5 -> 3
        (1.2, 0.5, 100, 5, False),  # 10 x 0.5 = 5
        # DIGESTING x0.8, floored
        (4.2, 0.8, 100, 2, False),  # 3 x 0.8 = 2.4 -> 2
        (3.0, 0.8, 100, 4, False),  # 5 x 0.8 = 4.0
        (2.5, 0.8, 100, 5, False),  # 7 x 0.8 = 5.6 -> 5
        (1.2, 0.8, 100, 8, False),  # 10 x 0.8 = 8
        # the market's maximum
        (4.2, 1.0, 5, 3, False),  # 3 <= 5, untouched
        (2.5, 1.0, 5, 5, True),  # 7 -> 5
        (1.2, 1.0, 5, 5, True),  # 10 -> 5
        (1.2, 0.5, 5, 5, False),  # 10 x 0.5 = 5 <= 5
        (1.2, 1.0, 1, 1, True),  # 10 -> 1
    ],
)
def test_leverage_bands(settings: Settings, atr: float, mult: float, market_max: int,
                        expected: int, capped: bool) -> None:
    lev, reasons = lv.leverage_for(atr, settings.risk, mult, market_max)
    assert lev == expected
    assert [r.code for r in reasons] == ([Code.LEVERAGE_CAPPED] if capped else [])


def test_leverage_cap_reason_in_signal(settings: Settings) -> None:
    sig = _signal(settings, btc_market(max_leverage=5), 0.8, atr=1.2, bid=63123.3, ask=63123.4)
    assert sig.leverage == 5  # 10x wanted, market max 5
    capped = next(r for r in sig.reasons if r.code == Code.LEVERAGE_CAPPED)
    assert capped.data == {"wanted": 10, "cap": 5}


def test_leverage_never_above_setting_even_if_market_allows(settings: Settings) -> None:
    lev, reasons = lv.leverage_for(0.5, settings.risk, 1.0, 125)
    assert lev == 10 and reasons == []


# --- quantity ----------------------------------------------------------------------------------


def test_position_quantity_rounds_down(settings: Settings) -> None:
    levels = lv.Levels(entry=D("100"), stop_loss=D("97"), take_profit_1=D("104.5"),
                       take_profit_2=D("107.5"))
    m = MarketInfo(symbol="X/USDT:USDT", amount_step=D("0.1"), price_tick=D("0.01"),
                   min_amount=D("0.1"), max_leverage=10)
    # 1.5% of 1000 = 15 ; 15 / 3 = 5.0 exactly
    assert lv.position_quantity(D("1000"), D("1.5"), levels, m) == D("5")
    # 1.5% of 1010 = 15.15 ; 15.15 / 3 = 5.05 -> DOWN to 5.0 (never 5.1: that would risk 15.3)
    assert lv.position_quantity(D("1010"), D("1.5"), levels, m) == D("5")
    # 1.5% of 1030 = 15.45 ; / 3 = 5.15 -> 5.1
    assert lv.position_quantity(D("1030"), D("1.5"), levels, m) == D("5.1")


def test_wait_below_min_amount(settings: Settings) -> None:
    # 1.5% of 1 USDT = 0.015 ; / 1496.0 = 0.00001 BTC -> DOWN to 0 < 0.001
    sig = _signal(settings, btc_market(), 0.8, atr=2.37, bid=63123.3, ask=63123.4, equity="1")
    assert sig.decision == "WAIT"
    assert sig.reasons[0].code == Code.BELOW_MIN_ORDER and sig.reasons[0].kind == "wait"
    assert sig.entry is None and sig.quantity is None and sig.leverage is None


def test_wait_below_min_notional(settings: Settings) -> None:
    # 0.015 / 0.00682 = 2.2 -> 2 DOGE >= min 1, but notional 2 x 0.16234 = 0.32 < 5 USDT
    sig = _signal(settings, doge_market(), 0.8, atr=4.2, bid=0.16233, ask=0.16234, equity="1")
    assert sig.decision == "WAIT"
    assert sig.reasons[0].code == Code.BELOW_MIN_ORDER


def test_wait_on_insufficient_margin(settings: Settings) -> None:
    # BTC long above: margin 0.100 x 63123.4 / 7 = 901.76 > free 10000 - 9500 = 500
    sig = _signal(settings, btc_market(), 0.8, atr=2.37, bid=63123.3, ask=63123.4,
                  margin_used="9500")
    assert sig.decision == "WAIT"
    assert sig.reasons[0].code == Code.INSUFFICIENT_MARGIN


@pytest.mark.parametrize("atr", [None, 0.0])
def test_wait_without_volatility(settings: Settings, atr: float | None) -> None:
    an = uniform_analysis("BTC/USDT:USDT", 0.8, atr_pct=atr)
    sig = evaluate_symbol(inputs(btc_market(), an, bid=63123.3, ask=63123.4),
                          btc_change_4h_pct=0.0, portfolio=portfolio(), settings=settings)
    assert sig.decision == "WAIT"
    assert sig.reasons[0].code == Code.NO_VOLATILITY
