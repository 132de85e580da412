"""The Risk Manager's parts beyond the spec's numbers, hand-checked: the quantile stop, the
liquidation-safe leverage, cost-aware sizing, book volatility targeting, the history guard and
one-sided profiles."""

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from sextant.config import Settings
from sextant.config.math import MathSettings, required_daily_bars
from sextant.math_engine.candles import candles_from_frame
from sextant.math_engine.models import Volatility
from sextant.math_engine.volatility import adverse_excursions
from sextant.reasons import Code
from sextant.risk import evaluate_symbol
from sextant.risk import levels as lv
from tests.risk.builders import btc_market, default_settings, inputs, portfolio, uniform_analysis

D = Decimal


def frame(lows: list[float], highs: list[float], closes: list[float]) -> pd.DataFrame:
    n = len(closes)
    idx = pd.date_range("2025-01-01", periods=n, freq="1h", tz="UTC")
    return pd.DataFrame(
        {"open": closes, "high": highs, "low": lows, "close": closes, "volume": [1.0] * n},
        index=idx,
    )


def test_adverse_excursions_by_hand() -> None:
    # H = 2 bars, L = 3 excursions, the median (q = 0.5).
    s = MathSettings(excursion_horizon_hours=2, excursion_lookback_hours=24,
                     excursion_quantile=0.5)
    s = s.model_copy(update={"excursion_lookback_hours": 3})  # below the field's floor, on purpose
    closes = [100, 100, 100, 100, 100, 100, 100]
    lows = [100, 99, 98, 100, 95, 100, 100]
    highs = [100, 101, 100, 104, 100, 100, 102]
    out = adverse_excursions(candles_from_frame(frame(lows, highs, closes), "1h"), s)
    # long excursion at t (entry at close t-2, bars t-1, t): t=2: 1 - 98/100 = 2 %; t=3: 2 %;
    # t=4: 5 %; t=5: 5 %; t=6: 0 %. Median of the last 3: t=4: (2, 2, 5) -> 2; t=5: (2, 5, 5)
    # -> 5; t=6: (5, 5, 0) -> 5.
    np.testing.assert_allclose(out["adverse_long_pct"][4:], [2.0, 5.0, 5.0])
    assert np.isnan(out["adverse_long_pct"][:4]).all()
    # short: t=2: 1 %; t=3: 4 %; t=4: 4 %; t=5: 0 %; t=6: 2 % -> medians t=4: 4, t=5: 4, t=6: 2
    np.testing.assert_allclose(out["adverse_short_pct"][4:], [4.0, 4.0, 2.0])


def test_quantile_stop_is_bounded_like_the_atr_stop(settings: Settings) -> None:
    rs = settings.risk.model_copy(update={"quantile_stop_multiplier": 1.5})
    assert lv.quantile_stop_distance_pct(2.0, rs, 1.0).pct == pytest.approx(3.0)
    assert lv.quantile_stop_distance_pct(0.5, rs, 1.0).pct == 1.5  # 0.75 -> the 1.5 floor
    capped = lv.quantile_stop_distance_pct(4.0, rs, 1.2)
    assert (capped.pct, capped.raw_pct, capped.clamped) == (pytest.approx(6.0), 6.0, True)


def test_a_quantile_stop_signal() -> None:
    s = default_settings(risk={"stop_method": "quantile"})
    an = uniform_analysis("BTC/USDT:USDT", 0.8, atr_pct=2.0).model_copy(
        update={"volatility": Volatility(atr_pct_30d=2.0, adverse_long_pct=3.2,
                                         adverse_short_pct=2.1)}
    )
    sig = evaluate_symbol(inputs(btc_market(), an, bid=99_999.9, ask=100_000.0),
                          btc_change_4h_pct=0.0, portfolio=portfolio(), settings=s)
    assert sig.decision == "LONG"
    assert sig.stop_distance_pct == pytest.approx(3.2)  # the long side's quantile
    assert sig.stop_loss == D("96800.0")
    no_quantile = an.model_copy(update={"volatility": Volatility(atr_pct_30d=2.0)})
    wait = evaluate_symbol(inputs(btc_market(), no_quantile, bid=99_999.9, ask=100_000.0),
                           btc_change_4h_pct=0.0, portfolio=portfolio(), settings=s)
    assert wait.decision == "WAIT" and wait.reasons[0].code == Code.NO_VOLATILITY


@pytest.mark.parametrize(
    ("lev", "stop", "expected"),
    [
        (10, 2.0, 10),  # 2 / 0.5 + 0.5 = 4.5 % -> 100 / 4.5 = 22.2: 10x is fine
        (10, 5.0, 9),  # 10.5 % -> 9.52 -> 9x (10x liquidates 9.5 % away: before 2 x the stop)
        (5, 12.0, 4),  # 24.5 % -> 4.08 -> 4x
        (3, 45.0, 1),  # 90.5 % -> 1.1 -> 1x
    ],
)
def test_liquidation_safe_leverage(
    settings: Settings, lev: int, stop: float, expected: int
) -> None:
    got, reasons = lv.liquidation_safe_leverage(lev, stop, D("0.5"), settings.risk)
    assert got == expected
    assert [r.code for r in reasons] == ([] if got == lev else [Code.LEVERAGE_CAPPED])


def test_expected_costs_and_the_cost_aware_size(settings: Settings) -> None:
    market = btc_market()
    levels = lv.price_levels("long", 100_000.0, 5.0, market, settings.risk)  # stop 95,000
    cost = lv.expected_cost_per_unit("long", levels, settings.execution)
    # entry fill 100,050, stop fill 94,952.5: move 5,097.5; fees 0.055 % of 195,002.5 =
    # 107.251375; total 5,204.751375, i.e. 204.751375 beyond the 5,000 price move (1.041R)
    assert cost == D("204.751375")
    plain = lv.position_quantity(D(10_000), D("1.5"), levels, market)
    smart = lv.position_quantity(D(10_000), D("1.5"), levels, market, cost)
    assert (plain, smart) == (D("0.03"), D("0.028"))  # 150 / 5,000; 150 / 5,204.75 = 0.02882
    short = lv.price_levels("short", 100_000.0, 5.0, market, settings.risk)  # stop 105,000
    # entry fill 99,950, stop fill 105,052.5: 5,102.5 + 0.055 % of 205,002.5 = 112.751375
    assert lv.expected_cost_per_unit("short", short, settings.execution) == D("215.251375")


def test_cost_aware_signal_reports_the_risk_with_costs() -> None:
    s = default_settings(risk={"cost_aware_sizing": True})
    an = uniform_analysis("BTC/USDT:USDT", 0.8, atr_pct=5.0)
    sig = evaluate_symbol(inputs(btc_market(), an, bid=99_999.9, ask=100_000.0),
                          btc_change_4h_pct=0.0, portfolio=portfolio(), settings=s)
    assert sig.quantity == D("0.028")
    assert sig.risk_pct == D("1.4573")  # 0.028 x 5,204.751375 / 10,000 = 1.45733 %


def test_vol_target_by_hand() -> None:
    market = btc_market()
    # 20 %/yr of 10,000 = 2,000 a year, / sqrt(365) = 104.6847 a day; ATR 2,000 per BTC
    assert lv.vol_target_quantity(D(10_000), D(0), D(2000), 20.0, market) == D("0.052")
    # 60 of it already used by the open book: 44.68 left -> 0.022 BTC
    assert lv.vol_target_quantity(D(10_000), D(60), D(2000), 20.0, market) == D("0.022")
    assert lv.vol_target_quantity(D(10_000), D(105), D(2000), 20.0, market) == D(0)


def test_vol_target_in_a_signal() -> None:
    s = default_settings(risk={"book_vol_target_pct": 20.0})
    an = uniform_analysis("BTC/USDT:USDT", 0.8, atr_pct=2.0)  # ATR 2,000 at 100,000
    book = portfolio().model_copy(update={"open_daily_vol": D(60)})
    sig = evaluate_symbol(inputs(btc_market(), an, bid=99_999.9, ask=100_000.0),
                          btc_change_4h_pct=0.0, portfolio=book, settings=s)
    assert sig.atr == D("2000.0")
    assert sig.quantity == D("0.022")  # the risk size (150 / 2,000 = 0.075) cut by the target
    assert Code.SIZE_VOL_TARGETED in [r.code for r in sig.reasons]
    full = book.model_copy(update={"open_daily_vol": D(104)})
    wait = evaluate_symbol(inputs(btc_market(), an, bid=99_999.9, ask=100_000.0),
                           btc_change_4h_pct=0.0, portfolio=full, settings=s)
    assert wait.decision == "WAIT" and wait.reasons[0].code == Code.BOOK_VOLATILITY_FULL


def test_history_guard() -> None:
    assert required_daily_bars(MathSettings()) == 210  # MA200 + its 10-bar slope
    s = default_settings(risk={"history_guard": True})
    for bars, decision in ((209, "WAIT"), (210, "LONG")):
        an = uniform_analysis("BTC/USDT:USDT", 0.8).model_copy(update={"daily_bars": bars})
        sig = evaluate_symbol(inputs(btc_market(), an, bid=99_999.9, ask=100_000.0),
                              btc_change_4h_pct=0.0, portfolio=portfolio(), settings=s)
        assert sig.decision == decision
        if decision == "WAIT":
            assert sig.reasons[0].code == Code.HISTORY_GUARD
    with pytest.raises(Exception, match="history_guard needs 400"):
        default_settings(risk={"history_guard": True, "history_guard_daily_bars": 400})


def test_one_sided_profiles() -> None:
    s = default_settings(risk={"trade_sides": "long"})
    an = uniform_analysis("BTC/USDT:USDT", -0.8)
    sig = evaluate_symbol(inputs(btc_market(), an, bid=99_999.9, ask=100_000.0),
                          btc_change_4h_pct=0.0, portfolio=portfolio(), settings=s)
    assert sig.decision == "WAIT" and sig.reasons[0].code == Code.SIDE_DISABLED
    long_ = evaluate_symbol(inputs(btc_market(), uniform_analysis("BTC/USDT:USDT", 0.8),
                                   bid=99_999.9, ask=100_000.0),
                            btc_change_4h_pct=0.0, portfolio=portfolio(), settings=s)
    assert long_.decision == "LONG"
