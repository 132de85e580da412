"""Read-only bot commands (/status /positions /stats /pulse), answered by long polling.

For `sextant loop` (one process may poll a bot token at a time):

    commands = make_commands(services.settings, status=status_provider(engine),
                             broadcaster=services.broadcaster, clock=services.clock)
    if commands is not None:
        await commands.start()   # returns at once; polling runs in the background and keeps
    ...                          # retrying (with backoff) while Telegram is unreachable
    await commands.stop()        # on shutdown, before services.aclose()

Only user ids in `SEXTANT_TELEGRAM__ALLOWED_USER_IDS` get answers; anyone else gets none and
is logged. Answers never change anything.
"""

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from sextant.clock import Clock, SystemClock
from sextant.config import Settings
from sextant.ports.broadcaster import StatusProvider
from tools.broadcast.formatting import (
    esc,
    finish,
    help_body,
    positions_body,
    pulse_body,
    stats_body,
    status_body,
    text_budget,
)
from tools.broadcast.publisher import Publisher, Sleep
from tools.broadcast.telegram import redact_token_in_logs, telegram_configured

log = logging.getLogger(__name__)

COMMANDS: tuple[tuple[str, str], ...] = (
    ("status", "Equity, today's PnL, circuit breaker, last cycle"),
    ("positions", "Open positions with stops and targets"),
    ("stats", "Closed trades of the last 24 hours and 7 days"),
    ("pulse", "The latest Market Pulse"),
)


class TelegramCommands:
    def __init__(
        self,
        settings: Settings,
        *,
        status: StatusProvider,
        broadcaster: Publisher | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        if settings.telegram_bot_token is None:
            raise ValueError("TELEGRAM_BOT_TOKEN is needed for bot commands")
        self.settings = settings
        self.tg = settings.telegram
        self._token = settings.telegram_bot_token.get_secret_value()
        self.allowed = frozenset(self.tg.allowed_user_ids)
        self.status = status
        self.broadcaster = broadcaster
        self.clock = clock or SystemClock()
        self._sleep: Sleep = sleep or asyncio.sleep
        self._app: Application | None = None  # type: ignore[type-arg]
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()  # set once polling runs (tests, health checks)
        redact_token_in_logs(self._token)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start polling in the background; never raises, never blocks on Telegram."""
        if self._task is not None and not self._task.done():
            return
        self.ready = asyncio.Event()
        if not self.allowed:
            log.warning(
                "telegram commands: SEXTANT_TELEGRAM__ALLOWED_USER_IDS is empty; "
                "every command will be ignored"
            )
        self._task = asyncio.get_running_loop().create_task(
            self._supervise(), name="sextant-telegram-commands"
        )

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._task = None
        await self._teardown()

    async def _supervise(self) -> None:
        attempt = 0
        while True:
            try:
                await self._start_app()
                self.ready.set()
                log.info("telegram commands: listening")
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                delay = min(self.tg.backoff_max_s, self.tg.backoff_initial_s * 2 ** (attempt - 1))
                log.warning(
                    "telegram commands: cannot start (%s: %s); retry in %.0f s",
                    type(exc).__name__,
                    self._redact(str(exc)),
                    delay,
                )
                await self._teardown()
                await self._sleep(delay)

    async def _start_app(self) -> None:
        app = (
            ApplicationBuilder()
            .token(self._token)
            .base_url(self.tg.api_base_url)
            .base_file_url(self.tg.api_file_url)
            .read_timeout(self.tg.request_timeout_s)
            .get_updates_read_timeout(self.tg.poll_timeout_s + 10)
            .build()
        )
        app.add_handler(MessageHandler(filters.COMMAND, self._on_command))
        self._app = app
        await app.initialize()
        with contextlib.suppress(TelegramError):
            await app.bot.set_my_commands(list(COMMANDS))
        assert app.updater is not None
        await app.updater.start_polling(
            timeout=int(self.tg.poll_timeout_s),
            allowed_updates=[Update.MESSAGE],
            drop_pending_updates=True,  # a /status from hours ago needs no answer now
            error_callback=self._poll_error,
        )
        await app.start()

    async def _teardown(self) -> None:
        app, self._app = self._app, None
        if app is None:
            return
        with contextlib.suppress(Exception):
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
        with contextlib.suppress(Exception):
            if app.running:
                await app.stop()
        with contextlib.suppress(Exception):
            await app.shutdown()

    def _poll_error(self, exc: TelegramError) -> None:
        log.warning("telegram commands: polling error (%s); PTB retries", self._redact(str(exc)))

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "<token>")

    # ------------------------------------------------------------------ answers

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        user = update.effective_user
        if message is None or not message.text:
            return
        head = message.text.split()[0][1:]
        name, _, target = head.partition("@")
        me = self._app.bot.username if self._app is not None else None
        if target and me and target.lower() != me.lower():
            return  # addressed to another bot in the group
        chat = update.effective_chat.id if update.effective_chat else None
        if user is None or user.id not in self.allowed:
            log.warning(
                "telegram commands: /%s from user %s (%r) in chat %s ignored: not on the "
                "allow-list",
                name[:32],
                user.id if user else None,
                user.username if user else None,
                chat,
            )
            return
        log.info("telegram commands: /%s from user %s", name[:32], user.id)
        body = await self.answer(name.lower())
        await message.reply_text(
            finish(body, self.tg.disclaimer),
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )

    async def answer(self, command: str) -> str:
        """The HTML answer to a command (without the disclaimer; lists cut to leave room for
        it). Never raises."""
        budget = text_budget(self.tg.disclaimer)
        try:
            if command in ("status", "positions"):
                doc = await self.status()
                return status_body(doc) if command == "status" else positions_body(doc, budget)
            if command == "stats":
                return await self._stats()
            if command == "pulse":
                pulse = await self.broadcaster.latest_pulse() if self.broadcaster else None
                if pulse is None:
                    return "🧭 <b>Market Pulse</b>\nNo cycle has run yet."
                return pulse_body(pulse, budget)
            return help_body(COMMANDS)
        except Exception as exc:
            log.exception("telegram commands: /%s failed", command)
            return f"⚠️ /{esc(command)} is unavailable right now: {esc(type(exc).__name__)}"

    async def _stats(self) -> str:
        if self.broadcaster is None:
            return "📊 No statistics: the broadcaster journal is not available."
        now = self.clock.now()
        day = await self.broadcaster.stats(now - timedelta(days=1), now)
        week = await self.broadcaster.stats(now - timedelta(days=7), now)
        return stats_body("Last 24 hours", day) + "\n\n" + stats_body("Last 7 days", week)


def make_commands(
    settings: Settings,
    *,
    status: StatusProvider,
    broadcaster: Any = None,
    clock: Clock | None = None,
) -> TelegramCommands | None:
    """The command listener when Telegram is configured, else None."""
    if not telegram_configured(settings):
        return None
    journal = broadcaster if isinstance(broadcaster, Publisher) else None
    return TelegramCommands(settings, status=status, broadcaster=journal, clock=clock)
