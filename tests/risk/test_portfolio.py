"""decide(): max positions and correlation groups, strongest score first across a cycle."""

import random

import pytest

from sextant.config import Settings
from sextant.models import MarketInfo, PortfolioState, Signal
from sextant.reasons import Code
from sextant.risk import SymbolInputs, decide
from tests.risk.builders import (
    btc_market,
    default_settings,
    doge_market,
    generic_market,
    inputs,
    portfolio,
    uniform_analysis,
)

BTC, ETH, SOL, DOGE, XRP, LTC = (f"{b}/USDT:USDT" for b in ("BTC", "ETH", "SOL", "DOGE", "XRP",
                                                           "LTC"))
PRICES: dict[str, tuple[float, float]] = {
    BTC: (63123.3, 63123.4), DOGE: (0.16233, 0.16234), ETH: (2400.0, 2400.01),
    SOL: (150.0, 150.01), XRP: (2.5, 2.51), LTC: (90.0, 90.01),
}


def market(symbol: str) -> MarketInfo:
    if symbol == BTC:
        return btc_market()
    if symbol == DOGE:
        return doge_market()
    return generic_market(symbol)


def candidate(symbol: str, score: float, confidence: float = 0.7) -> SymbolInputs:
    bid, ask = PRICES[symbol]
    an = uniform_analysis(symbol, score, atr_pct=2.5, confidence=confidence)
    return inputs(market(symbol), an, bid=bid, ask=ask)


def run(settings: Settings, cands: list[SymbolInputs],
        pf: PortfolioState | None = None) -> dict[str, Signal]:
    signals = decide(cands, btc_change_4h_pct=0.0, portfolio=pf or portfolio(),
                     settings=settings)
    assert [s.symbol for s in signals] == [c.snapshot.symbol for c in cands]  # input order
    for s in signals:
        if s.decision == "WAIT":
            assert any(r.kind in ("wait", "veto", "skip") for r in s.reasons)
            assert (s.entry, s.stop_loss, s.take_profit_1, s.take_profit_2, s.leverage,
                    s.quantity, s.risk_pct, s.stop_distance_pct) == (None,) * 8
    return {s.symbol: s for s in signals}


def first_code(sig: Signal) -> str:
    return sig.reasons[0].code


FIVE = [(BTC, 0.9), (ETH, 0.8), (SOL, 0.7), (DOGE, 0.6), (XRP, 0.5)]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_five_strong_longs(settings: Settings, seed: int) -> None:
    cands = [candidate(s, v) for s, v in FIVE]
    random.Random(seed).shuffle(cands)  # the outcome never depends on input order
    out = run(settings, cands)
    # strongest first: BTC (1, group btc) -> ETH (2, layer1) -> SOL (layer1 full)
    # -> DOGE (3, memecoins) -> XRP (3 already taken)
    assert {s: out[s].decision for s in out} == {
        BTC: "LONG", ETH: "LONG", SOL: "WAIT", DOGE: "LONG", XRP: "WAIT"}
    assert first_code(out[SOL]) == Code.CORRELATION_LIMIT
    assert out[SOL].reasons[0].kind == "veto"
    assert out[SOL].reasons[0].data == {"group": "layer1", "max": 1}
    assert first_code(out[XRP]) == Code.MAX_POSITIONS
    assert out[XRP].reasons[0].data == {"open": 3, "max": 3}


def test_demoted_signal_shape(settings: Settings) -> None:
    out = run(settings, [candidate(s, v) for s, v in FIVE])
    sol = out[SOL]
    assert sol.signal_id == "sx-25031415-SOL-W"
    assert sol.score == pytest.approx(0.7)  # the analysis is kept
    assert not any(r.kind == "driver" for r in sol.reasons)
    assert out[BTC].signal_id == "sx-25031415-BTC-L"
    assert any(r.kind == "driver" for r in out[BTC].reasons)


def test_strongest_absolute_score_first_shorts_included(settings: Settings) -> None:
    cands = [candidate(s, v) for s, v in [(BTC, 0.9), (ETH, 0.8), (SOL, -0.95), (DOGE, 0.6),
                                          (XRP, 0.5)]]
    out = run(settings, cands)
    # |-0.95| first: SOL short takes layer1 ; BTC ; ETH blocked by SOL ; DOGE third ; XRP full
    assert {s: out[s].decision for s in out} == {
        BTC: "LONG", ETH: "WAIT", SOL: "SHORT", DOGE: "LONG", XRP: "WAIT"}
    assert first_code(out[ETH]) == Code.CORRELATION_LIMIT
    assert first_code(out[XRP]) == Code.MAX_POSITIONS


def test_open_positions_count_against_both_limits(settings: Settings) -> None:
    out = run(settings, [candidate(s, v) for s, v in FIVE], pf=portfolio(open_symbols=(ETH,)))
    # ETH open (1) -> BTC (2) -> SOL: layer1 has ETH -> DOGE (3) -> XRP: full
    assert first_code(out[ETH]) == Code.POSITION_OPEN
    assert out[BTC].decision == "LONG" and out[DOGE].decision == "LONG"
    assert first_code(out[SOL]) == Code.CORRELATION_LIMIT
    assert first_code(out[XRP]) == Code.MAX_POSITIONS


def test_full_book_blocks_everything(settings: Settings) -> None:
    pf = portfolio(open_symbols=("ADA/USDT:USDT", "LINK/USDT:USDT", "AVAX/USDT:USDT"))
    out = run(settings, [candidate(s, v) for s, v in FIVE], pf=pf)
    assert all(first_code(s) == Code.MAX_POSITIONS for s in out.values())


def test_waits_do_not_use_a_slot(settings: Settings) -> None:
    out = run(settings, [candidate(BTC, 0.1), candidate(ETH, 0.9), candidate(SOL, 0.2),
                         candidate(DOGE, 0.8), candidate(XRP, 0.7)])
    assert [out[s].decision for s in (ETH, DOGE, XRP)] == ["LONG"] * 3
    assert first_code(out[BTC]) == Code.SCORE_BELOW_THRESHOLD


def test_ties_break_on_confidence_then_symbol() -> None:
    one = default_settings(risk={"max_open_positions": 1})
    out = run(one, [candidate(XRP, 0.7), candidate(LTC, 0.7)])
    assert out[LTC].decision == "LONG" and out[XRP].decision == "WAIT"  # "LTC" < "XRP"
    out = run(one, [candidate(XRP, 0.7, confidence=0.9), candidate(LTC, 0.7, confidence=0.5)])
    assert out[XRP].decision == "LONG" and out[LTC].decision == "WAIT"


def test_correlation_groups_are_configurable() -> None:
    s = default_settings(risk={"correlation_groups": {"majors": [BTC, ETH, XRP]},
                               "max_per_group": 2, "max_open_positions": 5})
    out = run(s, [candidate(sym, v) for sym, v in FIVE])
    # majors: BTC and ETH take its 2 slots; SOL and DOGE are ungrouped now; XRP is the 3rd major
    assert {sym: out[sym].decision for sym in out} == {
        BTC: "LONG", ETH: "LONG", SOL: "LONG", DOGE: "LONG", XRP: "WAIT"}
    assert first_code(out[XRP]) == Code.CORRELATION_LIMIT
    assert out[XRP].reasons[0].data == {"group": "majors", "max": 2}
