"""The fake Bot API server, exercised through the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import html
import struct
import time
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import httpx
import pytest
from telegram import Bot, LinkPreviewOptions, MessageEntity, ReplyParameters, Update
from telegram.error import BadRequest, Conflict, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, ApplicationBuilder, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from tests.fakes.telegram_server import EntityParseError, FakeTelegram, parse_html

GROUP = -1001234567890  # a supergroup / channel-like chat id
MODEL_TEXT = "<b>&\"'"  # what an LLM may write: markup characters Telegram refuses raw


def run[T](coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def tiny_png(width: int = 4, height: int = 3) -> bytes:
    """A valid RGB PNG built by hand (no matplotlib import cost in this test)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


def make_bot(fake: FakeTelegram, *, read_timeout: float = 5.0, token: str | None = None) -> Bot:
    # short read timeout only where a test wants to see TimedOut
    request = HTTPXRequest(read_timeout=read_timeout, write_timeout=5, connect_timeout=2)
    return Bot(
        token or fake.token,
        base_url=fake.base_url,
        base_file_url=fake.base_file_url,
        request=request,
    )


def with_bot(fake: FakeTelegram, body: Callable[[Bot], Awaitable[Any]], **kwargs: Any) -> Any:
    async def main() -> Any:
        async with make_bot(fake, **kwargs) as bot:
            return await body(bot)

    return run(main())


def test_get_me(fake: FakeTelegram) -> None:
    me = with_bot(fake, lambda bot: bot.get_me())
    assert me.is_bot and me.id == 123456 and me.username == "sextant_test_bot"
    assert fake.base_url.startswith("http://127.0.0.1:") and fake.base_url.endswith("/bot")


def test_send_message_html_stores_parsed_text_and_ids_per_chat(fake: FakeTelegram) -> None:
    async def body(bot: Bot) -> None:
        first = await bot.send_message(GROUP, "<b>LONG</b> BTCUSDT &amp; co", parse_mode="HTML")
        second = await bot.send_message(GROUP, "plain")
        other = await bot.send_message(-1009, "elsewhere")
        assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
        assert first.text == "LONG BTCUSDT & co"
        assert first.entities == (MessageEntity(MessageEntity.BOLD, 0, 4),)

    with_bot(fake, body)
    entry = fake.messages_in(GROUP)[0]
    assert entry["method"] == "sendMessage" and entry["parse_mode"] == "HTML"
    assert entry["text"] == "LONG BTCUSDT & co" and entry["raw"] == "<b>LONG</b> BTCUSDT &amp; co"
    assert entry["reply_to"] is None and entry["photo_bytes"] is None
    assert [m["text"] for m in fake.sent] == ["LONG BTCUSDT & co", "plain", "elsewhere"]


def test_reply_threads_to_entry_with_topic_and_options(fake: FakeTelegram) -> None:
    async def body(bot: Bot) -> None:
        entry = await bot.send_message(GROUP, "entry", message_thread_id=7)
        exit_post = await bot.send_message(
            GROUP,
            "TP1 hit",
            reply_parameters=ReplyParameters(entry.message_id),
            message_thread_id=7,
            disable_notification=True,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
        assert exit_post.reply_to_message is not None
        assert exit_post.reply_to_message.message_id == entry.message_id
        assert exit_post.message_thread_id == 7

    with_bot(fake, body)
    entry, exit_post = fake.messages_in(GROUP)
    assert exit_post["reply_to"] == entry["message_id"] == 1
    assert exit_post["message_thread_id"] == 7 and exit_post["disable_notification"] is True
    assert exit_post["link_preview_options"] == {"is_disabled": True}


def test_reply_to_unknown_message(fake: FakeTelegram) -> None:
    async def body(bot: Bot) -> None:
        with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
            await bot.send_message(GROUP, "exit", reply_parameters=ReplyParameters(99))
        sent = await bot.send_message(
            GROUP, "exit", reply_parameters=ReplyParameters(99, allow_sending_without_reply=True)
        )
        assert sent.reply_to_message is None

    with_bot(fake, body)
    assert [m["reply_to"] for m in fake.sent] == [None]


def test_send_photo_with_caption_and_download(fake: FakeTelegram) -> None:
    png = tiny_png()

    async def body(bot: Bot) -> bytes:
        message = await bot.send_photo(
            GROUP, png, caption="<b>LONG</b> ETHUSDT", parse_mode="HTML", filename="chart.png"
        )
        assert message.caption == "LONG ETHUSDT"
        assert (message.photo[-1].width, message.photo[-1].height) == (4, 3)
        tg_file = await bot.get_file(message.photo[-1].file_id)
        return bytes(await tg_file.download_as_bytearray())  # goes through base_file_url

    downloaded = with_bot(fake, body)
    record = fake.sent[0]
    assert record["method"] == "sendPhoto" and record["photo_bytes"] == png == downloaded
    assert record["caption"] == "LONG ETHUSDT" and record["photo_filename"] == "chart.png"
    assert fake.calls_to("sendPhoto")[0]["files"]["photo"]["size"] == len(png)


def test_photo_that_is_not_an_image_is_refused(fake: FakeTelegram) -> None:
    async def body(bot: Bot) -> None:
        with pytest.raises(BadRequest, match="Image_process_failed"):
            await bot.send_photo(GROUP, b"not an image", filename="x.png")

    with_bot(fake, body)
    assert fake.sent == []


def test_unescaped_model_text_is_refused_and_escaped_text_is_stored_unescaped(
    fake: FakeTelegram,
) -> None:
    async def body(bot: Bot) -> None:
        with pytest.raises(BadRequest, match="Can't parse entities"):
            await bot.send_message(GROUP, f"<i>Reason:</i> {MODEL_TEXT}", parse_mode="HTML")
        with pytest.raises(BadRequest, match="Can't parse entities"):
            await bot.send_photo(GROUP, tiny_png(), caption=MODEL_TEXT, parse_mode="HTML")
        await bot.send_message(
            GROUP, f"<i>Reason:</i> {html.escape(MODEL_TEXT)}", parse_mode="HTML"
        )

    with_bot(fake, body)
    assert [m["text"] for m in fake.sent] == [f"Reason: {MODEL_TEXT}"]


def test_length_limits_are_measured_after_entity_parsing(fake: FakeTelegram) -> None:
    async def body(bot: Bot) -> None:
        await bot.send_message(GROUP, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
        with pytest.raises(BadRequest, match=r"^Message is too long$"):
            await bot.send_message(GROUP, "x" * 4097)
        await bot.send_photo(GROUP, tiny_png(), caption="&amp;" * 1024, parse_mode="HTML")
        with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
            await bot.send_photo(GROUP, tiny_png(), caption="y" * 1025)

    with_bot(fake, body)
    assert len(fake.sent) == 2


def test_429_raises_retry_after_and_posts_nothing(
    fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB 22: retry_after as timedelta, no warning
    fake.fail_next("sendMessage", "429", retry_after=7)

    async def body(bot: Bot) -> None:
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(GROUP, "entry")
        assert caught.value.retry_after.total_seconds() == 7
        await bot.send_message(GROUP, "entry")

    with_bot(fake, body)
    assert [c["status"] for c in fake.calls_to("sendMessage")] == [429, 200]
    assert len(fake.sent) == 1


@pytest.mark.parametrize(
    ("kind", "message"),
    [("500", "^Internal Server Error$"), ("502", r"^Bad Gateway \(502\)\. Parsing the server")],
)
def test_5xx_raises_network_error_and_posts_nothing(
    fake: FakeTelegram, kind: str, message: str
) -> None:
    fake.fail_next("sendMessage", kind)

    async def body(bot: Bot) -> None:
        with pytest.raises(NetworkError, match=message) as caught:
            await bot.send_message(GROUP, "entry")
        # NetworkError, but not its TimedOut subclass: the post certainly did not happen
        assert type(caught.value) is NetworkError
        await bot.send_message(GROUP, "entry")

    with_bot(fake, body)
    assert len(fake.sent) == 1


def test_timeout_after_apply_posts_but_client_sees_timed_out(fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", "timeout_after_apply")

    async def body(bot: Bot) -> None:
        with pytest.raises(TimedOut):
            await bot.send_message(GROUP, "entry")
        assert [m["text"] for m in fake.sent] == ["entry"]  # it IS posted despite TimedOut
        await bot.send_message(GROUP, "entry")  # so a blind retry posts it twice

    started = time.monotonic()
    with_bot(fake, body, read_timeout=0.3)
    assert time.monotonic() - started < 3  # the held answer ends when the client hangs up
    assert [m["text"] for m in fake.sent] == ["entry", "entry"]
    assert [c["status"] for c in fake.calls_to("sendMessage")] == [None, 200]


def test_timeout_before_apply_posts_nothing(fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", "timeout_before_apply")

    async def body(bot: Bot) -> None:
        with pytest.raises(TimedOut):
            await bot.send_message(GROUP, "entry")

    with_bot(fake, body, read_timeout=0.3)
    assert fake.sent == []


def test_bad_request_fault(fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", "bad_request", description="Bad Request: chat not found")

    async def body(bot: Bot) -> None:
        with pytest.raises(BadRequest, match=r"^Chat not found$"):
            await bot.send_message(GROUP, "entry")

    with_bot(fake, body)
    assert fake.sent == []


def test_unknown_token_is_invalid_token(fake: FakeTelegram) -> None:
    async def main() -> None:
        bot = make_bot(fake, token="999:WRONG-TOKEN")
        with pytest.raises(InvalidToken):
            await bot.initialize()
        await bot.shutdown()

    run(main())
    assert fake.calls[0]["status"] == 401


def test_get_updates_returns_pushed_command(fake: FakeTelegram) -> None:
    pushed = fake.push_command(42, 42, "/status")

    async def body(bot: Bot) -> None:
        updates = await bot.get_updates(timeout=0)
        assert [u.update_id for u in updates] == [pushed["update_id"]]
        message = updates[0].message
        assert message is not None and message.from_user is not None
        assert message.from_user.id == 42 and message.text == "/status"
        assert message.entities[0].type == MessageEntity.BOT_COMMAND
        assert message.parse_entities([MessageEntity.BOT_COMMAND]) == {
            message.entities[0]: "/status"
        }
        assert CommandHandler("status", lambda *_: None).check_update(updates[0])
        # confirming with offset drops it
        assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()

    with_bot(fake, body)


def test_long_poll_wakes_on_push_and_a_second_poller_conflicts(fake: FakeTelegram) -> None:
    async def body(bot: Bot) -> None:
        poll = asyncio.create_task(bot.get_updates(timeout=10))
        assert await asyncio.to_thread(fake.wait_for_call, "getUpdates", 1)
        fake.push_command(42, GROUP, "/pulse")
        started = time.monotonic()
        updates = await asyncio.wait_for(poll, 3)
        assert time.monotonic() - started < 2 and updates[0].message.text == "/pulse"

        # two bot instances polling at once: Telegram ends the older request with 409
        offset = updates[0].update_id + 1
        older = asyncio.create_task(bot.get_updates(offset=offset, timeout=10))
        assert await asyncio.to_thread(fake.wait_for_call, "getUpdates", 2)
        async with make_bot(fake) as second_instance:
            assert await second_instance.get_updates(offset=offset, timeout=0) == ()
        with pytest.raises(Conflict, match=r"(?i)terminated by other getupdates"):
            await asyncio.wait_for(older, 3)

    with_bot(fake, body)


def test_application_polls_a_command_and_replies(fake: FakeTelegram) -> None:
    async def main() -> None:
        replied = asyncio.Event()

        async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            assert update.effective_message is not None
            await update.effective_message.reply_text("<b>2</b> open positions", parse_mode="HTML")
            replied.set()

        app: Application = (  # type: ignore[type-arg]
            ApplicationBuilder()
            .token(fake.token)
            .base_url(fake.base_url)
            .base_file_url(fake.base_file_url)
            .read_timeout(5)
            .get_updates_read_timeout(5)
            .build()
        )
        app.add_handler(CommandHandler("status", status))
        await app.initialize()
        await app.bot.set_my_commands([("status", "Open positions and PnL")])
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await app.start()
        command = fake.push_command(42, GROUP, "/status")
        await asyncio.wait_for(replied.wait(), 5)
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        reply = fake.messages_in(GROUP)[-1]
        assert reply["text"] == "2 open positions"
        # in a group PTB's reply_text quotes the command message by default
        assert reply["reply_to"] == command["message"]["message_id"]

    run(main())
    methods = [c["method"] for c in fake.calls]
    assert methods[:3] == ["getMe", "setMyCommands", "deleteWebhook"]
    assert "sendMessage" in methods and methods[-1] == "getUpdates"  # last one confirms offset
    assert fake.pending_updates() == []
    assert next(iter(fake.commands.values())) == [
        {"command": "status", "description": "Open positions and PnL"}
    ]


def test_edit_and_delete(fake: FakeTelegram) -> None:
    async def body(bot: Bot) -> None:
        sent = await bot.send_message(GROUP, "pulse v1")
        edited = await bot.edit_message_text(
            "pulse <i>v2</i>", GROUP, sent.message_id, parse_mode="HTML"
        )
        assert edited.text == "pulse v2"
        with pytest.raises(BadRequest, match=r"(?i)not modified"):
            await bot.edit_message_text(
                "pulse <i>v2</i>", GROUP, sent.message_id, parse_mode="HTML"
            )
        assert await bot.delete_message(GROUP, sent.message_id)
        with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
            await bot.delete_message(GROUP, sent.message_id)

    with_bot(fake, body)
    record = fake.messages_in(GROUP, include_deleted=True)[0]
    assert record["text"] == "pulse v2" and record["edits"][0]["text"] == "pulse v1"
    assert record["deleted"] and fake.messages_in(GROUP) == []


def test_raw_wire_formats(fake: FakeTelegram) -> None:
    """JSON bodies, form bodies and the legacy reply_to_message_id, as other clients send them."""
    url = f"{fake.base_url}{fake.token}"
    with httpx.Client(timeout=5) as client:
        first = client.post(f"{url}/sendMessage", json={"chat_id": GROUP, "text": "entry"}).json()
        reply = client.post(
            f"{url}/sendMessage",
            data={"chat_id": str(GROUP), "text": "exit", "reply_to_message_id": "1"},
        ).json()
        missing = client.post(
            f"{url}/sendMessage", json={"chat_id": GROUP, "text": "x", "reply_to_message_id": 9}
        )
        unknown = client.post(f"{url}/noSuchMethod")
        bad_token = client.get(f"{fake.base_url}123:nope/getMe")
    assert first["ok"] and first["result"]["message_id"] == 1
    assert reply["result"]["reply_to_message"]["message_id"] == 1
    assert missing.status_code == 400 and missing.json() == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: message to be replied not found",
    }
    assert unknown.status_code == 404 and unknown.json()["description"] == "Not Found"
    assert bad_token.status_code == 401 and bad_token.json() == {
        "ok": False,
        "error_code": 401,
        "description": "Unauthorized",
    }
    assert [m["reply_to"] for m in fake.sent] == [None, 1]


@pytest.mark.parametrize(
    ("markup", "text", "entities"),
    [
        ("a &lt;b&gt; &amp; &quot;c&quot; &#x27;d&#39;", "a <b> & \"c\" 'd'", []),
        ("<b>x<i>y</i></b>", "xy", [("bold", 0, 2), ("italic", 1, 1)]),
        (
            '<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>',
            "st",
            [("spoiler", 0, 1), ("spoiler", 1, 1)],
        ),
        ('<pre><code class="language-python">x</code></pre>', "x", [("pre", 0, 1)]),
        ("<blockquote expandable>q</blockquote>", "q", [("expandable_blockquote", 0, 1)]),
        (
            '<a href="https://bybit.com">B</a> 🚀<u>u</u>',
            "B 🚀u",
            [("text_link", 0, 1), ("underline", 4, 1)],
        ),
    ],
)
def test_parse_html_accepts(markup: str, text: str, entities: list[tuple[str, int, int]]) -> None:
    parsed_text, parsed = parse_html(markup)
    assert parsed_text == text
    assert [(e["type"], e["offset"], e["length"]) for e in parsed] == entities


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        # TDLib's own test cases (test/message_entities.cpp), byte offsets included
        ("🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
        ("🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
        ("🏟 🏟&lt;<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'),
        ("🏟 🏟&lt;<i    aba>", 'Can\'t find end tag corresponding to start tag "i"'),
        ("🏟 🏟&lt;</", "Unexpected end tag at byte offset 13"),
        ("🏟 🏟&lt;<i>a</i   ", "Unclosed end tag at byte offset 17"),
        (
            "🏟 🏟&lt;<i>a</em   >",
            'Unmatched end tag at byte offset 17, expected "</i>", found "</em>"',
        ),
        ("price < 5", 'Unsupported start tag "" at byte offset 6'),
        ("AT&T", 'Character "&" at byte offset 2 does not start an HTML entity'),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler"'),
    ],
)
def test_parse_html_refuses(markup: str, error: str) -> None:
    with pytest.raises(EntityParseError) as caught:
        parse_html(markup)
    assert str(caught.value).startswith(error)


def test_parse_html_lenient_ampersand_like_tdlib() -> None:
    assert parse_html("AT&T &ge; &Or;", strict_ampersand=False) == ("AT&T &ge; &Or;", [])
    with pytest.raises(EntityParseError, match='start tag "b"'):
        parse_html(MODEL_TEXT, strict_ampersand=False)  # still refused: <b> is never closed
