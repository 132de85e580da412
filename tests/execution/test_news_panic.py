"""News-panic closes: the per-cycle cap and the market's confirmation (sextant.news.panic), and
the engine keeping the cycle's decisions once made (a redone cycle neither closes twice nor
spends the cap twice)."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from execution.engine import close_flags
from sextant.config.news import NewsSettings
from sextant.models import NewsAssessment, NewsEvent
from sextant.news.panic import plan_news_closes
from sextant.positions import Position
from tests.execution.helpers import T0, market, pos, snapshot
from tests.execution.test_paper_engine import enter, long_signal, make

H = timedelta(hours=1)


def held(symbol: str, side: str = "long", last: str = "100") -> Position:
    p = pos(side, stop="98" if side == "long" else "102", tp1="103" if side == "long" else "97",
            tp2="105" if side == "long" else "95")
    return p.model_copy(update={"position_id": f"p-{symbol}", "symbol": symbol,
                                "last_price": Decimal(last)})


def hack(symbol: str, score: float = -0.5, regime: str = "NORMAL",
         vol: float | None = 1.1) -> NewsAssessment:
    ev = NewsEvent(title=f"{symbol} bridge hacked", published_at=T0, impact=-2, critical=True)
    return NewsAssessment(symbol=symbol, available=True, score=score, regime=regime,  # type: ignore[arg-type]
                          events=[ev], veto_long=True, close_longs=True, volatility_ratio=vol)


def decisions(plan: list) -> list[tuple[str, str, bool]]:
    return [(d.symbol, d.action, d.confirmed) for d in plan]


def test_the_news_alone_closes_at_most_the_cap_worst_news_then_biggest_loser_first() -> None:
    positions = [held("A", last="99"), held("B", last="97"), held("C", last="101"),
                 held("D", last="90")]
    assert positions[1].unrealized_pnl() == Decimal("-30")  # 10 x (97 - 100): -3 %
    news = {"A": hack("A", -0.5), "B": hack("B", -0.5), "C": hack("C", -0.9),
            "D": hack("D", -0.2)}
    plan = plan_news_closes(positions, news, NewsSettings())
    # C has the worst news; of the rest A and B share a score and B (-3 %) loses more than A;
    # D loses most but its news is the mildest.
    assert decisions(plan) == [("C", "close", False), ("B", "skip", False),
                               ("A", "skip", False), ("D", "skip", False)]
    assert [r.code for d in plan for r in d.reasons] == [
        "news_panic_close", "news_panic_capped", "news_panic_capped", "news_panic_capped"]
    assert "1 of at most 1 this cycle" in plan[0].reasons[0].message
    assert plan[1].reasons[0].data["events"] == ["B bridge hacked"]
    two = plan_news_closes(positions, news, NewsSettings(max_panic_closes_per_cycle=2))
    assert [d.symbol for d in two if d.action == "close"] == ["C", "B"]


def test_closes_the_market_confirms_do_not_spend_the_cap_unless_configured() -> None:
    positions = [held(s) for s in ("A", "B", "C", "D")]
    news = {"A": hack("A", regime="PANIC", vol=3.1), "B": hack("B", -0.9),
            "C": hack("C", regime="PANIC", vol=2.6), "D": hack("D", -0.4)}
    plan = plan_news_closes(positions, news, NewsSettings())
    assert decisions(plan) == [("A", "close", True), ("C", "close", True),
                               ("B", "close", False), ("D", "skip", False)]
    assert "confirmed by the market (PANIC: volatility 3.10x" in plan[0].reasons[0].message
    strict = plan_news_closes(positions, news, NewsSettings(confirmed_closes_uncapped=False))
    assert decisions(strict) == [("A", "close", True), ("C", "skip", True),
                                 ("B", "skip", False), ("D", "skip", False)]
    assert "confirmed closes count too" in strict[1].reasons[0].message
    none = plan_news_closes(positions, news, NewsSettings(max_panic_closes_per_cycle=0))
    assert [d.symbol for d in none if d.action == "close"] == ["A", "C"]


def test_only_flagged_open_positions_are_considered() -> None:
    short = held("A", side="short")
    closed = held("B").model_copy(update={"status": "closed", "quantity": Decimal(0)})
    plan = plan_news_closes([short, closed, held("C")],
                            {"A": hack("A"), "B": hack("B"), "C": replace_news(hack("C"))},
                            NewsSettings())
    assert plan == []  # negative news never closes a short; C's news does not flag
    assert plan_news_closes([held("A")], {}, NewsSettings()) == []


def replace_news(n: NewsAssessment) -> NewsAssessment:
    return n.model_copy(update={"close_longs": False})


def test_cap_settings_are_validated() -> None:
    from sextant.config import ConfigError, load_settings

    s = load_settings()
    assert s.news.max_panic_closes_per_cycle == 1 and s.news.confirmed_closes_uncapped
    with pytest.raises(ConfigError, match="max_panic_closes_per_cycle"):
        load_settings(news={"max_panic_closes_per_cycle": -1})


@pytest.mark.anyio
async def test_the_engine_keeps_a_cycles_decisions_across_a_redo(tmp_path: Path) -> None:
    engine, _ = make(tmp_path)
    await engine.start()
    syms = ["AAA/USDT:USDT", "BBB/USDT:USDT", "CCC/USDT:USDT"]
    await enter(engine, *[long_signal(s) for s in syms])
    news = {s: hack(s, score=-0.5 - 0.1 * i) for i, s in enumerate(syms)}
    snaps = {s: snapshot(market(s), 99.0, T0 + H) for s in syms}
    act = await engine.execute([], as_of=T0 + H, cycle_id="c2", snapshots=snaps, news=news)
    assert [(f.symbol, f.reason) for f in act.fills] == [("CCC/USDT:USDT", "news_panic")]
    assert [d.action for d in act.news_closes] == ["close", "skip", "skip"]
    assert close_flags(act.news_closes) == {"CCC/USDT:USDT": (True, False)}
    # The same cycle again (a crash after the close): the same decisions, nothing more closed.
    again = await engine.execute([], as_of=T0 + H, cycle_id="c2", snapshots=snaps, news=news)
    assert again.fills == [] and again.news_closes == act.news_closes
    assert len(engine.store.open_positions()) == 2
    # The next cycle, the same story again: one more close.
    later = await engine.execute([], as_of=T0 + 2 * H, cycle_id="c3", snapshots=snaps,
                                 news=news)
    assert [f.symbol for f in later.fills] == ["BBB/USDT:USDT"]
    assert [p.symbol for p in engine.store.open_positions()] == ["AAA/USDT:USDT"]
