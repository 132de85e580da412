"""Read-only commands through PTB's Application and long polling against the local server."""

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest

from sextant.clock import FixedClock
from sextant.config import load_settings
from sextant.events import MarketPulse, Mover
from tests.broadcast.helpers import AS_OF, GROUP, Sleeper, exit_event, position, signal
from tests.fakes.telegram_server import FakeTelegram
from tools.broadcast.commands import TelegramCommands, make_commands
from tools.broadcast.store import BroadcastStore
from tools.broadcast.telegram import TelegramBroadcaster

STATUS = {
    "schema": "sextant.status/1",
    "mode": "dry_run",
    "equity": 12345.67,
    "today_pnl": -12.5,
    "circuit_breaker": {"tripped": False, "until": None},
    "last_cycle_as_of": "2026-05-16T11:00:00Z",
    "positions": [
        {
            "symbol": "ETH/USDT:USDT",
            "side": "short",
            "entry": 2172.77,
            "quantity": 1.89,
            "stop_loss": 2251.73,
            "take_profit_1": 2054.33,
            "take_profit_2": 1975.37,
            "leverage": 5,
            "unrealized_pnl": 3.2,
            "opened_at": "2026-05-16T11:00:00Z",
            "tp1_done": False,
        },
    ],
}


async def status() -> dict[str, Any]:
    return STATUS


def test_allow_listed_commands_are_answered_and_strangers_ignored(
    tg_env: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    clock: FixedClock,
    sleeper: Sleeper,
) -> None:
    monkeypatch.setenv("SEXTANT_TELEGRAM__POLL_TIMEOUT_S", "1")
    settings = load_settings()
    fake = tg_env
    sig = signal()
    stop = exit_event(
        position(sig),
        "stop_loss",
        "2251.73",
        "1.89",
        r="-1",
        pnl_pct="-3.7",
        at=AS_OF - timedelta(hours=2),
        closes=True,
    )

    async def main() -> None:
        b = TelegramBroadcaster(
            settings,
            store=BroadcastStore.open(settings.state_dir),
            clock=clock,
            sleep=sleeper,
            mode="manual",
        )
        await b.publish_cycle(
            as_of=AS_OF,
            signals=[],
            entries=[],
            exits=[stop],
            pulse=MarketPulse(
                as_of=AS_OF, movers=[Mover(symbol="SOL/USDT:USDT", change_24h_pct=5.2, price=150.0)]
            ),
        )
        await b.flush()
        posted = len(fake.sent)
        commands = make_commands(settings, status=status, broadcaster=b, clock=clock)
        assert isinstance(commands, TelegramCommands)
        await commands.start()
        await asyncio.wait_for(commands.ready.wait(), 5)
        fake.push_command(999, GROUP, "/status", username="stranger")  # first, and ignored
        for n, text in enumerate(
            ["/status", "/positions", "/stats@sextant_test_bot", "/pulse", "/help"], start=1
        ):
            fake.push_command(42, GROUP, text)
            assert await fake.await_sent(posted + n)
        await commands.stop()

    with caplog.at_level(logging.WARNING, logger="tools.broadcast.commands"):
        asyncio.run(main())

    answers = [m for m in fake.messages_in(GROUP) if m["reply_to"] is not None]
    asked = {m["message_id"]: m for m in fake.incoming}
    assert [asked[a["reply_to"]]["from"]["id"] for a in answers] == [42] * 5
    status_text, positions_text, stats_text, pulse_text, help_text = (a["text"] for a in answers)
    assert "Equity: 12,345.67 USDT" in status_text and "Open positions: 1" in status_text
    assert "Today's PnL: −12.50 USDT" in status_text
    assert "ETH/USDT SHORT 5x · qty 1.89" in positions_text and "TP1 2054.33" in positions_text
    assert "Last 24 hours" in stats_text and "Trades closed: 1 · win rate 0%" in stats_text
    assert "• SOL/USDT +5.20% (150)" in pulse_text
    assert "/status — " in help_text
    assert all(a["text"].endswith(settings.telegram.disclaimer) for a in answers)
    ignored = [r for r in caplog.records if "not on the allow-list" in r.getMessage()]
    assert len(ignored) == 1 and "999" in ignored[0].getMessage()
    assert fake.commands  # the command menu was registered


def test_no_commands_without_telegram(monkeypatch: pytest.MonkeyPatch) -> None:
    assert make_commands(load_settings(), status=status) is None


def test_answers_survive_a_failing_status_provider(tg_env: FakeTelegram) -> None:
    async def broken() -> dict[str, Any]:
        raise RuntimeError("store locked")

    commands = TelegramCommands(load_settings(), status=broken)
    text = asyncio.run(commands.answer("status"))
    assert text.startswith("⚠️ /status is unavailable right now: RuntimeError")
    assert "No cycle has run yet" in asyncio.run(commands.answer("pulse"))


def test_positions_answer_fits_telegrams_limit(
    tg_env: FakeTelegram, monkeypatch: pytest.MonkeyPatch, clock: FixedClock
) -> None:
    # 60 open positions: over 4096 characters, which Telegram refuses ("message is too long")
    # so /positions got no answer at all.
    monkeypatch.setenv("SEXTANT_TELEGRAM__POLL_TIMEOUT_S", "1")
    settings = load_settings()
    many = {**STATUS, "positions": [{**STATUS["positions"][0], "leverage": i} for i in range(60)]}

    async def crowded() -> dict[str, Any]:
        return many

    async def main() -> None:
        commands = make_commands(settings, status=crowded, clock=clock)
        assert isinstance(commands, TelegramCommands)
        await commands.start()
        await asyncio.wait_for(commands.ready.wait(), 5)
        tg_env.push_command(42, GROUP, "/positions")
        assert await tg_env.await_sent(1)
        await commands.stop()

    asyncio.run(main())
    assert [c["status"] for c in tg_env.calls_to("sendMessage")] == [200]
    (answer,) = tg_env.messages_in(GROUP)
    text = answer["text"]
    assert text.startswith("📂 Open positions (60)") and text.endswith(settings.telegram.disclaimer)
    shown = text.count("ETH/USDT SHORT")
    assert 0 < shown < 60 and f"…and {60 - shown} more" in text
