"""Each symbol-level veto: its reason code, its kind, and the side it blocks."""

from datetime import timedelta

import pytest

from sextant.config import Settings
from sextant.models import FundingInfo, NewsAssessment, PortfolioState, Side, Signal
from sextant.reasons import Code
from sextant.risk import evaluate_symbol
from tests.risk.builders import (
    AS_OF,
    btc_market,
    inputs,
    news,
    portfolio,
    uniform_analysis,
)

SYM = "BTC/USDT:USDT"


def evaluate(
    settings: Settings,
    side: Side,
    *,
    funding: FundingInfo | None = None,
    btc_4h: float | None = 0.0,
    daily_veto: Side | None = None,
    news_: NewsAssessment | None = None,
    pf: PortfolioState | None = None,
) -> Signal:
    value = 0.8 if side == "long" else -0.8
    an = uniform_analysis(SYM, value, atr_pct=2.37, daily_veto=daily_veto)
    return evaluate_symbol(
        inputs(btc_market(), an, bid=63123.3, ask=63123.4, news_=news_, funding=funding),
        btc_change_4h_pct=btc_4h, portfolio=pf or portfolio(), settings=settings,
    )


def assert_vetoed(sig: Signal, code: Code) -> None:
    assert sig.decision == "WAIT", sig.reasons
    veto = [r for r in sig.reasons if r.code == code]
    assert veto and veto[0].kind == "veto", sig.reasons
    assert sig.entry is None and sig.stop_loss is None and sig.quantity is None
    assert sig.signal_id.endswith("-W")


def assert_passes(sig: Signal, side: Side) -> None:
    assert sig.decision == ("LONG" if side == "long" else "SHORT"), sig.reasons
    assert not any(r.kind == "veto" for r in sig.reasons)


def test_baseline_long_and_short_pass(settings: Settings) -> None:
    assert_passes(evaluate(settings, "long"), "long")
    assert_passes(evaluate(settings, "short"), "short")


# --- funding -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "interval", "blocked"),
    [
        (0.0026, 8, "long"),  # +0.26 %/8h > 0.25: longs pay it
        (-0.0026, 8, "short"),  # -0.26 %/8h: shorts pay it
        (0.0001, 8, None),  # 0.01 %/8h: the usual rate passes both sides
        (-0.0001, 8, None),
        (0.0025, 8, None),  # exactly 0.25 %/8h: not beyond the limit
        (0.0015, 4, "long"),  # 0.15 % per 4h = 0.30 % per 8h
        (0.001, 1, "long"),  # 0.1 % per 1h = 0.8 % per 8h
    ],
)
def test_funding_veto(settings: Settings, rate: float, interval: float,
                      blocked: Side | None) -> None:
    funding = FundingInfo(rate=rate, interval_hours=interval)
    for side in ("long", "short"):
        sig = evaluate(settings, side, funding=funding)
        if side == blocked:
            assert_vetoed(sig, Code.FUNDING_AGAINST)
            veto = next(r for r in sig.reasons if r.code == Code.FUNDING_AGAINST)
            assert veto.data["funding_pct_8h"] == pytest.approx(rate * 100 * 8 / interval)
        else:
            assert_passes(sig, side)


def test_no_funding_data_is_no_veto(settings: Settings) -> None:
    assert_passes(evaluate(settings, "long", funding=None), "long")


# --- BTC dump ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "long_blocked"),
    [(-2.1, True), (-7.0, True), (-2.0, False), (-1.5, False), (3.0, False), (None, False)],
)
def test_btc_dump_blocks_longs_only(settings: Settings, change: float | None,
                                    long_blocked: bool) -> None:
    long = evaluate(settings, "long", btc_4h=change)
    if long_blocked:
        assert_vetoed(long, Code.BTC_DUMP)
    else:
        assert_passes(long, "long")
    assert_passes(evaluate(settings, "short", btc_4h=change), "short")


# --- daily timeframe and news ------------------------------------------------------------------


def test_daily_veto(settings: Settings) -> None:
    sig = evaluate(settings, "long", daily_veto="long")
    assert_vetoed(sig, Code.DAILY_VETO)
    assert next(r for r in sig.reasons if r.code == Code.DAILY_VETO).message == (
        "1d disagrees: vetoes long")
    assert_vetoed(evaluate(settings, "short", daily_veto="short"), Code.DAILY_VETO)
    # the daily veto is directional
    assert_passes(evaluate(settings, "short", daily_veto="long"), "short")
    assert_passes(evaluate(settings, "long", daily_veto="short"), "long")


def test_news_veto(settings: Settings) -> None:
    against_longs = news(SYM, score=0.0, veto_long=True)
    assert_vetoed(evaluate(settings, "long", news_=against_longs), Code.NEWS_VETO)
    assert_passes(evaluate(settings, "short", news_=against_longs), "short")
    against_shorts = news(SYM, score=0.0, veto_short=True)
    assert_vetoed(evaluate(settings, "short", news_=against_shorts), Code.NEWS_VETO)
    assert_passes(evaluate(settings, "long", news_=against_shorts), "long")


# --- circuit breaker and open position ---------------------------------------------------------


@pytest.mark.parametrize(
    ("day_pnl", "blocked"),
    [("-500", True),  # -500 / 10000 = -5.00 %: at the limit trips
     ("-800", True),  # -8 %
     ("-499.99", False),  # -4.9999 %
     ("250", False)],
)
def test_circuit_breaker_day_pnl(settings: Settings, day_pnl: str, blocked: bool) -> None:
    pf = portfolio("10000", day_pnl=day_pnl)
    for side in ("long", "short"):
        sig = evaluate(settings, side, pf=pf)
        if blocked:
            assert_vetoed(sig, Code.CIRCUIT_BREAKER)
        else:
            assert_passes(sig, side)


@pytest.mark.parametrize(
    ("offset", "blocked"),
    [(timedelta(hours=1), True), (timedelta(seconds=1), True), (timedelta(0), False),
     (timedelta(hours=-1), False)],
)
def test_circuit_breaker_until(settings: Settings, offset: timedelta, blocked: bool) -> None:
    pf = portfolio("10000", circuit_breaker_until=AS_OF + offset)
    sig = evaluate(settings, "long", pf=pf)
    if blocked:
        assert_vetoed(sig, Code.CIRCUIT_BREAKER)
    else:
        assert_passes(sig, "long")


def test_position_already_open(settings: Settings) -> None:
    pf = portfolio(open_symbols=(SYM,))
    assert_vetoed(evaluate(settings, "long", pf=pf), Code.POSITION_OPEN)
    assert_vetoed(evaluate(settings, "short", pf=pf), Code.POSITION_OPEN)
    assert_passes(evaluate(settings, "long", pf=portfolio(open_symbols=("ETH/USDT:USDT",))),
                  "long")


def test_every_applicable_veto_is_reported(settings: Settings) -> None:
    sig = evaluate(settings, "long", funding=FundingInfo(rate=0.003), btc_4h=-3.0,
                   daily_veto="long", pf=portfolio(day_pnl="-600"))
    codes = [r.code for r in sig.reasons if r.kind == "veto"]
    assert set(codes) == {Code.FUNDING_AGAINST, Code.BTC_DUMP, Code.DAILY_VETO,
                          Code.CIRCUIT_BREAKER}


def test_vetoes_do_not_apply_to_a_score_wait(settings: Settings) -> None:
    an = uniform_analysis(SYM, 0.1)
    sig = evaluate_symbol(inputs(btc_market(), an, bid=1.0, ask=1.0,
                                 funding=FundingInfo(rate=0.01)),
                          btc_change_4h_pct=-9.0, portfolio=portfolio(day_pnl="-900"),
                          settings=settings)
    assert sig.decision == "WAIT"
    assert [r.code for r in sig.reasons if r.kind != "info"] == [Code.SCORE_BELOW_THRESHOLD]


# --- ids and WAIT shape ------------------------------------------------------------------------


def test_signal_ids_are_deterministic(settings: Settings) -> None:
    a = evaluate(settings, "long")
    b = evaluate(settings, "long")
    assert a.signal_id == b.signal_id == "sx-25031415-BTC-L"
    assert a == b
    assert evaluate(settings, "short").signal_id == "sx-25031415-BTC-S"
    assert evaluate(settings, "long", btc_4h=-5).signal_id == "sx-25031415-BTC-W"
    # same hour, later minute: same id (a repeated cycle cannot open twice)
    an = uniform_analysis(SYM, 0.8, atr_pct=2.37)
    later = evaluate_symbol(
        inputs(btc_market(), an, bid=63123.3, ask=63123.4, as_of=AS_OF + timedelta(minutes=42)),
        btc_change_4h_pct=0.0, portfolio=portfolio(), settings=settings)
    assert later.signal_id == a.signal_id
    next_hour = evaluate_symbol(
        inputs(btc_market(), an, bid=63123.3, ask=63123.4, as_of=AS_OF + timedelta(hours=1)),
        btc_change_4h_pct=0.0, portfolio=portfolio(), settings=settings)
    assert next_hour.signal_id == "sx-25031416-BTC-L"
    assert len(a.signal_id) <= 30  # room for a suffix in Bybit's 36-char orderLinkId
