"""Telegram broadcaster: python-telegram-bot against the Bot API (or a local/self-hosted one).

`TelegramBroadcaster(settings)` implements the broadcaster port; posts go through the outbox
(tools/broadcast/publisher.py explains the exactly-once policy) and a background task sends
them, so trading never waits on Telegram. `make_broadcaster(settings)` picks Telegram when
TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are set, else the console.
"""

import asyncio
import logging
import warnings
from datetime import timedelta

import httpx
from telegram import Bot, LinkPreviewOptions, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from sextant.clock import Clock
from sextant.config import Settings
from sextant.config.telegram import TelegramSettings
from sextant.ports.broadcaster import Broadcaster, StatusProvider
from tools.broadcast.formatting import plain
from tools.broadcast.publisher import (
    Failure,
    Outcome,
    Publisher,
    SendRequest,
    Sleep,
    migration_state,
)
from tools.broadcast.store import BroadcastStore

log = logging.getLogger(__name__)

# Failures that prove the request never reached Telegram in full.
_NOT_SENT_TIMEOUTS = (httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteTimeout)
_NOT_SENT_ERRORS = (
    httpx.ConnectError,
    httpx.WriteError,
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
    httpx.InvalidURL,
)


def telegram_configured(settings: Settings) -> bool:
    return settings.telegram_bot_token is not None and bool(settings.telegram_chat_id)


def chat_key(chat_id: str) -> int | str:
    text = str(chat_id).strip()
    return int(text) if text.lstrip("-").isdigit() else text


def retry_after_s(exc: RetryAfter) -> float:
    """RetryAfter.retry_after is an int or a timedelta depending on PTB_TIMEDELTA; read it
    without the deprecation warning either way."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def classify(exc: BaseException) -> Failure:
    """Could Telegram have delivered the post this exception came from?"""
    if isinstance(exc, RetryAfter):
        return Failure(Outcome.RATE_LIMITED, retry_after_s(exc))
    if isinstance(exc, TimedOut):  # a NetworkError: test it first
        if isinstance(exc.__cause__, _NOT_SENT_TIMEOUTS):
            return Failure(Outcome.NOT_SENT)  # never connected, or the body never went out
        return Failure(Outcome.UNCERTAIN)  # read timeout: the request was written
    if isinstance(exc, BadRequest):
        if "parse entities" in str(exc).lower():
            return Failure(Outcome.BAD_MARKUP)
        return Failure(Outcome.REJECTED)
    if isinstance(exc, ChatMigrated):  # a BadRequest: nothing was posted, the chat moved
        return Failure(Outcome.MIGRATED, new_chat_id=int(exc.new_chat_id))
    if isinstance(exc, Forbidden | InvalidToken):
        return Failure(Outcome.REJECTED)
    if isinstance(exc, NetworkError):
        cause = exc.__cause__
        if cause is None or isinstance(cause, (TelegramError, *_NOT_SENT_ERRORS)):
            # Telegram answered with an error status (5xx, a gateway page), or the request
            # could not be written: not delivered.
            return Failure(Outcome.NOT_SENT)
        return Failure(Outcome.UNCERTAIN)  # the connection broke after the request went out
    if isinstance(exc, TelegramError):
        return Failure(Outcome.NOT_SENT)
    return Failure(Outcome.NOT_SENT)  # raised by our own code before any I/O


class _RedactToken(logging.Filter):
    """httpx logs request URLs, and the Bot API puts the token in the URL."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), None
        return True


def redact_token_in_logs(token: str) -> None:
    for name in ("httpx", "telegram.Bot", "telegram.ext.Updater", "telegram.ext.Application"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactToken) and f.token == token for f in logger.filters):
            logger.addFilter(_RedactToken(token))


class TelegramTransport:
    supports_photos = True
    rate_limited = True

    def __init__(self, token: str, chat_id: str, tg: TelegramSettings) -> None:
        self._token = token
        self.chat_id = chat_key(chat_id)
        self.tg = tg
        self.destination = f"telegram:{self.chat_id}"
        self._bot: Bot | None = None
        self._request: HTTPXRequest | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        redact_token_in_logs(token)

    def _client(self) -> tuple[Bot, HTTPXRequest]:
        loop = asyncio.get_running_loop()
        if self._bot is None or self._request is None or self._loop is not loop:
            # Sends are serialised by the publisher; two connections leave room for a retry
            # while a dead keep-alive connection is being dropped.
            self._request = HTTPXRequest(
                connection_pool_size=2,
                read_timeout=self.tg.request_timeout_s,
                write_timeout=self.tg.request_timeout_s,
                connect_timeout=min(10.0, self.tg.request_timeout_s),
                pool_timeout=self.tg.request_timeout_s,
                media_write_timeout=self.tg.upload_timeout_s,
            )
            self._bot = Bot(
                self._token,
                base_url=self.tg.api_base_url,
                base_file_url=self.tg.api_file_url,
                request=self._request,
            )
            self._loop = loop
        return self._bot, self._request

    async def send(self, request: SendRequest) -> int:
        bot, http = self._client()
        await http.initialize()
        text = plain(request.html) if request.plain else request.html
        reply = (
            ReplyParameters(request.reply_to_message_id, allow_sending_without_reply=True)
            if request.reply_to_message_id is not None
            else None
        )
        common = {
            "chat_id": self.chat_id,
            "parse_mode": None if request.plain else ParseMode.HTML,
            "reply_parameters": reply,
            "message_thread_id": self.tg.message_thread_id,
        }
        if request.method == "photo" and request.photo is not None:
            message = await bot.send_photo(
                photo=request.photo, caption=text, filename="chart.png", **common
            )
        else:
            message = await bot.send_message(
                text=text, link_preview_options=LinkPreviewOptions(is_disabled=True), **common
            )
        return message.message_id

    def classify(self, exc: BaseException) -> Failure:
        return classify(exc)

    def move_to(self, chat_id: int) -> None:
        # `destination` stays the configured chat: keys and the journal (what replies reply
        # to) are kept; only where the requests go changes.
        self.chat_id = chat_id

    async def aclose(self) -> None:
        if self._request is not None and self._loop is asyncio.get_running_loop():
            await self._request.shutdown()
        self._bot = self._request = self._loop = None


class TelegramBroadcaster(Publisher):
    def __init__(
        self,
        settings: Settings,
        *,
        store: BroadcastStore | None = None,
        status: StatusProvider | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        mode: str = "background",
    ) -> None:
        if not telegram_configured(settings):
            raise ValueError("TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are needed for Telegram")
        assert settings.telegram_bot_token is not None and settings.telegram_chat_id
        transport = TelegramTransport(
            settings.telegram_bot_token.get_secret_value(),
            settings.telegram_chat_id,
            settings.telegram,
        )
        store = store or BroadcastStore.open(settings.state_dir)
        moved = store.get_state(migration_state(transport.destination))
        if moved is not None:  # the group became a supergroup earlier: post there
            transport.move_to(int(moved))
            log.warning(
                "telegram: TELEGRAM_CHAT_ID %s became the supergroup %s; posting there "
                "(remembered in the state database): set TELEGRAM_CHAT_ID=%s",
                settings.telegram_chat_id,
                moved,
                moved,
            )
        super().__init__(
            settings.telegram,
            store,
            transport,
            clock=clock,
            sleep=sleep,
            status=status,
            mode=mode,  # type: ignore[arg-type]
        )


def make_broadcaster(settings: Settings, *, status: StatusProvider | None = None) -> Broadcaster:
    """Telegram when a token and a chat id are set, else the console; both keep their outbox
    and journal in `<state_dir>/sextant.db`."""
    from tools.broadcast.console import ConsoleBroadcaster

    store = BroadcastStore.open(settings.state_dir)
    if telegram_configured(settings):
        return TelegramBroadcaster(settings, store=store, status=status)
    return ConsoleBroadcaster(settings=settings.telegram, store=store, status=status)
