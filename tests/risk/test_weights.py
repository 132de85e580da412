"""Effective weights by regime, redistribution of unavailable components, news driver, score."""

import pytest

from sextant.config import Settings
from sextant.models import Side, Signal
from sextant.reasons import Code
from sextant.risk import evaluate_symbol
from sextant.risk.weights import (
    base_weights,
    effective_weights,
    final_score,
    regime_family,
    weight_table,
)
from tests.risk.builders import analysis, btc_market, inputs, news, portfolio

ALL = {"trend": 0.1, "momentum": 0.1, "volume": 0.1, "open_interest": 0.1, "news": 0.1}
NO_OI_NO_NEWS = {**ALL, "open_interest": None, "news": None}
NO_NEWS = {**ALL, "news": None}
NO_OI = {**ALL, "open_interest": None}
NONE: dict[str, float | None] = dict.fromkeys(ALL)


def approx(d: dict[str, float]) -> dict[str, object]:
    return {k: pytest.approx(v, abs=1e-12) for k, v in d.items()}


@pytest.mark.parametrize(
    ("regime", "family"),
    [("trending_up", "trending"), ("trending_down", "trending"), ("ranging", "ranging"),
     ("volatile", "volatile"), ("something_else", "ranging")],
)
def test_regime_family(regime: str, family: str) -> None:
    assert regime_family(regime) == family


def test_base_weights_are_the_config_defaults(settings: Settings) -> None:
    rs = settings.risk
    assert base_weights("trending_up", rs) == approx(
        {"trend": 0.45, "momentum": 0.15, "volume": 0.10, "open_interest": 0.15, "news": 0.15})
    assert base_weights("ranging", rs) == approx(
        {"trend": 0.35, "momentum": 0.30, "volume": 0.05, "open_interest": 0.15, "news": 0.15})
    assert base_weights("volatile", rs) == approx(
        {"trend": 0.40, "momentum": 0.20, "volume": 0.05, "open_interest": 0.15, "news": 0.20})


@pytest.mark.parametrize(
    ("regime", "components", "expected"),
    [
        # everything available: the base weights unchanged
        ("trending_up", ALL,
         {"trend": 0.45, "momentum": 0.15, "volume": 0.10, "open_interest": 0.15, "news": 0.15}),
        # trending, no OI, no news: 0.45 + 0.15 + 0.10 = 0.70 remain
        ("trending_up", NO_OI_NO_NEWS,
         {"trend": 0.45 / 0.70,  # 0.642857...
          "momentum": 0.15 / 0.70,  # 0.214285...
          "volume": 0.10 / 0.70,  # 0.142857...
          "open_interest": 0.0, "news": 0.0}),
        # ranging, no OI, no news: 0.35 + 0.30 + 0.05 = 0.70
        ("ranging", NO_OI_NO_NEWS,
         {"trend": 0.5,  # 0.35 / 0.70
          "momentum": 0.30 / 0.70,  # 0.428571...
          "volume": 0.05 / 0.70,  # 0.071428...
          "open_interest": 0.0, "news": 0.0}),
        # volatile, no OI, no news: 0.40 + 0.20 + 0.05 = 0.65
        ("volatile", NO_OI_NO_NEWS,
         {"trend": 0.40 / 0.65,  # 0.615384...
          "momentum": 0.20 / 0.65,  # 0.307692...
          "volume": 0.05 / 0.65,  # 0.076923...
          "open_interest": 0.0, "news": 0.0}),
        # trending, no news only: 1 - 0.15 = 0.85 remain
        ("trending_down", NO_NEWS,
         {"trend": 0.45 / 0.85,  # 0.529411...
          "momentum": 0.15 / 0.85,  # 0.176470...
          "volume": 0.10 / 0.85,  # 0.117647...
          "open_interest": 0.15 / 0.85,  # 0.176470...
          "news": 0.0}),
        # volatile, no OI only: 1 - 0.15 = 0.85 remain
        ("volatile", NO_OI,
         {"trend": 0.40 / 0.85,  # 0.470588...
          "momentum": 0.20 / 0.85,  # 0.235294...
          "volume": 0.05 / 0.85,  # 0.058823...
          "open_interest": 0.0,
          "news": 0.20 / 0.85}),  # 0.235294...
        # nothing available: all zero
        ("ranging", NONE, dict.fromkeys(ALL, 0.0)),
    ],
)
def test_effective_weights(
    settings: Settings, regime: str, components: dict[str, float | None],
    expected: dict[str, float],
) -> None:
    got = effective_weights(base_weights(regime, settings.risk), components)
    assert got == approx(expected)
    assert set(got) == set(ALL)


def test_trending_without_oi_and_news_trend_weight_literal(settings: Settings) -> None:
    got = effective_weights(base_weights("trending_up", settings.risk), NO_OI_NO_NEWS)
    assert got["trend"] == pytest.approx(0.642857142857, abs=1e-9)  # 0.45 / 0.70


def test_zero_valued_component_is_available_not_missing(settings: Settings) -> None:
    comps = {**ALL, "open_interest": 0.0}
    got = effective_weights(base_weights("trending_up", settings.risk), comps)
    assert got["open_interest"] == pytest.approx(0.15)  # 0.0 is a reading, not "unavailable"


def test_news_override_scales_the_others() -> None:
    base = {"trend": 0.45, "momentum": 0.15, "volume": 0.10, "open_interest": 0.15, "news": 0.15}
    got = effective_weights(base, ALL, news_weight_override=0.20)
    # the others share 1 - 0.20 = 0.80 in their 0.85 proportions: scale 0.80 / 0.85 = 0.941176...
    s = 0.80 / 0.85
    assert got == approx({"trend": 0.45 * s,  # 0.423529...
                          "momentum": 0.15 * s,  # 0.141176...
                          "volume": 0.10 * s,  # 0.094117...
                          "open_interest": 0.15 * s,  # 0.141176...
                          "news": 0.20})


def test_final_score_hand_checked(settings: Settings) -> None:
    comps = {"trend": 0.8, "momentum": 0.5, "volume": -0.2, "open_interest": None, "news": None}
    w = effective_weights(base_weights("trending_up", settings.risk), comps)
    # (0.45*0.8 + 0.15*0.5 + 0.10*(-0.2)) / 0.70 = (0.36 + 0.075 - 0.02) / 0.70 = 0.592857...
    assert final_score(comps, w) == pytest.approx(0.415 / 0.70, abs=1e-12)


def test_final_score_is_clamped() -> None:
    # 1.0*1 + 0.5*1 = 1.5 -> clamped to 1; mirrored to -1
    assert final_score({"trend": 1.0, "momentum": 1.0}, {"trend": 1.0, "momentum": 0.5}) == 1.0
    assert final_score({"trend": -1.0, "momentum": -1.0}, {"trend": 1.0, "momentum": 0.5}) == -1.0


def test_signal_shows_effective_weights_and_unavailable_reasons(settings: Settings) -> None:
    an = analysis("BTC/USDT:USDT", trend=0.8, momentum=0.5, volume=-0.2, regime="trending_up")
    sig = evaluate_symbol(inputs(btc_market(), an, bid=63123.3, ask=63123.4),
                          btc_change_4h_pct=0.0, portfolio=portfolio(), settings=settings)
    assert sig.decision == "LONG"
    assert sig.score == pytest.approx(0.592857, abs=1e-6)  # 0.415 / 0.70, see above
    assert sig.weights == {"trend": 0.642857, "momentum": 0.214286, "volume": 0.142857,
                           "open_interest": 0.0, "news": 0.0}
    assert sig.components["open_interest"] is None and sig.components["news"] is None
    codes = {r.code for r in sig.reasons}
    assert {Code.COMPONENT_UNAVAILABLE, Code.NEWS_UNAVAILABLE} <= codes


def test_missing_regime_uses_ranging_weights(settings: Settings) -> None:
    an = analysis("BTC/USDT:USDT", trend=0.8, momentum=0.5, volume=-0.2, regime=None)
    sig = evaluate_symbol(inputs(btc_market(), an, bid=63123.3, ask=63123.4),
                          btc_change_4h_pct=0.0, portfolio=portfolio(), settings=settings)
    assert sig.regime == "ranging"
    # (0.35*0.8 + 0.30*0.5 + 0.05*(-0.2)) / 0.70 = (0.28 + 0.15 - 0.01) / 0.70 = 0.6
    assert sig.score == pytest.approx(0.6, abs=1e-6)


class TestNewsDriver:
    def _eval(self, settings: Settings, trend: float, news_score: float, driver: Side | None,
              momentum: float = 0.5, volume: float = 0.4, oi: float = 0.3) -> Signal:
        an = analysis("BTC/USDT:USDT", trend=trend, momentum=momentum, volume=volume,
                      open_interest=oi, regime="trending_up")
        nw = news("BTC/USDT:USDT", score=news_score, driver=driver)
        return evaluate_symbol(inputs(btc_market(), an, bid=63123.3, ask=63123.4, news_=nw),
                               btc_change_4h_pct=0.0, portfolio=portfolio(), settings=settings)

    def test_driver_in_the_trade_direction_lifts_news_weight(self, settings: Settings) -> None:
        sig = self._eval(settings, trend=0.6, news_score=0.9, driver="long")
        # raw: 0.45*0.6 + 0.15*0.5 + 0.10*0.4 + 0.15*0.3 + 0.15*0.9
        #    = 0.27 + 0.075 + 0.04 + 0.045 + 0.135 = 0.565 (> 0: a long; driver agrees)
        assert sig.raw_score == pytest.approx(0.565, abs=1e-6)
        # news 0.20, others x 0.80/0.85: (0.80/0.85)*0.43 + 0.20*0.9 = 0.404706 + 0.18 = 0.584706
        assert sig.score == pytest.approx(0.8 / 0.85 * 0.43 + 0.18, abs=1e-6)
        assert sig.weights["news"] == pytest.approx(0.20)
        assert sig.weights["trend"] == pytest.approx(0.45 * 0.8 / 0.85, abs=1e-6)  # 0.423529
        assert sum(sig.weights.values()) == pytest.approx(1.0, abs=1e-5)
        assert any(r.code == Code.NEWS_DRIVER and r.kind == "driver" for r in sig.reasons)

    def test_driver_against_the_direction_changes_nothing(self, settings: Settings) -> None:
        sig = self._eval(settings, trend=0.6, news_score=0.9, driver="short")
        assert sig.score == pytest.approx(0.565, abs=1e-6)  # the raw score, base weights
        assert sig.weights["news"] == pytest.approx(0.15)
        assert not any(r.code == Code.NEWS_DRIVER for r in sig.reasons)

    def test_driver_can_turn_a_wait_into_a_long(self, settings: Settings) -> None:
        sig = self._eval(settings, trend=0.35, momentum=0.35, volume=0.35, oi=0.35,
                         news_score=1.0, driver="long")
        # raw: 0.85*0.35 + 0.15*1.0 = 0.2975 + 0.15 = 0.4475 (< 0.45, would be WAIT)
        # driven: 0.80*0.35 + 0.20*1.0 = 0.28 + 0.20 = 0.48 (> 0.45)
        assert sig.raw_score == pytest.approx(0.4475, abs=1e-6)
        assert sig.score == pytest.approx(0.48, abs=1e-6)
        assert sig.decision == "LONG"

    def test_no_override_without_a_news_score(self, settings: Settings) -> None:
        an = analysis("BTC/USDT:USDT", trend=0.6, momentum=0.5, volume=0.4, open_interest=0.3)
        nw = news("BTC/USDT:USDT", score=None, driver="long")
        sig = evaluate_symbol(inputs(btc_market(), an, bid=63123.3, ask=63123.4, news_=nw),
                              btc_change_4h_pct=0.0, portfolio=portfolio(), settings=settings)
        assert sig.weights["news"] == 0.0
        assert not any(r.code == Code.NEWS_DRIVER for r in sig.reasons)


@pytest.mark.parametrize(("value", "decision"), [(0.46, "LONG"), (0.44, "WAIT"),
                                                  (-0.44, "WAIT"), (-0.46, "SHORT")])
def test_thresholds(settings: Settings, value: float, decision: str) -> None:
    # trend only: weight 1, so the score is the trend value
    an = analysis("BTC/USDT:USDT", trend=value)
    sig = evaluate_symbol(inputs(btc_market(), an, bid=63123.3, ask=63123.4),
                          btc_change_4h_pct=0.0, portfolio=portfolio(), settings=settings)
    assert sig.score == pytest.approx(value)
    assert sig.decision == decision
    if decision == "WAIT":
        assert sig.reasons[0].code == Code.SCORE_BELOW_THRESHOLD
        assert sig.reasons[0].kind == "wait"


# --- capped redistribution: never above the spec's ranges -----------------------------------


def test_capped_trending_without_oi_and_news_by_hand(settings: Settings) -> None:
    base = base_weights("trending_up", settings.risk)  # .45 .15 .10 .15 .15
    got = effective_weights(base, NO_OI_NO_NEWS, mode="capped")
    # 0.30 missing; trend (0.45) and volume (0.10) are at the top of their ranges already, so
    # momentum takes it up to its top 0.35 (+0.20); the last 0.10 is left out: sum 0.90.
    assert got == approx({"trend": 0.45, "momentum": 0.35, "volume": 0.10,
                          "open_interest": 0.0, "news": 0.0})


def test_capped_ranging_without_news_by_hand(settings: Settings) -> None:
    base = base_weights("ranging", settings.risk)  # .35 .30 .05 .15 .15
    comps = {**ALL, "news": None}
    got = effective_weights(base, comps, mode="capped")
    # 0.15 pro rata to trend/momentum/volume/OI (0.85 in all): trend +0.061765, momentum
    # +0.052941 -> 0.352941 > 0.35: capped, spill 0.002941; OI is at its top (0.15): spill
    # 0.026471; volume +0.008824. Round two: the 0.029412 spilled goes to trend and volume
    # pro rata 0.35:0.05 -> trend 0.4375, volume 0.0625; the weights sum to 1 again.
    assert got == approx({"trend": 0.4375, "momentum": 0.35, "volume": 0.0625,
                          "open_interest": 0.15, "news": 0.0})


def test_capped_equals_proportional_when_everything_is_there(settings: Settings) -> None:
    for regime in ("trending_up", "ranging", "volatile"):
        base = base_weights(regime, settings.risk)
        assert effective_weights(base, ALL, mode="capped") == approx(
            effective_weights(base, ALL)
        )


def test_weight_table_flags_what_leaves_the_spec_ranges(settings: Settings) -> None:
    rows = {(r["regime"], r["case"]): r for r in weight_table(settings.risk)}
    usual = rows[("trending", "no open interest, no news")]
    assert usual["weights"]["trend"] == pytest.approx(0.642857, abs=1e-6)
    assert usual["outside"] == ["trend", "volume"]
    assert rows[("trending", "all five")]["outside"] == []
    capped = settings.model_copy(
        update={"risk": settings.risk.model_copy(update={"weight_redistribution": "capped"})}
    )
    assert all(not r["outside"] for r in weight_table(capped.risk))
