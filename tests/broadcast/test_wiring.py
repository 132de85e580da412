"""Settings, broadcaster selection, failure classification, and a real cycle posting to Telegram."""

import asyncio
import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from runtime.cycle import run_cycle
from runtime.factory import build_engine
from runtime.services import build_services
from sextant.config import ConfigError, load_settings
from tests.broadcast.helpers import AS_OF, GROUP, entry, signal
from tests.fakes.telegram_server import FakeTelegram
from tools.broadcast.console import ConsoleBroadcaster
from tools.broadcast.publisher import Outcome
from tools.broadcast.telegram import TelegramBroadcaster, classify


def test_telegram_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    tg = load_settings().telegram
    assert (tg.pulse_every_hours, tg.rate_limit_per_minute, tg.allowed_user_ids) == (4, 20, ())
    assert tg.api_base_url == "https://api.telegram.org/bot"
    monkeypatch.setenv("SEXTANT_TELEGRAM__BASE_URL", "http://127.0.0.1:8081/")
    monkeypatch.setenv("SEXTANT_TELEGRAM__ALLOWED_USER_IDS", "42, 7")
    monkeypatch.setenv("SEXTANT_TELEGRAM__MESSAGE_THREAD_ID", "12")
    tg = load_settings().telegram
    assert tg.api_base_url == "http://127.0.0.1:8081/bot"
    assert tg.api_file_url == "http://127.0.0.1:8081/file/bot"
    assert (tg.allowed_user_ids, tg.message_thread_id) == ((42, 7), 12)
    monkeypatch.setenv("SEXTANT_TELEGRAM__PULSE_EVERY_HOURS", "25")
    with pytest.raises(ConfigError, match="SEXTANT_TELEGRAM__PULSE_EVERY_HOURS"):
        load_settings()


def test_broadcaster_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(build_services(load_settings()).broadcaster, ConsoleBroadcaster)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:TEST-TOKEN")
    assert isinstance(build_services(load_settings()).broadcaster, ConsoleBroadcaster)  # no chat
    monkeypatch.setenv("TELEGRAM_CHAT_ID", str(GROUP))
    assert isinstance(build_services(load_settings()).broadcaster, TelegramBroadcaster)


def test_status_document_of_the_services_book(tmp_path: Path) -> None:
    # without an engine: a settings-only document (paper equity, nothing open)
    services = build_services(load_settings())
    doc = asyncio.run(services.broadcaster.status())  # type: ignore[attr-defined]
    assert doc["schema"] == "sextant.status/1" and doc["equity"] == 10000.0
    assert doc["positions"] == [] and doc["circuit_breaker"] == {"tripped": False, "until": None}
    # built with an engine: its book, from the start (nothing is plugged in later)
    settings = load_settings(state_dir=tmp_path)
    engine = build_engine(settings)
    try:
        traded = build_services(settings, engine=engine)
        doc = asyncio.run(traded.broadcaster.status())  # type: ignore[attr-defined]
        assert doc["schema"] == "sextant.status/1" and "book_time" in doc
    finally:
        engine.store.close()


def _caused(exc: Exception, cause: BaseException) -> Exception:
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (lambda: RetryAfter(3), Outcome.RATE_LIMITED),
        (_caused(TimedOut(), httpx.ConnectTimeout("c")), Outcome.NOT_SENT),
        (_caused(TimedOut(), httpx.PoolTimeout("p")), Outcome.NOT_SENT),
        (_caused(TimedOut(), httpx.WriteTimeout("w")), Outcome.NOT_SENT),
        (_caused(TimedOut(), httpx.ReadTimeout("r")), Outcome.UNCERTAIN),
        (NetworkError("Internal Server Error"), Outcome.NOT_SENT),  # Telegram answered 500
        (_caused(NetworkError("x"), httpx.ConnectError("refused")), Outcome.NOT_SENT),
        (_caused(NetworkError("x"), httpx.RemoteProtocolError("dropped")), Outcome.UNCERTAIN),
        (BadRequest("Can't parse entities: unclosed"), Outcome.BAD_MARKUP),
        (BadRequest("Chat not found"), Outcome.REJECTED),
        (Forbidden("bot was kicked"), Outcome.REJECTED),
    ],
)
def test_classification_of_failures(
    exc: Exception | Callable[[], Exception], outcome: Outcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # RetryAfter warns at creation otherwise
    failure = classify(exc() if callable(exc) else exc)
    assert failure.outcome is outcome
    if outcome is Outcome.RATE_LIMITED:
        assert failure.retry_after_s == 3


def test_console_prints_what_telegram_posts(tg_env: FakeTelegram) -> None:
    settings = load_settings()
    sig = signal()
    out = io.StringIO()

    async def main() -> None:
        await ConsoleBroadcaster(out, settings=settings.telegram).publish_cycle(
            as_of=AS_OF, signals=[sig], entries=[entry(sig)], exits=[]
        )
        b = TelegramBroadcaster(settings, mode="manual")
        await b.publish_cycle(as_of=AS_OF, signals=[sig], entries=[entry(sig)], exits=[])
        await b.flush()

    asyncio.run(main())
    (photo,) = tg_env.sent
    assert out.getvalue() == photo["caption"] + "\n\ncycle: 0 LONG, 1 SHORT, 0 WAIT\n"


def test_a_real_cycle_posts_its_entry_chart_and_pulse_once(
    tg_env: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEXTANT_TELEGRAM__MIN_INTERVAL_S", "0")
    settings = load_settings()
    as_of = datetime(2026, 5, 16, 11, tzinfo=UTC)  # ETH is a SHORT on the bundled data

    async def cycle() -> list[str]:
        services = build_services(settings)  # a new process: new services over the same state
        state, _ = await run_cycle(
            services, as_of=as_of, symbols=["ETH/USDT:USDT", "BTC/USDT:USDT"]
        )
        await services.aclose()  # drains the background sender
        return state["posts"]

    posts = asyncio.run(cycle())
    assert posts[0].startswith("🔴 SHORT ETH/USDT") and posts[1].startswith("🧭 Market Pulse")
    photo, pulse = tg_env.messages_in(GROUP)
    assert photo["method"] == "sendPhoto" and photo["caption"].startswith("🔴 SHORT ETH/USDT")
    assert photo["photo_bytes"][:8] == b"\x89PNG\r\n\x1a\n" and len(photo["photo_bytes"]) > 15000
    assert pulse["text"].startswith("🧭 Market Pulse · 2026-05-16 11:00 UTC")
    assert "• BTC/USDT: score" in pulse["text"]  # BTC is on WAIT with its reason

    again = asyncio.run(cycle())
    assert again == ["cycle: 0 LONG, 1 SHORT, 1 WAIT"]  # the re-run posts nothing
    assert len(tg_env.sent) == 2
