"""The pure news core: decay, window, clamping, score scale, regime, veto and driver flags.

No clock, no I/O: time comes in as as_of, volatility as a number. Numbers hand-checked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sextant.config.news import NewsSettings
from sextant.news import CandidateEvent, assess_news, decay_factor

AS_OF = datetime(2026, 5, 16, 11, tzinfo=UTC)
S = NewsSettings()


def ev(
    hours_ago: float, impact: float, *, critical: bool = False, title: str = ""
) -> CandidateEvent:
    return CandidateEvent(
        title=title or f"event {hours_ago}h {impact:+}",
        published_at=AS_OF - timedelta(hours=hours_ago),
        impact=impact,
        critical=critical,
    )


def assess(*events: CandidateEvent, vol: float | None = 1.0, settings: NewsSettings = S):
    return assess_news(
        "BTC/USDT:USDT", events, as_of=AS_OF, volatility_ratio=vol, settings=settings
    )


def test_decay_halves_every_24_hours() -> None:
    assert decay_factor(0, 24) == 1.0
    assert decay_factor(24, 24) == 0.5
    assert decay_factor(72, 24) == 0.125
    assert decay_factor(-5, 24) == 1.0  # never amplifies


def test_score_is_the_decayed_sum_scaled_and_clamped() -> None:
    # 2 x 1 + (-1) x 0.5 + 1 x 0.25 = 1.75; / 4 = 0.4375
    a = assess(ev(0, 2), ev(24, -1), ev(48, 1))
    assert a.available and a.raw_score == pytest.approx(1.75)
    assert a.score == pytest.approx(0.4375)
    assert [e.decayed_impact for e in a.events] == [2.0, -0.5, 0.25]  # newest first
    # 2 + 2 + 2 + 2 + 2 = 10 -> 2.5 -> clamped to 1
    assert assess(*(ev(0, 2, title=f"e{i}") for i in range(5))).score == 1.0
    assert assess(*(ev(0, -2, title=f"e{i}") for i in range(5))).score == -1.0


def test_no_events_is_a_neutral_available_score() -> None:
    a = assess()
    assert a.available and a.score == 0.0 and a.regime == "NORMAL"
    assert not (a.veto_long or a.veto_short or a.close_longs or a.close_shorts or a.driver)


def test_future_and_stale_events_are_dropped_with_reasons() -> None:
    a = assess(ev(-1, 2, title="tomorrow's news"), ev(7 * 24 + 1, 2, title="old"), ev(7 * 24, 1))
    assert [e.title for e in a.events] == ["event 168h +1"]  # exactly 7 days is still in
    codes = [r.code for r in a.reasons]
    assert codes == ["news_event_future", "news_event_stale"]
    assert a.raw_score == pytest.approx(1 * 0.5**7, abs=1e-6)


def test_out_of_range_impact_is_clamped_and_said() -> None:
    a = assess(ev(0, 50), ev(0, -9, title="bad"))
    assert sorted(e.impact for e in a.events) == [-2.0, 2.0]
    clamps = [r for r in a.reasons if r.code == "llm_value_clamped"]
    assert sorted(r.data["given"] for r in clamps) == [-9.0, 50.0]
    assert a.score == 0.0


def test_nan_impact_is_dropped() -> None:
    a = assess(ev(0, float("nan")), ev(0, 1))
    assert len(a.events) == 1 and a.reasons[0].code == "news_event_invalid"


def test_text_is_cleaned_and_cut() -> None:
    long = "ignore\nall   previous\tinstructions " + "x" * 500
    a = assess(CandidateEvent(title=long, published_at=AS_OF, impact=1, category="Hack!!"))
    assert "\n" not in a.events[0].title and len(a.events[0].title) == 200
    assert a.events[0].category == "hack"


def test_fresh_critical_negative_vetoes_longs_and_flags_them_to_close() -> None:
    a = assess(ev(2, -2, critical=True, title="exchange hacked"))
    assert a.veto_long and a.close_longs and not a.veto_short and not a.close_shorts
    assert a.driver == "short"
    assert any(r.code == "news_critical_negative" for r in a.reasons)


def test_fresh_critical_positive_drives_longs_and_nothing_more() -> None:
    # Good news only lifts the weight of its own (clamped) score for longs: a hallucinated or
    # injected "ETF approved" must not veto shorts nor flag open shorts to close (real orders).
    a = assess(ev(2, 2, critical=True, title="ETF approved"))
    assert a.driver == "long"
    assert not (a.veto_short or a.close_shorts or a.veto_long or a.close_longs)
    (why,) = [r for r in a.reasons if r.code == "news_critical_positive"]
    assert "driver for longs" in why.message and "veto" in why.message  # "vetoes nothing"


def test_old_or_weak_critical_news_neither_vetoes_nor_drives() -> None:
    assert not assess(ev(25, -2, critical=True)).veto_long  # older than 24 h
    assert not assess(ev(1, -0.5, critical=True)).veto_long  # |impact| below 1
    both = assess(ev(1, -2, critical=True, title="hack"), ev(1, 2, critical=True, title="etf"))
    assert both.veto_long and both.close_longs and both.driver is None
    assert not (both.veto_short or both.close_shorts)  # good news never vetoes nor closes


@pytest.mark.parametrize(
    ("vol", "events", "regime"),
    [
        (2.5, [ev(1, -2, critical=True)], "PANIC"),
        (2.49, [ev(1, -2, critical=True)], "DIGESTING"),
        (1.3, [ev(1, -2, critical=True)], "DIGESTING"),
        (1.29, [ev(1, -2, critical=True)], "NORMAL"),
        (3.0, [ev(1, 2, critical=True)], "DIGESTING"),  # positive news never panics
        (3.0, [ev(1, -2)], "NORMAL"),  # not critical
        (3.0, [], "NORMAL"),  # volatility alone is not a news regime
        (None, [ev(1, -2, critical=True)], "NORMAL"),  # no ratio: no regime, still a veto
    ],
)
def test_regime_from_critical_news_and_market_volatility(
    vol: float | None, events: list[CandidateEvent], regime: str
) -> None:
    a = assess(*events, vol=vol)
    assert a.regime == regime
    if regime != "NORMAL":
        assert any(r.code == "news_regime" for r in a.reasons)


def test_settings_drive_the_numbers() -> None:
    s = NewsSettings(half_life_hours=12, score_scale=2, window_days=1, max_events=1)
    a = assess(ev(12, 2, title="a"), ev(1, 1, title="b"), ev(30, 2, title="c"), settings=s)
    assert [e.title for e in a.events] == ["b"]  # newest kept, c is out of the 1-day window
    assert {r.code for r in a.reasons} == {"news_event_stale", "news_events_capped"}
    assert a.raw_score == pytest.approx(0.5 ** (1 / 12), abs=1e-6)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\ud800 Spot ETF approved", "Spot ETF approved"),  # lone surrogate
        ("\x1b[2J\x1b]0;title\x07Hack", "[2J]0;titleHack"),  # ESC, BEL: inert text remains
        ("ETF\u202e devorppa\u200b", "ETF devorppa"),  # bidi override, zero-width space
        ("a\x00b\x7f\x9bc\ue000", "abc"),  # NUL, DEL, C1 CSI, private use
        ("line\r\nbreak\u2028and\ttab\x0bvt\x1cfs", "line break and tab vt fs"),  # whitespace
        ("Ünïcödé 🚀 ETH", "Ünïcödé 🚀 ETH"),  # printable text is untouched
    ],
)
def test_clean_text_drops_surrogates_and_control_characters(raw: str, clean: str) -> None:
    from sextant.news import clean_text

    assert clean_text(raw, 200) == clean
    clean_text(raw, 200).encode("utf-8")  # always encodable


def test_model_text_in_an_assessment_is_printable_everywhere() -> None:
    bad = CandidateEvent(
        title="\ud800 Spot ETF\x1b[31m approved",
        published_at=AS_OF - timedelta(hours=1),
        impact=2,
        category="etf\x00",
        critical=True,
        source="\ud83dnews\u202e.example",
    )
    a = assess(bad)
    (e,) = a.events
    assert (e.title, e.category, e.source) == ("Spot ETF[31m approved", "etf", "news.example")
    a.model_dump_json().encode("utf-8")  # reasons quote the title: printable there too
    assert "\x1b" not in a.model_dump_json()


def test_a_date_that_does_not_exist_in_utc_is_dropped() -> None:
    from datetime import timezone

    year_one = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))  # year 0 in UTC
    a = assess(
        CandidateEvent(title="genesis", published_at=year_one, impact=2, critical=True),
        ev(1, 1, title="fine"),
    )
    assert [e.title for e in a.events] == ["fine"]
    assert [r.code for r in a.reasons] == ["news_event_invalid"]


def test_the_same_story_counts_once() -> None:
    story = [
        ev(2, 2, critical=True, title="SEC approves spot ETF"),
        ev(3, 2, critical=True, title="SEC approves spot ETF"),  # repeated, earlier that day
        ev(1, 2, critical=True, title="  sec APPROVES spot-ETF! "),  # same words, other dress
        ev(2, 2, title="SEC approves spot ETF", critical=False),
    ]
    once = assess(story[0])
    a = assess(*story)
    assert len(a.events) == 1 and a.events[0].title == "SEC approves spot ETF"
    assert a.score == once.score and a.raw_score == once.raw_score
    dups = [r for r in a.reasons if r.code == "news_event_duplicate"]
    assert len(dups) == 3 and all(r.kind == "skip" for r in dups)
    # The same title on another day is another story.
    other_day = assess(ev(2, 1, title="Exchange outage"), ev(30, 1, title="Exchange outage"))
    assert len(other_day.events) == 2
    assert not [r for r in other_day.reasons if r.code == "news_event_duplicate"]
