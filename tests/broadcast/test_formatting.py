"""Post texts: escaping, plain words, limits, the disclaimer. Checked with the fake's HTML parser
(a port of Telegram's), so a post that passes here is one Telegram accepts."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sextant.events import MarketPulse, Mover, WaitItem
from sextant.models import Reason
from tests.broadcast.helpers import AS_OF, MODEL_TEXT, entry, exit_event, news, position, signal
from tests.fakes.telegram_server import parse_html
from tools.broadcast.formatting import (
    CAPTION_LIMIT,
    RESEND_ROOM,
    TEXT_LIMIT,
    entry_posts,
    esc,
    exit_body,
    finish,
    plain,
    positions_body,
    price,
    pulse_body,
    signed,
    stats_body,
    status_body,
    text_budget,
    visible_len,
)
from tools.broadcast.publisher import RESEND_NOTE
from tools.broadcast.stats import Stats, TradeResult

DISCLAIMER = "Not financial advice <3 & co"
PNG = b"\x89PNG fake"


def parsed(markup: str) -> str:
    text, _ = parse_html(markup)  # raises like Telegram on bad markup
    assert text == plain(markup)  # the console prints what Telegram shows
    return text


def test_entry_in_plain_words_with_levels_and_disclaimer() -> None:
    (post,) = entry_posts(entry(signal(), chart=False), DISCLAIMER, None)
    text = parsed(post.html)
    assert post.key == "entry:sx-26051611-ETH-S" and post.photo is None
    assert text.splitlines()[:8] == [
        "🔴 SHORT ETH/USDT · perpetual",
        "Confidence 77% · score −0.70",
        "",
        "Entry: 2172.77",
        "Stop-loss: 2251.73 (+3.63%)",
        "TP1 (50%): 2054.33 (−5.45%)",
        "TP2 (50%): 1975.37 (−9.09%)",
        "Leverage: 5x · Risk: 1.49% of equity",
    ]
    assert "• Downtrend: price below falling moving averages — strong (−0.82)" in text
    assert "• Bearish momentum (RSI) — strong (−0.69)" in text
    assert "• Sellers dominate the volume — mild (−0.17)" in text
    assert text.endswith("\n\n" + DISCLAIMER)


def test_model_text_renders_literally_everywhere() -> None:
    sig = signal(reasons=[Reason(code="news_driver", kind="driver", message=MODEL_TEXT)])
    ev = entry(sig, news=news(f"{MODEL_TEXT} ETF </b> approved"), chart=False)
    (post,) = entry_posts(ev, MODEL_TEXT, None)
    text = parsed(post.html)
    assert f"• {MODEL_TEXT}" in text and f"📰 {MODEL_TEXT} ETF </b> approved" in text
    assert text.endswith(MODEL_TEXT)
    pulse = MarketPulse(
        as_of=AS_OF,
        news_regime="PANIC",
        news_available=True,
        news_notes=[f"ETH: PANIC — {MODEL_TEXT}"],
        waits=[WaitItem(symbol="ETH/USDT:USDT", code="news_veto", message=MODEL_TEXT)],
    )
    assert f"ETH/USDT: {MODEL_TEXT}" in parsed(finish(pulse_body(pulse), MODEL_TEXT))
    doc = {"mode": MODEL_TEXT, "positions": [{"symbol": MODEL_TEXT, "side": "long"}]}
    assert MODEL_TEXT in parsed(status_body(doc)) and MODEL_TEXT in parsed(positions_body(doc))


def test_long_model_text_is_clipped_and_the_caption_limit_respected() -> None:
    sig = signal(reasons=[Reason(code="x", kind="driver", message="&" * 2000)] * 3)
    ev = entry(sig, news=news("<" * 2000), chart=False)
    photo, text = entry_posts(ev, DISCLAIMER, PNG)
    assert photo.photo == PNG and visible_len(photo.html) <= CAPTION_LIMIT
    assert text.reply_to_key == photo.key and text.kind == "entry_text"
    assert 1024 < visible_len(text.html) < 4096
    parsed(text.html)
    (short,) = entry_posts(entry(signal(), chart=False), DISCLAIMER, PNG)
    assert short.photo == PNG and visible_len(short.html) <= CAPTION_LIMIT


def test_exit_posts() -> None:
    sig = signal("BTC/USDT:USDT", "LONG", entry="100000", stop="98000", tp1="103000", tp2="105000")
    pos = position(sig, quantity=Decimal("0.010"), initial_quantity=Decimal("0.010"))
    tp1 = exit_event(
        pos,
        "tp1",
        "103000",
        "0.005",
        r="1.5",
        pnl_pct="2.94",
        at=AS_OF + timedelta(hours=2),
        closes=False,
    )
    text = parsed(exit_body(tp1))
    assert text.splitlines() == [
        "✅ Take-profit 1 hit · BTC/USDT LONG",
        "Closed 50% at 103000 (entry 100000)",
        "Result: +2.94% · +1.50R",
        "Still open: 50% · stop now 100000",
        "#BTCUSDT",
    ]
    stop = exit_event(
        tp1.position,
        "breakeven_stop",
        "100150",
        "0.005",
        r="0.075",
        pnl_pct="0.04",
        at=AS_OF + timedelta(hours=5),
        closes=True,
    )
    assert "Trade closed · total +0.79R · +1.49%" in parsed(exit_body(stop, (0.7875, 1.49)))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("0.00001234"), "0.00001234"),
        (Decimal("1E+2"), "100"),
        (2172.77, "2172.77"),
        (None, "-"),
    ],
)
def test_prices_never_use_exponents(value: object, text: str) -> None:
    assert price(value) == text


def test_signed_and_escape() -> None:
    assert [signed(1.234, "%"), signed(-0.5, "R"), signed(0.0001)] == ["+1.23%", "−0.50R", "±0.00"]
    assert esc("<b>&\"'") == "&lt;b&gt;&amp;\"'"


def test_stats_and_pulse_bodies() -> None:
    t0 = datetime(2026, 5, 16, tzinfo=UTC)
    trades = [
        TradeResult("a", "ETH/USDT:USDT", "short", 2.0, 7.2, t0 + timedelta(hours=3), 1.5),
        TradeResult("b", "SOL/USDT:USDT", "long", -1.0, -3.1, t0 + timedelta(hours=9), 1.5),
    ]
    text = parsed(stats_body("Daily stats", Stats(t0, t0 + timedelta(days=1), trades, 2)))
    assert "Trades closed: 2 · win rate 50%" in text
    assert "Total +1.00R · average +0.50R" in text
    assert "PnL: +4.10% (sum of trade returns, unlevered) · ≈ +1.50% of equity" in text
    assert "Best: ETH/USDT SHORT +2.00R · Worst: SOL/USDT LONG −1.00R" in text
    assert "Open positions: 2" in text
    empty = parsed(stats_body("Weekly stats", Stats(t0, t0 + timedelta(days=7), [], 0)))
    assert "No trades closed." in empty
    pulse = MarketPulse(
        as_of=AS_OF,
        btc_price=77937.6,
        btc_change_4h_pct=-0.86,
        btc_change_24h_pct=-3.39,
        btc_trend="down",
        btc_regime="trending_down",
        movers=[Mover(symbol="LINK/USDT:USDT", change_24h_pct=-6.66, price=9.651)],
        signals={"LONG": 0, "SHORT": 1, "WAIT": 9},
    )
    lines = parsed(pulse_body(pulse)).splitlines()
    assert lines[:4] == [
        "🧭 Market Pulse · 2026-05-16 11:00 UTC",
        "BTC 77937.6 · 4h −0.86% · 24h −3.39%",
        "trend down · regime trending down",
        "News regime: NORMAL (no news source: news unavailable)",
    ]
    assert "• LINK/USDT −6.66% (9.651)" in lines
    assert lines[-1] == "Signals this cycle: 0 LONG · 1 SHORT · 9 WAIT"


def _waits(n: int) -> list[WaitItem]:
    return [
        WaitItem(
            symbol=f"COIN{i}/USDT:USDT",
            code="score_below_threshold",
            message=f"score -0.{i:03d} inside (-0.45, +0.45) & <nothing> else " + "x" * 120,
        )
        for i in range(n)
    ]


def test_a_pulse_with_many_waits_is_cut_to_telegrams_limit() -> None:
    pulse = MarketPulse(as_of=AS_OF, waits=_waits(60), signals={"LONG": 0, "SHORT": 0, "WAIT": 60})
    body = pulse_body(pulse, text_budget(DISCLAIMER))
    post = finish(body, DISCLAIMER)
    text = parsed(post)
    # room kept for the disclaimer (it is there) and for the "re-sent" line of resend_marked
    assert visible_len(post) <= TEXT_LIMIT - RESEND_ROOM
    assert visible_len(RESEND_NOTE + post) <= TEXT_LIMIT
    lines = text.splitlines()
    shown = [line for line in lines if line.startswith("• COIN")]
    assert 10 < len(shown) < 60 and f"…and {60 - len(shown)} more" in lines
    assert lines[lines.index(f"…and {60 - len(shown)} more") - 1] == shown[-1]
    assert lines[-3:] == ["Signals this cycle: 0 LONG · 0 SHORT · 60 WAIT", "", DISCLAIMER]
    # Nothing is cut when it fits.
    few = MarketPulse(as_of=AS_OF, waits=_waits(3), signals={"WAIT": 3})
    assert "more" not in parsed(finish(pulse_body(few, text_budget(DISCLAIMER)), DISCLAIMER))


def test_many_positions_are_cut_to_telegrams_limit() -> None:
    doc = {
        "positions": [
            {"symbol": f"COIN{i}/USDT:USDT", "side": "long", "leverage": 3, "quantity": 1.5}
            for i in range(100)
        ]
    }
    post = finish(positions_body(doc, text_budget(DISCLAIMER)), DISCLAIMER)
    text = parsed(post)
    assert visible_len(post) <= TEXT_LIMIT - RESEND_ROOM
    shown = [line for line in text.splitlines() if line.startswith("COIN")]
    assert text.splitlines()[0] == "📂 Open positions (100)"
    assert 5 < len(shown) < 100 and f"…and {100 - len(shown)} more" in text
    assert text.endswith(DISCLAIMER)


def test_any_body_too_long_is_cut_at_a_line_break_as_a_last_resort() -> None:
    body = "\n".join(f"<b>line {i}</b> · {esc('<&>' * 20)}" for i in range(400))
    post = finish(body, DISCLAIMER)
    text = parsed(post)  # no tag cut in half
    assert visible_len(post) <= TEXT_LIMIT - RESEND_ROOM
    last = text.splitlines()[-3]
    assert last.startswith("…and ") and last.endswith(" more lines")
    kept = int(text.splitlines()[-4].split()[1]) + 1
    assert last == f"…and {400 - kept} more lines"


def test_unprintable_characters_never_reach_a_post() -> None:
    bad = "\ud800 Spot ETF\x1b[31m approved\u202e\x00"
    sig = signal(reasons=[Reason(code="news_driver", kind="driver", message=bad)])
    (post,) = entry_posts(entry(sig, news=news(bad), chart=False), bad, None)
    post.html.encode("utf-8")
    text = parsed(post.html)
    assert "📰 Spot ETF[31m approved" in text and not any(c in text for c in "\x1b\u202e\x00")
    assert esc("a\ud800\x1b\tb\nc") == "a\tb\nc"  # newlines and tabs stay
    pulse = MarketPulse(
        as_of=AS_OF,
        news_notes=[bad],
        waits=[WaitItem(symbol="ETH/USDT:USDT", code="news_veto", message=bad)],
    )
    pulse.model_dump_json().encode("utf-8")  # the broadcaster stores it as JSON
    assert "• ETH/USDT: Spot ETF[31m approved" in parsed(pulse_body(pulse))
