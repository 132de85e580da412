"""The Telegram broadcaster through the real python-telegram-bot against a local Bot API server.

Time never passes on the wall: the broadcaster runs on a fake clock and its `sleep` advances
that clock (backoff, retry_after and the rate limit are checked in simulated seconds).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import pytest

from sextant.clock import FixedClock
from sextant.config import Settings, load_settings
from sextant.events import MarketPulse, WaitItem
from sextant.models import Reason
from tests.broadcast.helpers import (
    AS_OF,
    GROUP,
    MODEL_TEXT,
    Sleeper,
    entry,
    exit_event,
    news,
    position,
    signal,
)
from tests.fakes.telegram_server import FakeTelegram, parse_html
from tools.broadcast.formatting import Post
from tools.broadcast.store import BroadcastStore
from tools.broadcast.telegram import TelegramBroadcaster

PNG = b"\x89PNG\r\n\x1a\n"


def run[T](coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def make(settings: Settings, clock: FixedClock, sleeper: Sleeper, **kw: Any) -> TelegramBroadcaster:
    store = kw.pop("store", None) or BroadcastStore.open(settings.state_dir)
    return TelegramBroadcaster(
        settings, store=store, clock=clock, sleep=sleeper, mode=kw.pop("mode", "manual"), **kw
    )


def statuses(fake: FakeTelegram, method: str) -> list[int | None]:
    return [c["status"] for c in fake.calls_to(method)]


def test_entry_is_a_chart_photo_and_exits_reply_to_it(
    tg_env: FakeTelegram, monkeypatch: pytest.MonkeyPatch, clock: FixedClock, sleeper: Sleeper
) -> None:
    monkeypatch.setenv("SEXTANT_TELEGRAM__MESSAGE_THREAD_ID", "7")
    settings = load_settings()
    sig = signal()
    pos = position(sig)
    tp1 = exit_event(
        pos,
        "tp1",
        "2054.33",
        "0.95",
        r="1.5",
        pnl_pct="5.40",
        at=AS_OF + timedelta(hours=5),
        closes=False,
    )
    tp2 = exit_event(
        tp1.position,
        "tp2",
        "1975.37",
        "0.94",
        r="2.5",
        pnl_pct="9.03",
        at=AS_OF + timedelta(hours=9),
        closes=True,
    )

    async def main() -> list[str]:
        b = make(settings, clock, sleeper)
        texts = await b.publish_cycle(as_of=AS_OF, signals=[sig], entries=[entry(sig)], exits=[])
        assert await b.flush() == 1
        await b.publish_exits([tp1])
        await b.publish_exits([tp2])
        assert await b.flush() == 2
        await b.aclose()
        return texts

    texts = run(main())
    assert texts[0].startswith("🔴 SHORT ETH/USDT") and texts[-1].startswith(
        "cycle: 0 LONG, 1 SHORT"
    )
    photo, first, second = tg_env.messages_in(GROUP)
    assert photo["method"] == "sendPhoto" and photo["photo_bytes"].startswith(PNG)
    assert tg_env.calls_to("sendPhoto")[0]["files"]["photo"]["filename"] == "chart.png"
    assert photo["caption"].startswith("🔴 SHORT ETH/USDT · perpetual")
    assert "Entry: 2172.77" in photo["caption"] and "TP2 (50%): 1975.37" in photo["caption"]
    assert photo["caption"].endswith(settings.telegram.disclaimer)
    assert [m["reply_to"] for m in (first, second)] == [photo["message_id"]] * 2
    assert {m["message_thread_id"] for m in (photo, first, second)} == {7}
    assert first["text"].startswith("✅ Take-profit 1 hit · ETH/USDT SHORT")
    assert "Still open: 50%" in first["text"] and "+1.50R" in first["text"]
    # 0.95/1.89 x 1.5R + 0.94/1.89 x 2.5R = 2.00R for the whole trade
    assert "Trade closed · total +2.00R" in second["text"]
    assert all(
        m["text" if m["method"] == "sendMessage" else "caption"].endswith(
            settings.telegram.disclaimer
        )
        for m in (photo, first, second)
    )


def test_model_text_and_settings_text_are_escaped(
    tg_env: FakeTelegram, monkeypatch: pytest.MonkeyPatch, clock: FixedClock, sleeper: Sleeper
) -> None:
    monkeypatch.setenv("SEXTANT_TELEGRAM__DISCLAIMER", "Not advice <i>& yours")
    settings = load_settings()
    sig = signal(reasons=[Reason(code="news_driver", kind="driver", message=f"LLM: {MODEL_TEXT}")])

    async def main() -> None:
        b = make(settings, clock, sleeper)
        await b.publish_cycle(
            as_of=AS_OF, signals=[sig], entries=[entry(sig, news=news(MODEL_TEXT))], exits=[]
        )
        await b.flush()

    run(main())
    (record,) = tg_env.sent  # the fake parses HTML like Telegram: a raw '<b>' would be refused
    assert f"• LLM: {MODEL_TEXT}" in record["caption"]
    assert f"📰 {MODEL_TEXT}" in record["caption"]
    assert record["caption"].endswith("Not advice <i>& yours")
    assert "&lt;b&gt;&amp;" in record["raw"] and parse_html(record["raw"])[0] == record["caption"]


def test_dedup_across_a_process_restart(
    settings: Settings, fake: FakeTelegram, clock: FixedClock, sleeper: Sleeper
) -> None:
    sig = signal()
    pos = position(sig)
    tp1 = exit_event(
        pos,
        "tp1",
        "2054.33",
        "0.95",
        r="1.5",
        pnl_pct="5.4",
        at=AS_OF + timedelta(hours=3),
        closes=False,
    )

    async def process() -> int:
        # a fresh broadcaster over the same database: what a restarted process has
        b = make(settings, clock, sleeper, store=BroadcastStore.open(settings.state_dir))
        await b.publish_cycle(as_of=AS_OF, signals=[sig], entries=[entry(sig)], exits=[tp1])
        sent = await b.flush()
        await b.aclose()
        b.store.dispose()
        return sent

    assert run(process()) == 2
    assert run(process()) == 0  # the same cycle and exit, published again after a restart
    assert [m["method"] for m in fake.sent] == ["sendPhoto", "sendMessage"]
    assert fake.sent[1]["reply_to"] == fake.sent[0]["message_id"]


def test_queued_before_a_crash_is_sent_once_after_restart(
    settings: Settings, fake: FakeTelegram, clock: FixedClock, sleeper: Sleeper
) -> None:
    sig_a, sig_b = signal(), signal("SOL/USDT:USDT", "LONG")

    async def crashed() -> None:
        b = make(settings, clock, sleeper)
        await b.publish_cycle(
            as_of=AS_OF,
            signals=[sig_a, sig_b],
            entries=[entry(sig_a, chart=False), entry(sig_b, chart=False)],
            exits=[],
        )
        rows = b.store.rows()
        # the process dies while the first post's request is in flight (claimed, no answer)
        assert b.store.claim(rows[0].id, "pid-that-died")

    async def restarted() -> None:
        b = make(settings, clock, sleeper)
        await b.flush()
        await b.flush()

    run(crashed())
    run(restarted())
    # the in-flight one may have reached Telegram: never resent (policy "hold"); the queued one
    # goes out exactly once
    assert [m["text"].split("\n")[0] for m in fake.sent] == ["🟢 LONG SOL/USDT · perpetual"]
    status = {r.key: r.status for r in BroadcastStore.open(settings.state_dir).rows()}
    assert status == {"entry:sx-26051611-ETH-S": "uncertain", "entry:sx-26051611-SOL-L": "sent"}


def test_a_repeat_signal_is_not_posted_and_its_exits_reply_to_the_first_post(
    settings: Settings, fake: FakeTelegram, clock: FixedClock, sleeper: Sleeper
) -> None:
    first = signal()
    later = signal(as_of=AS_OF + timedelta(hours=1))  # same symbol and side, next hour
    pos = position(later)
    stop = exit_event(
        pos,
        "stop_loss",
        "2251.73",
        "1.89",
        r="-1",
        pnl_pct="-3.7",
        at=AS_OF + timedelta(hours=4),
        closes=True,
    )
    after_close = signal(as_of=AS_OF + timedelta(hours=5))

    async def main() -> None:
        b = make(settings, clock, sleeper)
        await b.publish_cycle(
            as_of=AS_OF,
            signals=[first],
            entries=[entry(first, with_position=False, chart=False)],
            exits=[],
        )
        await b.publish_cycle(
            as_of=later.as_of, signals=[later], entries=[entry(later, chart=False)], exits=[]
        )
        await b.publish_exits([stop])
        # the trade is closed: the same idea an hour later is news again
        await b.publish_cycle(
            as_of=after_close.as_of,
            signals=[after_close],
            entries=[entry(after_close, chart=False)],
            exits=[],
        )
        await b.flush()

    run(main())
    entry_a, stop_post, entry_c = fake.messages_in(GROUP)
    assert "sx-26051611-ETH-S" in entry_a["text"] and "sx-26051616-ETH-S" in entry_c["text"]
    assert stop_post["reply_to"] == entry_a["message_id"]
    assert stop_post["text"].startswith("🛑 Stop-loss hit")


def test_429_retry_after_is_honoured(
    settings: Settings, fake: FakeTelegram, clock: FixedClock, sleeper: Sleeper
) -> None:
    fake.fail_next("sendPhoto", "429", retry_after=7)
    sig = signal()

    async def main() -> int:
        b = make(settings, clock, sleeper)
        await b.publish_cycle(as_of=AS_OF, signals=[sig], entries=[entry(sig)], exits=[])
        return await b.flush()

    assert run(main()) == 1
    assert statuses(fake, "sendPhoto") == [429, 200]
    assert sleeper.calls == [7.0]  # waited exactly what Telegram asked, on the fake clock
    assert len(fake.sent) == 1


def test_5xx_then_success_is_one_post_not_two(
    settings: Settings, fake: FakeTelegram, clock: FixedClock, sleeper: Sleeper
) -> None:
    fake.fail_next("sendMessage", "500")
    fake.fail_next("sendMessage", "502")
    sig = signal()

    async def main() -> int:
        b = make(settings, clock, sleeper)
        await b.publish_cycle(
            as_of=AS_OF, signals=[sig], entries=[entry(sig, chart=False)], exits=[]
        )
        return await b.flush()

    assert run(main()) == 1
    assert statuses(fake, "sendMessage") == [500, 502, 200]
    assert sleeper.calls == [5.0, 10.0]  # exponential backoff from backoff_initial_s
    assert len(fake.sent) == 1
    (row,) = BroadcastStore.open(settings.state_dir).rows()
    assert (row.status, row.attempts, row.message_id) == ("sent", 3, 1)


@pytest.mark.parametrize("policy", ["hold", "resend_marked"])
def test_timeout_after_telegram_applied_the_post(
    tg_env: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    clock: FixedClock,
    sleeper: Sleeper,
    policy: str,
) -> None:
    monkeypatch.setenv("SEXTANT_TELEGRAM__REQUEST_TIMEOUT_S", "0.3")
    monkeypatch.setenv("SEXTANT_TELEGRAM__ON_UNCERTAIN", policy)
    settings = load_settings()
    tg_env.fail_next("sendMessage", "timeout_after_apply")
    sig = signal()
    pos = position(sig)
    stop = exit_event(
        pos,
        "stop_loss",
        "2251.73",
        "1.89",
        r="-1",
        pnl_pct="-3.7",
        at=AS_OF + timedelta(hours=2),
        closes=True,
    )

    async def main() -> None:
        b = make(settings, clock, sleeper)
        await b.publish_cycle(
            as_of=AS_OF, signals=[sig], entries=[entry(sig, chart=False)], exits=[]
        )
        await b.flush()
        await b.publish_exits([stop])
        await b.flush()

    run(main())
    texts = [m["text"] for m in tg_env.sent]
    if policy == "hold":
        # delivered despite the timeout, never sent again; the exit stands on its own
        assert [t.split("\n")[0] for t in texts] == [
            "🔴 SHORT ETH/USDT · perpetual",
            "🛑 Stop-loss hit · ETH/USDT SHORT",
        ]
        assert tg_env.sent[1]["reply_to"] is None and "entry 2172.77" in texts[1]
    else:
        assert texts[1].startswith("↻ Re-sent: an earlier attempt timed out")
        assert tg_env.sent[2]["reply_to"] == tg_env.sent[1]["message_id"]
    assert statuses(tg_env, "sendMessage")[0] is None  # the client never saw the answer


def test_refused_markup_is_resent_as_plain_text(
    settings: Settings, fake: FakeTelegram, clock: FixedClock, sleeper: Sleeper
) -> None:
    async def main() -> None:
        b = make(settings, clock, sleeper)
        # a post whose HTML is broken (not something the formatter produces): the safety net
        b.store.add_post(b.destination, Post("pulse:broken", "pulse", "<b>Pulse & co"), clock.now())
        await b.flush()

    run(main())
    assert statuses(fake, "sendMessage") == [400, 200]
    assert [m["text"] for m in fake.sent] == ["Pulse & co"]
    assert fake.sent[0]["parse_mode"] is None


def test_rate_limit_of_the_group_is_respected(
    settings: Settings, fake: FakeTelegram, clock: FixedClock, sleeper: Sleeper
) -> None:
    base = signal()
    pos = position(base)
    exits = [
        exit_event(
            pos.model_copy(update={"position_id": f"p{i}"}),
            "manual",
            "2100",
            "1.89",
            r="0.9",
            pnl_pct="3.3",
            at=AS_OF + timedelta(minutes=i),
            closes=True,
        )
        for i in range(25)
    ]

    async def main() -> None:
        b = make(settings, clock, sleeper)
        await b.publish_exits(exits)
        await b.flush()

    run(main())
    assert len(fake.sent) == 25
    sent_at = sorted(r.sent_at for r in BroadcastStore.open(settings.state_dir).rows())  # type: ignore[type-var]
    assert None not in sent_at
    assert sent_at[20] - sent_at[0] >= timedelta(minutes=1)  # type: ignore[operator]  # 21st waited
    for i, start in enumerate(sent_at):
        in_window = [t for t in sent_at[i:] if t - start < timedelta(minutes=1)]  # type: ignore[operator]
        assert len(in_window) <= settings.telegram.rate_limit_per_minute
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(sent_at)]  # type: ignore[operator]
    assert min(gaps) >= settings.telegram.min_interval_s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_telegram_never_breaks_publishing(
    monkeypatch: pytest.MonkeyPatch, clock: FixedClock, sleeper: Sleeper
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:TEST-TOKEN")
    monkeypatch.setenv("TELEGRAM_CHAT_ID", str(GROUP))
    monkeypatch.setenv("SEXTANT_TELEGRAM__BASE_URL", f"http://127.0.0.1:{free_port()}")
    settings = load_settings()
    sig = signal()

    async def main() -> list[str]:
        b = make(settings, clock, sleeper)
        texts = await b.publish_cycle(
            as_of=AS_OF, signals=[sig], entries=[entry(sig, chart=False)], exits=[]
        )
        assert await b.flush(budget_s=60) == 0
        await b.aclose()
        return texts

    texts = run(main())
    assert len(texts) == 2  # queued and reported, the cycle goes on
    (row,) = BroadcastStore.open(settings.state_dir).rows()
    assert row.status == "pending" and row.attempts == 4  # t = 0, 5, 15, 35 s; next at 75 s
    assert "ConnectError" in (row.last_error or "") or "NetworkError" in (row.last_error or "")
    assert sleeper.calls[:3] == [5.0, 10.0, 20.0]


def test_background_sender_and_drain_on_close(
    tg_env: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEXTANT_TELEGRAM__MIN_INTERVAL_S", "0")
    settings = load_settings()
    sig = signal()

    async def main() -> None:
        b = TelegramBroadcaster(settings)  # real clock, background task: what the loop runs
        await b.publish_cycle(as_of=AS_OF, signals=[sig], entries=[entry(sig)], exits=[])
        await b.aclose()

    run(main())
    assert [m["method"] for m in tg_env.sent] == ["sendPhoto"]


def test_caption_too_long_goes_as_photo_then_text_reply(
    settings: Settings, fake: FakeTelegram, clock: FixedClock, sleeper: Sleeper
) -> None:
    long = "x" * 400
    sig = signal(
        reasons=[Reason(code="news_driver", kind="driver", message=f"{i} {long}") for i in range(3)]
    )

    async def main() -> None:
        b = make(settings, clock, sleeper)
        await b.publish_cycle(
            as_of=AS_OF, signals=[sig], entries=[entry(sig, news=news(long))], exits=[]
        )
        await b.flush()

    run(main())
    photo, text = fake.messages_in(GROUP)
    assert photo["method"] == "sendPhoto" and len(photo["caption"]) < 1024
    assert photo["caption"].startswith("🔴 SHORT ETH/USDT · entry 2172.77 · stop 2251.73")
    assert text["reply_to"] == photo["message_id"] and "Why" in text["text"]
    assert len(text["text"]) > 1024 and text["text"].endswith(settings.telegram.disclaimer)


def test_a_new_post_does_not_wait_behind_a_retry(
    tg_env: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEXTANT_TELEGRAM__MIN_INTERVAL_S", "0")
    monkeypatch.setenv("SEXTANT_TELEGRAM__BACKOFF_INITIAL_S", "60")
    monkeypatch.setenv("SEXTANT_TELEGRAM__DRAIN_TIMEOUT_S", "0")
    settings = load_settings()
    tg_env.fail_next("sendMessage", "500")
    first, second = signal(), signal("SOL/USDT:USDT", "LONG")

    async def main() -> None:
        b = TelegramBroadcaster(settings)  # background sender on real time
        await b.publish_cycle(
            as_of=AS_OF, signals=[first], entries=[entry(first, chart=False)], exits=[]
        )
        assert await asyncio.to_thread(tg_env.wait_for_call, "sendMessage", 1)
        # the first post now waits 60 s for its retry; a new one goes out at once
        await b.publish_cycle(
            as_of=AS_OF, signals=[second], entries=[entry(second, chart=False)], exits=[]
        )
        assert await tg_env.await_sent(1)
        await b.aclose()

    run(main())
    assert [m["text"].split("\n")[0] for m in tg_env.sent] == ["🟢 LONG SOL/USDT · perpetual"]
    status = {r.key: r.status for r in BroadcastStore.open(settings.state_dir).rows()}
    assert status == {"entry:sx-26051611-ETH-S": "pending", "entry:sx-26051611-SOL-L": "sent"}


def test_a_refused_post_is_failed_and_does_not_hide_the_next_signal(
    settings: Settings, fake: FakeTelegram, clock: FixedClock, sleeper: Sleeper
) -> None:
    fake.fail_next("sendMessage", "bad_request", description="Bad Request: chat not found")
    first, later = signal(), signal(as_of=AS_OF + timedelta(hours=1))

    async def main() -> None:
        b = make(settings, clock, sleeper)
        for sig in (first, later):
            await b.publish_cycle(
                as_of=sig.as_of, signals=[sig], entries=[entry(sig, chart=False)], exits=[]
            )
            await b.flush()

    run(main())
    assert statuses(fake, "sendMessage") == [400, 200]  # a 400 is never retried
    status = {r.key: r.status for r in BroadcastStore.open(settings.state_dir).rows()}
    assert status == {"entry:sx-26051611-ETH-S": "failed", "entry:sx-26051612-ETH-S": "sent"}


def test_a_long_market_pulse_is_cut_and_delivered(
    settings: Settings, fake: FakeTelegram, clock: FixedClock, sleeper: Sleeper
) -> None:
    # 30 WAITs (the setting's maximum) with long reasons: over 4096 characters, which Telegram
    # answers with 400 "message is too long", a refusal never retried.
    waits = [
        WaitItem(
            symbol=f"COIN{i}/USDT:USDT",
            code="news_veto",
            message=f"news veto {i}: " + "hack & lawsuit <rumour> " * 8,
        )
        for i in range(30)
    ]
    pulse = MarketPulse(as_of=AS_OF, waits=waits, signals={"LONG": 0, "SHORT": 0, "WAIT": 30})

    async def main() -> None:
        b = make(settings, clock, sleeper)
        await b.publish_cycle(as_of=AS_OF, signals=[], entries=[], exits=[], pulse=pulse)
        await b.flush()

    run(main())
    assert statuses(fake, "sendMessage") == [200]
    (msg,) = fake.messages_in(GROUP)
    assert msg["text"].startswith("🧭 Market Pulse") and "more\n" in msg["text"]
    assert msg["text"].endswith("30 WAIT\n\n" + settings.telegram.disclaimer)


def test_unprintable_model_text_never_fails_a_post(
    settings: Settings, fake: FakeTelegram, clock: FixedClock, sleeper: Sleeper
) -> None:
    # A lone surrogate failed the outbox insert (SQLite wants UTF-8), so the entry was never
    # posted; the Pulse could not be stored as JSON. Control characters are dropped too.
    bad = "\ud800 Spot ETF\x1b[31m approved\u202e\x00"
    sig = signal(reasons=[Reason(code="news_driver", kind="driver", message=f"LLM: {bad}")])
    pulse = MarketPulse(
        as_of=AS_OF,
        news_regime="DIGESTING",
        news_available=True,
        news_notes=[f"ETH: DIGESTING — {bad}"],
        waits=[WaitItem(symbol="SOL/USDT:USDT", code="news_veto", message=bad)],
    )

    async def main() -> None:
        b = make(settings, clock, sleeper)
        await b.publish_cycle(
            as_of=AS_OF,
            signals=[sig],
            entries=[entry(sig, news=news(bad))],
            exits=[],
            pulse=pulse,
        )
        await b.flush()
        assert await b.latest_pulse() == pulse

    run(main())
    photo, text = fake.messages_in(GROUP)
    assert photo["method"] == "sendPhoto" and "📰 Spot ETF[31m approved" in photo["caption"]
    assert "• SOL/USDT: Spot ETF[31m approved" in text["text"]
    for sent in (photo["caption"], text["text"]):
        assert not any(c in sent for c in "\ud800\x1b\u202e\x00")


def test_a_group_upgraded_to_a_supergroup_is_followed_and_remembered(
    tg_env: FakeTelegram, monkeypatch: pytest.MonkeyPatch, clock: FixedClock, sleeper: Sleeper,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 9.2: the Bot API answers 400 with parameters.migrate_to_chat_id (PTB raises
    ChatMigrated): the post goes to the new chat, the new id is kept in the database for every
    later post and restart (replies included), and one warning names the setting."""
    old, new = -4012345678, -1009876543210
    monkeypatch.setenv("TELEGRAM_CHAT_ID", str(old))
    settings = load_settings()
    eth, btc = signal(), signal("BTC/USDT:USDT", "LONG")
    eth_tp1 = exit_event(position(eth), "tp1", "2054.33", "0.95", r="1.5", pnl_pct="5.4",
                         at=AS_OF + timedelta(hours=2), closes=False)
    btc_tp1 = exit_event(position(btc), "tp1", "2291.21", "0.95", r="1.5", pnl_pct="5.4",
                         at=AS_OF + timedelta(hours=3), closes=False)
    btc_tp2 = exit_event(btc_tp1.position, "tp2", "2370.17", "0.94", r="2.5", pnl_pct="9.0",
                         at=AS_OF + timedelta(hours=4), closes=True)
    warned = "set TELEGRAM_CHAT_ID=-1009876543210"

    async def first_process() -> None:
        b = make(settings, clock, sleeper)
        await b.publish_cycle(as_of=AS_OF, signals=[eth], entries=[entry(eth)], exits=[])
        assert await b.flush() == 1
        tg_env.migrate_chat(old, new)  # an admin upgrades the group
        await b.publish_exits([eth_tp1])
        assert await b.flush() == 1  # refused by the old chat, delivered to the new one
        await b.publish_cycle(as_of=AS_OF, signals=[btc], entries=[entry(btc)], exits=[btc_tp1])
        assert await b.flush() == 2
        await b.aclose()
        b.store.dispose()

    with caplog.at_level("WARNING"):
        run(first_process())
    assert sum(warned in r.getMessage() for r in caplog.records) == 1  # once, not per post
    refused = [c for c in tg_env.calls if c["status"] == 400]
    assert len(refused) == 1 and refused[0]["params"]["chat_id"] == old
    (eth_photo,) = tg_env.messages_in(old)
    eth_exit, btc_photo, btc_exit = tg_env.messages_in(new)
    assert eth_photo["method"] == "sendPhoto"
    assert eth_exit["text"].startswith("✅ Take-profit 1 hit · ETH/USDT SHORT")
    assert eth_exit["reply_to"] is None  # its entry is in the old group: posted standalone
    assert btc_photo["method"] == "sendPhoto" and btc_exit["reply_to"] == btc_photo["message_id"]

    async def restarted() -> None:  # a new process over the same database, the same settings
        b = make(settings, clock, sleeper, store=BroadcastStore.open(settings.state_dir))
        await b.publish_exits([btc_tp2])
        assert await b.flush() == 1
        await b.aclose()

    caplog.clear()
    with caplog.at_level("WARNING"):
        run(restarted())
    assert sum(warned in r.getMessage() for r in caplog.records) == 1
    assert [c["status"] for c in tg_env.calls if c["status"] == 400] == [400]  # no new refusal
    *_, last = tg_env.messages_in(new)
    assert "Trade closed" in last["text"]
    assert last["reply_to"] == btc_photo["message_id"]
    store = BroadcastStore.open(settings.state_dir)
    try:
        assert store.get_state(f"migrated_chat:telegram:{old}") == str(new)
    finally:
        store.dispose()
