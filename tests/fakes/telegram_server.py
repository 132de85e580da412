"""A local fake of the Telegram Bot API for tests: the machines have no internet.

It speaks the Bot API wire format over plain HTTP on 127.0.0.1, so the *real*
python-telegram-bot client (or any other client) is exercised end to end:

    with FakeTelegram() as fake:
        bot = telegram.Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url)
        ...
        assert fake.messages_in(-100123)[0]["text"] == "hello"

What it checks like Telegram does (so a broadcaster that passes here passes there):
HTML ``parse_mode`` (a port of TDLib's ``parse_html``: supported tags, nesting, the same error
texts), text/caption limits measured after entity parsing, replies to unknown messages,
unknown tokens, concurrent ``getUpdates`` (409), ``getUpdates`` while a webhook is set (409),
a group upgraded to a supergroup (:meth:`FakeTelegram.migrate_chat`: every request naming the
old chat gets Telegram's 400 with ``parameters.migrate_to_chat_id``; the supergroup has its own
message ids, so replies to the old group's messages are not found there).
Faults (429, 5xx, read timeouts before/after the message is applied, arbitrary 400s) are
injected per method with :meth:`FakeTelegram.fail_next`.

One deliberate difference: by default a ``&`` that does not start an entity is rejected
(Telegram's docs require ``&amp;``; TDLib itself keeps a lone ``&`` literally). Pass
``strict_ampersand=False`` for TDLib's exact behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.message
import json
import re
import select
import socket
import struct
import threading
import time
import urllib.parse
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_TOKEN = "123456:TEST-TOKEN"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
PHOTO_MAX_BYTES = 10 * 1024 * 1024

FAULT_KINDS = frozenset(
    {"429", "500", "502", "timeout_after_apply", "timeout_before_apply", "bad_request"}
)

ChatKey = int | str
JSONDict = dict[str, Any]


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status = error_code, like Telegram."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


class EntityParseError(ValueError):
    """HTML that Telegram would refuse; the text is TDLib's reason."""


# --------------------------------------------------------------------------------------------
# HTML parse mode (port of TDLib parse_html; error texts match TDLib's test suite)
# --------------------------------------------------------------------------------------------

_SPACE = " \t\r\n\v\f\0"
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HEX = frozenset("0123456789abcdefABCDEF")


def utf16_len(text: str) -> int:
    """Telegram measures offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _decode_entity(s: str, pos: int) -> tuple[str, int] | None:
    """Decode an HTML entity at s[pos] == '&' the way TDLib does, or None if it is not one.

    Only numeric references and lt/gt/amp/quot are entities; the ';' is optional.
    """
    n = len(s)
    end = pos + 1
    if end < n and s[end] == "#":
        end += 1
        code = 0
        if end < n and s[end] == "x":
            end += 1
            while end < n and s[end] in _HEX:
                code = code * 16 + int(s[end], 16)
                end += 1
        else:
            while end < n and "0" <= s[end] <= "9":
                code = code * 10 + ord(s[end]) - 48
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return None
        char = chr(code)
    else:
        while end < n and s[end].isascii() and s[end].isalpha():
            end += 1
        found = _NAMED_ENTITIES.get(s[pos + 1 : end])
        if found is None:
            return None
        char = found
    if end < n and s[end] == ";":
        end += 1
    return char, end


@dataclass
class _OpenTag:
    name: str
    begin: int  # index in the markup, for error offsets
    offset: int  # UTF-16 offset in the parsed text
    attrs: dict[str, str]


def parse_html(markup: str, *, strict_ampersand: bool = True) -> tuple[str, list[JSONDict]]:
    """Return (plain text, Bot API entities) or raise EntityParseError with Telegram's reason."""
    out: list[str] = []
    u16 = 0
    stack: list[_OpenTag] = []
    entities: list[JSONDict] = []
    i, n = 0, len(markup)

    def byte_offset(index: int) -> int:
        # Telegram reports byte offsets into the UTF-8 markup
        return len(markup[:index].encode("utf-8", "surrogatepass"))

    def skip_spaces(index: int) -> int:
        while index < n and markup[index] in _SPACE:
            index += 1
        return index

    while i < n:
        c = markup[i]
        if c == "&":
            decoded = _decode_entity(markup, i)
            if decoded is not None:
                char, i = decoded
                out.append(char)
                u16 += utf16_len(char)
                continue
            if strict_ampersand:
                raise EntityParseError(
                    f'Character "&" at byte offset {byte_offset(i)} does not start an HTML '
                    "entity; write &amp; (strict mode of the fake)"
                )
        if c != "<":
            out.append(c)
            u16 += utf16_len(c)
            i += 1
            continue

        begin = i
        i += 1
        if i < n and markup[i] == "/":
            # end tag: "</>" closes the innermost tag, like TDLib allows
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
            i += 1
            name_start = i
            while i < n and markup[i] not in _SPACE and markup[i] != ">":
                i += 1
            end_name = markup[name_start:i].lower()
            i = skip_spaces(i)
            if i >= n or markup[i] != ">":
                raise EntityParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
            i += 1
            top = stack.pop()
            if end_name and end_name != top.name:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {byte_offset(begin)}, "
                    f'expected "</{top.name}>", found "</{end_name}>"'
                )
            entity = _entity_for(top, u16 - top.offset, "".join(out))
            if entity is not None:
                entities.append(entity)
            continue

        name_start = i
        while i < n and markup[i] not in _SPACE and markup[i] != ">":
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
        name = markup[name_start:i].lower()
        if name not in _TAG_ENTITY:
            raise EntityParseError(
                f'Unsupported start tag "{name}" at byte offset {byte_offset(begin)}'
            )

        attrs: dict[str, str] = {}
        while True:
            i = skip_spaces(i)
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
            if markup[i] == ">":
                break
            attr_start = i
            while i < n and markup[i] not in _SPACE and markup[i] not in "=>":
                i += 1
            attr_name = markup[attr_start:i].lower()
            if not attr_name:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset {byte_offset(begin)}'
                )
            i = skip_spaces(i)
            if i >= n:
                raise EntityParseError(
                    f'Unclosed start tag "{name}" at byte offset {byte_offset(begin)}'
                )
            if markup[i] != "=":
                attrs[attr_name] = ""  # attribute without a value (e.g. <blockquote expandable>)
                continue
            i = skip_spaces(i + 1)
            if i >= n:
                raise EntityParseError(
                    f'Unclosed start tag "{name}" at byte offset {byte_offset(begin)}'
                )
            if markup[i] not in "'\"":
                token_start = i
                while i < n and (
                    (markup[i].isascii() and markup[i].isalnum()) or markup[i] in ".-"
                ):
                    i += 1
                value = markup[token_start:i].lower()
                if i >= n or (markup[i] not in _SPACE and markup[i] != ">"):
                    raise EntityParseError(
                        f"Unexpected end of name token at byte offset {byte_offset(token_start)}"
                    )
            else:
                quote = markup[i]
                i += 1
                chars: list[str] = []
                while i < n and markup[i] != quote:
                    if markup[i] == "&":
                        decoded = _decode_entity(markup, i)
                        if decoded is not None:
                            chars.append(decoded[0])
                            i = decoded[1]
                            continue
                    chars.append(markup[i])
                    i += 1
                if i >= n:
                    raise EntityParseError(
                        f"Unclosed start tag at byte offset {byte_offset(begin)}"
                    )
                i += 1
                value = "".join(chars)
            attrs[attr_name] = value
        i += 1  # the '>'

        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}'
            )
        if name == "tg-emoji" and not attrs.get("emoji-id"):
            # wording approximate: TDLib refuses a custom emoji without an identifier
            raise EntityParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {byte_offset(begin)}'
            )
        stack.append(_OpenTag(name, begin, u16, attrs))

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    text = "".join(out)
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        raise EntityParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units"
        )
    return text, _merge_pre_code(entities)


def _entity_for(tag: _OpenTag, length: int, text_so_far: str) -> JSONDict | None:
    # empty entities are dropped, as in TDLib
    if length <= 0:
        return None
    entity: JSONDict = {"type": _TAG_ENTITY[tag.name], "offset": tag.offset, "length": length}
    if tag.name == "a":
        url = tag.attrs.get("href", "")
        if not url:
            # <a>example.org</a> links its own text when that text is a URL
            inner = text_so_far.encode("utf-16-le", "surrogatepass")[tag.offset * 2 :]
            url = inner.decode("utf-16-le", "surrogatepass")
            if not re.fullmatch(r"\S+\.\S+", url):
                return None
        user = re.fullmatch(r"tg://user\?id=(\d+)", url)
        if user:
            return {
                "type": "text_mention",
                "offset": tag.offset,
                "length": length,
                "user": {"id": int(user.group(1)), "is_bot": False, "first_name": "User"},
            }
        entity["url"] = url
    elif tag.name == "tg-emoji":
        entity["custom_emoji_id"] = tag.attrs["emoji-id"]
    elif tag.name == "blockquote" and "expandable" in tag.attrs:
        entity["type"] = "expandable_blockquote"
    elif tag.name == "code":
        language = tag.attrs.get("class", "")
        if language.startswith("language-") and len(language) > len("language-"):
            entity["_language"] = language[len("language-") :]
    return entity


def _merge_pre_code(entities: list[JSONDict]) -> list[JSONDict]:
    """<pre><code class="language-x"> is one pre entity with a language (TDLib semantics)."""
    result: list[JSONDict] = []
    for entity in entities:
        language = entity.pop("_language", None)
        if language is not None:
            pre = next(
                (
                    e
                    for e in entities
                    if e["type"] == "pre"
                    and e["offset"] == entity["offset"]
                    and e["length"] == entity["length"]
                ),
                None,
            )
            if pre is not None:
                pre["language"] = language
                continue
        result.append(entity)
    result.sort(key=lambda e: (e["offset"], -e["length"]))
    return result


# --------------------------------------------------------------------------------------------
# Request parsing
# --------------------------------------------------------------------------------------------

_INT_FIELDS = frozenset(
    {"message_id", "offset", "limit", "message_thread_id", "reply_to_message_id", "from_chat_id"}
)
_BOOL_FIELDS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "allow_sending_without_reply",
        "drop_pending_updates",
        "disable_web_page_preview",
        "has_spoiler",
        "show_caption_above_media",
        "allow_paid_broadcast",
    }
)
_JSON_FIELDS = frozenset(
    {
        "reply_parameters",
        "link_preview_options",
        "reply_markup",
        "entities",
        "caption_entities",
        "allowed_updates",
        "commands",
        "scope",
    }
)


def _chat_key(value: Any) -> ChatKey:
    """Chat ids arrive as ints (JSON) or strings (forms); '@channel' names stay strings."""
    if isinstance(value, bool):
        raise ApiError(400, "Bad Request: chat not found")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if text.startswith("@") and len(text) > 1:
        return text
    raise ApiError(400, "Bad Request: chat not found" if text else "Bad Request: chat_id is empty")


def _coerce(params: dict[str, Any], from_json: bool) -> dict[str, Any]:
    """Give form values their JSON types (PTB JSON-encodes every non-string form value)."""
    result: dict[str, Any] = {}
    for key, value in params.items():
        if not from_json and isinstance(value, str):
            if key in _INT_FIELDS:
                try:
                    value = int(value)
                except ValueError as exc:
                    raise ApiError(400, f"Bad Request: invalid {key} specified") from exc
            elif key in _BOOL_FIELDS:
                value = value.strip().lower() in ("true", "1")
            elif key == "timeout":
                try:
                    value = float(value)
                except ValueError as exc:
                    raise ApiError(400, "Bad Request: invalid timeout specified") from exc
            elif key in _JSON_FIELDS:
                try:
                    value = json.loads(value)
                except ValueError as exc:
                    raise ApiError(400, f"Bad Request: can't parse {key} JSON object") from exc
        if key in ("chat_id", "from_chat_id") and isinstance(value, str):
            with contextlib.suppress(ApiError):
                value = _chat_key(value)
        result[key] = value
    return result


def _parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, JSONDict]]:
    """Split multipart/form-data exactly (binary-safe), returning (fields, files)."""
    header = email.message.Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise ApiError(400, "Bad Request: multipart boundary is missing")
    fields: dict[str, str] = {}
    files: dict[str, JSONDict] = {}
    for part in body.split(b"--" + boundary.encode("latin-1"))[1:]:
        if part.startswith(b"--"):
            break  # closing delimiter
        part = part.removeprefix(b"\r\n").removesuffix(b"\r\n")
        raw_headers, _, data = part.partition(b"\r\n\r\n")
        headers = email.message.Message()
        for line in raw_headers.decode("utf-8", "replace").split("\r\n"):
            key, sep, value = line.partition(":")
            if sep:
                headers[key.strip()] = value.strip()
        name = headers.get_param("name", header="content-disposition")
        filename = headers.get_param("filename", header="content-disposition")
        if not isinstance(name, str):
            continue
        if isinstance(filename, str):
            files[name] = {
                "filename": filename,
                "content_type": headers.get_content_type(),
                "data": data,
            }
        else:
            fields[name] = data.decode("utf-8")
    return fields, files


def _image_size(data: bytes) -> tuple[str, int, int] | None:
    """(extension, width, height) for the image formats Telegram accepts as photos."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg", 0, 0  # dimensions not parsed: JPEG needs a marker walk
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return "gif", width, height
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp", 0, 0
    return None


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


@dataclass
class _Fault:
    kind: str
    retry_after: int
    description: str
    hold: float


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects
    server_version = "FakeTelegramBotAPI/1.0"
    timeout = 30  # idle keep-alive connections eventually end
    fake: FakeTelegram

    def setup(self) -> None:
        super().setup()
        self.fake._track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.fake._track(self.connection, add=False)

    def do_POST(self) -> None:
        self.fake._handle(self)

    def do_GET(self) -> None:
        self.fake._handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


class FakeTelegram:
    """Bot API server on 127.0.0.1:<random port>; use as a context manager."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "sextant_test_bot",
        strict_ampersand: bool = True,
        hold_seconds: float = 10.0,
    ) -> None:
        self.token = token
        self.strict_ampersand = strict_ampersand
        # how long timeout faults hold a response; it ends early when the client hangs up
        self.hold_seconds = hold_seconds
        bot_id = token.split(":", 1)[0]
        self.bot_user: JSONDict = {
            "id": int(bot_id) if bot_id.isdigit() else 123456,
            "is_bot": True,
            "first_name": "Sextant Test",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        # override the chat type guessed from the id, e.g. {-1001234: "channel"}
        self.chat_types: dict[ChatKey, str] = {}
        self.commands: dict[str, list[JSONDict]] = {}
        self.webhook_url = ""
        self.migrations: dict[ChatKey, int] = {}  # old group id -> its supergroup's id

        self._lock = threading.RLock()
        self._updates_cv = threading.Condition(self._lock)
        self._sent_cv = threading.Condition(self._lock)
        self._calls_cv = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._sent: list[JSONDict] = []
        self._incoming: list[JSONDict] = []
        self._calls: list[JSONDict] = []
        self._messages: dict[tuple[ChatKey, int], JSONDict] = {}  # Message JSON by chat/id
        self._records: dict[tuple[ChatKey, int], JSONDict] = {}  # our record of bot messages
        self._next_message_id: dict[ChatKey, int] = {}
        self._updates: list[JSONDict] = []
        self._next_update_id = 1
        self._poll_generation = 0
        self._faults: dict[str, deque[_Fault]] = {}
        self._files: dict[str, JSONDict] = {}
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---------------------------------------------------------------- lifecycle

    def __enter__(self) -> FakeTelegram:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._stopping.clear()
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="FakeTelegram",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()  # releases held responses and long polls
        with self._lock:
            self._updates_cv.notify_all()
            connections = list(self._connections)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for conn in connections:  # else idle keep-alive threads linger until their timeout
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ---------------------------------------------------------------- test-facing API

    @property
    def sent(self) -> list[JSONDict]:
        """Messages the bot sent, in order (a snapshot list of the live record dicts)."""
        with self._lock:
            return list(self._sent)

    @property
    def calls(self) -> list[JSONDict]:
        """Every request: {method, params, files, ts, status} (status is the HTTP answer)."""
        with self._lock:
            return list(self._calls)

    @property
    def incoming(self) -> list[JSONDict]:
        """Messages pushed by the test (Message JSON)."""
        with self._lock:
            return list(self._incoming)

    def calls_to(self, method: str) -> list[JSONDict]:
        with self._lock:
            return [c for c in self._calls if c["method"].lower() == method.lower()]

    def messages_in(self, chat_id: ChatKey, *, include_deleted: bool = False) -> list[JSONDict]:
        key = _chat_key(chat_id)
        with self._lock:
            return [
                m
                for m in self._sent
                if m["chat_id"] == key and (include_deleted or not m["deleted"])
            ]

    def file_bytes(self, file_id: str) -> bytes:
        with self._lock:
            return bytes(self._files[file_id]["data"])

    def pending_updates(self) -> list[JSONDict]:
        with self._lock:
            return list(self._updates)

    def migrate_chat(self, old: ChatKey, new: int) -> None:
        """Upgrade the group `old` to the supergroup `new`, as a group admin can do at any time."""
        with self._lock:
            self.migrations[_chat_key(old)] = new
            self.chat_types[new] = "supergroup"

    def fail_next(
        self,
        method: str,
        kind: str,
        times: int = 1,
        *,
        retry_after: int = 1,
        description: str = "Bad Request: chat not found",
        hold: float | None = None,
    ) -> None:
        """Make the next `times` calls of `method` fail.

        kinds: "429" (flood wait, not applied), "500" (JSON error, not applied), "502" (HTML
        gateway page as from nginx, not applied), "bad_request" (400 with `description`),
        "timeout_after_apply" (applied and recorded, then the answer is held for `hold`
        seconds or until the client hangs up), "timeout_before_apply" (held first; applied
        only if the client is still waiting when the hold ends).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(FAULT_KINDS)}")
        fault = _Fault(kind, retry_after, description, self.hold_seconds if hold is None else hold)
        with self._lock:
            queue = self._faults.setdefault(method.lower(), deque())
            queue.extend(fault for _ in range(times))

    def push_update(self, update: JSONDict) -> JSONDict:
        """Queue a raw Update for getUpdates (update_id assigned when missing)."""
        with self._lock:
            update = dict(update)
            if "update_id" not in update:
                update["update_id"] = self._next_update_id
            self._next_update_id = max(self._next_update_id, update["update_id"]) + 1
            self._updates.append(update)
            self._updates_cv.notify_all()
            return update

    def push_message(
        self,
        user_id: int,
        chat_id: ChatKey,
        text: str,
        *,
        username: str | None = None,
        message_thread_id: int | None = None,
    ) -> JSONDict:
        """A user writes `text` in `chat_id`; commands get their bot_command entity."""
        key = _chat_key(chat_id)
        with self._lock:
            message_id = self._take_message_id(key)
            message: JSONDict = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": self._chat_json(key),
                "from": {
                    "id": user_id,
                    "is_bot": False,
                    "first_name": f"User{user_id}",
                    "username": username or f"user{user_id}",
                    "language_code": "en",
                },
                "text": text,
            }
            if message_thread_id is not None:
                message["message_thread_id"] = message_thread_id
                message["is_topic_message"] = True
            command = re.match(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]+)?", text)
            if command:
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": utf16_len(command.group(0))}
                ]
            self._messages[(key, message_id)] = message
            self._incoming.append(message)
            return self.push_update({"message": message})

    def push_command(self, user_id: int, chat_id: ChatKey, text: str, **kwargs: Any) -> JSONDict:
        """Same as push_message; named for what the tests use it for."""
        if not text.startswith("/"):
            raise ValueError("a command starts with '/'")
        return self.push_message(user_id, chat_id, text, **kwargs)

    def wait_until_sent(self, count: int, timeout: float = 5.0) -> bool:
        """Block until at least `count` messages were sent (for code running in threads)."""
        with self._sent_cv:
            return self._sent_cv.wait_for(lambda: len(self._sent) >= count, timeout)

    def wait_for_call(self, method: str, count: int = 1, timeout: float = 5.0) -> bool:
        """Block until `count` `method` requests were answered (a long poll: registered)."""
        with self._calls_cv:
            return self._calls_cv.wait_for(
                lambda: (
                    sum(
                        1
                        for c in self._calls
                        if c["method"].lower() == method.lower() and c.get("seen")
                    )
                    >= count
                ),
                timeout,
            )

    async def await_sent(self, count: int, timeout: float = 5.0) -> bool:
        """Async twin of wait_until_sent that does not block the event loop."""
        return await asyncio.to_thread(self.wait_until_sent, count, timeout)

    # ---------------------------------------------------------------- HTTP plumbing

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _handle(self, handler: _Handler) -> None:
        split = urllib.parse.urlsplit(handler.path)
        body = self._read_body(handler)
        path = urllib.parse.unquote(split.path)  # PTB percent-encodes file URLs (':' -> %3A)
        file_match = re.fullmatch(r"/file/bot([^/]*)/(.+)", path)
        if file_match:
            self._serve_file(handler, file_match.group(1), file_match.group(2))
            return
        match = re.fullmatch(r"/bot([^/]*)/([A-Za-z_]+)/?", path)
        if not match:
            self._reply(handler, 404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        token, method = match.groups()
        call: JSONDict = {"method": method, "params": {}, "files": {}, "ts": time.time()}
        with self._lock:
            self._calls.append(call)
        fault: _Fault | None = None
        try:
            params, files = self._parse_params(handler, split.query, body)
            call["params"] = params
            call["files"] = {
                k: {kk: vv for kk, vv in v.items() if kk != "data"} | {"size": len(v["data"])}
                for k, v in files.items()
            }
            if token != self.token:
                # Telegram: 401 for a well-formed but wrong token, 404 for a malformed one
                if re.fullmatch(r"\d+:[A-Za-z0-9_-]+", token):
                    raise ApiError(401, "Unauthorized")
                raise ApiError(404, "Not Found")
            fault = self._take_fault(method)
            if fault is not None and fault.kind in ("429", "500", "502", "bad_request"):
                call["fault"] = fault.kind
                self._send_fault(handler, call, fault)
                self._mark_seen(call)
                return
            if fault is not None and fault.kind == "timeout_before_apply":
                call["fault"] = fault.kind
                if not self._hold(handler, fault.hold):
                    call["status"] = None  # client gave up; nothing was applied
                    handler.close_connection = True
                    return
            result = self._dispatch(method, params, files, lambda: self._mark_seen(call))
            payload: JSONDict = {"ok": True, "result": result}
            status = 200
        except ApiError as err:
            status = err.status
            payload = {"ok": False, "error_code": err.status, "description": err.description}
            if err.parameters:
                payload["parameters"] = err.parameters
        call["status"] = status
        self._mark_seen(call)
        if fault is not None and fault.kind == "timeout_after_apply":
            call["fault"] = fault.kind
            if not self._hold(handler, fault.hold):
                call["status"] = None  # applied, but the client never saw the answer
                handler.close_connection = True
                return
        self._reply(handler, status, payload)

    @staticmethod
    def _read_body(handler: _Handler) -> bytes:
        if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    handler.rfile.readline()
                    break
                chunks.append(handler.rfile.read(size))
                handler.rfile.readline()
            return b"".join(chunks)
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length else b""

    @staticmethod
    def _parse_params(
        handler: _Handler, query: str, body: bytes
    ) -> tuple[dict[str, Any], dict[str, JSONDict]]:
        """Query string plus a form-encoded, multipart or JSON body, as Telegram accepts."""
        params: dict[str, Any] = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        files: dict[str, JSONDict] = {}
        content_type = handler.headers.get("Content-Type", "")
        mime = content_type.split(";")[0].strip().lower()
        from_json = False
        if body and mime == "application/json":
            try:
                decoded = json.loads(body)
            except ValueError as exc:
                raise ApiError(400, "Bad Request: can't parse JSON request body") from exc
            if not isinstance(decoded, dict):
                raise ApiError(400, "Bad Request: JSON request body must be an object")
            params.update(decoded)
            from_json = True
        elif body and mime == "multipart/form-data":
            fields, files = _parse_multipart(body, content_type)
            params.update(fields)
        elif body:
            params.update(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        return _coerce(params, from_json), files

    def _mark_seen(self, call: JSONDict) -> None:
        # wait_for_call counts a request once it was applied (or a long poll is registered)
        with self._calls_cv:
            call["seen"] = True
            self._calls_cv.notify_all()

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(method.lower())
            return queue.popleft() if queue else None

    def _send_fault(self, handler: _Handler, call: JSONDict, fault: _Fault) -> None:
        if fault.kind == "502":
            # what nginx in front of the Bot API sends: HTML, not JSON
            page = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" + (
                b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
            )
            call["status"] = 502
            self._reply_bytes(handler, 502, page, "text/html")
            return
        if fault.kind == "429":
            status, payload = (
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {fault.retry_after}",
                    "parameters": {"retry_after": fault.retry_after},
                },
            )
        elif fault.kind == "500":
            status, payload = (
                500,
                {
                    "ok": False,
                    "error_code": 500,
                    "description": "Internal Server Error",
                },
            )
        else:
            status, payload = (
                400,
                {
                    "ok": False,
                    "error_code": 400,
                    "description": fault.description,
                },
            )
        call["status"] = status
        self._reply(handler, status, payload)

    def _hold(self, handler: _Handler, seconds: float) -> bool:
        """Sit on a request; True if the client is still waiting when the hold ends."""
        sock = handler.connection
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            readable, _, _ = select.select([sock], [], [], min(left, 0.05))
            if readable:
                try:
                    if not sock.recv(1, socket.MSG_PEEK):
                        return False  # EOF: the client timed out and closed the connection
                except OSError:
                    return False
                self._stopping.wait(min(left, 0.05))  # data pending: avoid a busy loop
        return False

    def _reply(self, handler: _Handler, status: int, payload: JSONDict) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._reply_bytes(handler, status, body, "application/json")

    @staticmethod
    def _reply_bytes(handler: _Handler, status: int, body: bytes, content_type: str) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            handler.wfile.flush()
        except OSError:
            handler.close_connection = True  # client went away

    def _serve_file(self, handler: _Handler, token: str, path: str) -> None:
        with self._lock:
            found = next((f for f in self._files.values() if f["file_path"] == path), None)
        if token != self.token or found is None:
            self._reply(handler, 404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        self._reply_bytes(handler, 200, bytes(found["data"]), "application/octet-stream")

    # ---------------------------------------------------------------- Bot API methods

    def _dispatch(
        self,
        method: str,
        params: dict[str, Any],
        files: dict[str, JSONDict],
        on_registered: Callable[[], None],
    ) -> Any:
        handlers = {
            "getme": lambda: dict(self.bot_user),
            "sendmessage": lambda: self._send_message(params),
            "sendphoto": lambda: self._send_photo(params, files),
            "editmessagetext": lambda: self._edit(params, "text"),
            "editmessagecaption": lambda: self._edit(params, "caption"),
            "deletemessage": lambda: self._delete_message(params),
            "getupdates": lambda: self._get_updates(params, on_registered),
            "setmycommands": lambda: self._set_my_commands(params),
            "getmycommands": lambda: list(self.commands.get(self._scope_key(params), [])),
            "deletemycommands": lambda: self._delete_my_commands(params),
            "deletewebhook": lambda: self._delete_webhook(params),
            "setwebhook": lambda: self._set_webhook(params),
            "getwebhookinfo": self._webhook_info,
            "getchat": lambda: self._get_chat(params),
            "getfile": lambda: self._get_file(params),
            "sendchataction": lambda: self._require_chat(params) is not None,
            "answercallbackquery": lambda: True,
            "close": lambda: True,
            "logout": lambda: True,
        }
        handler = handlers.get(method.lower())
        if handler is None:
            raise ApiError(404, "Not Found")  # what Telegram answers for an unknown method
        if method.lower() == "getupdates":
            return handler()  # waits on a condition; must not hold the lock while waiting
        with self._lock:
            return handler()

    def _require_chat(self, params: dict[str, Any]) -> ChatKey:
        if "chat_id" not in params or params["chat_id"] in ("", None):
            raise ApiError(400, "Bad Request: chat_id is empty")
        chat = _chat_key(params["chat_id"])
        if chat in self.migrations:  # the Bot API's answer for a group that was upgraded
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self.migrations[chat]},
            )
        return chat

    def _take_message_id(self, chat: ChatKey) -> int:
        # ids are per chat and shared by everyone writing in it, starting at 1
        message_id = self._next_message_id.get(chat, 1)
        self._next_message_id[chat] = message_id + 1
        return message_id

    def _chat_type(self, chat: ChatKey) -> str:
        if chat in self.chat_types:
            return self.chat_types[chat]
        if isinstance(chat, str):
            return "channel"
        if chat > 0:
            return "private"
        return "supergroup" if str(chat).startswith("-100") else "group"

    def _chat_json(self, chat: ChatKey) -> JSONDict:
        kind = self._chat_type(chat)
        if isinstance(chat, str):
            # stable fake id for an @username chat
            result: JSONDict = {
                "id": -1_000_000_000_000 - zlib.crc32(chat.encode()),
                "type": kind,
                "title": chat[1:],
                "username": chat[1:],
            }
        elif kind == "private":
            result = {"id": chat, "type": kind, "first_name": f"User{chat}"}
        else:
            result = {"id": chat, "type": kind, "title": f"Chat {chat}"}
        return result

    def _format(
        self, params: dict[str, Any], field: str, limit: int, too_long: str
    ) -> tuple[str, list[JSONDict]]:
        """Apply parse_mode / explicit entities and the length limit, as Telegram does."""
        raw = params.get(field)
        if raw is None:
            return "", []
        raw = str(raw)
        explicit = params.get("entities" if field == "text" else "caption_entities")
        parse_mode = str(params.get("parse_mode") or "")
        if isinstance(explicit, list):
            text, entities = raw, explicit  # explicit entities win over parse_mode
        elif parse_mode.lower() == "html":
            try:
                text, entities = parse_html(raw, strict_ampersand=self.strict_ampersand)
            except EntityParseError as exc:
                raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from exc
        elif parse_mode.lower() in ("", "markdown", "markdownv2"):
            text, entities = raw, []  # Markdown is accepted but not validated by the fake
        else:
            raise ApiError(400, "Bad Request: unsupported parse_mode")
        if utf16_len(text) > limit:
            raise ApiError(400, f"Bad Request: {too_long}")
        return text, entities

    def _resolve_reply(
        self, chat: ChatKey, params: dict[str, Any]
    ) -> tuple[int | None, JSONDict | None]:
        """reply_parameters (Bot API 7+) or the legacy reply_to_message_id."""
        reply = params.get("reply_parameters")
        if isinstance(reply, dict) and reply.get("message_id") is not None:
            target_chat = _chat_key(reply["chat_id"]) if reply.get("chat_id") else chat
            message_id = int(reply["message_id"])
            allow = bool(reply.get("allow_sending_without_reply"))
        elif params.get("reply_to_message_id") is not None:
            target_chat = chat
            message_id = int(params["reply_to_message_id"])
            allow = bool(params.get("allow_sending_without_reply"))
        else:
            return None, None
        target = self._messages.get((target_chat, message_id))
        record = self._records.get((target_chat, message_id))
        if target is None or (record is not None and record["deleted"]):
            if allow:
                return None, None
            raise ApiError(400, "Bad Request: message to be replied not found")
        return message_id, target

    def _new_message(
        self,
        method: str,
        params: dict[str, Any],
        chat: ChatKey,
        content: JSONDict,
        record_extra: JSONDict,
    ) -> JSONDict:
        reply_to, reply_json = self._resolve_reply(chat, params)
        thread = params.get("message_thread_id")
        message_id = self._take_message_id(chat)
        now = time.time()
        chat_json = self._chat_json(chat)
        message: JSONDict = {"message_id": message_id, "date": int(now), "chat": chat_json}
        if chat_json["type"] == "channel":
            message["sender_chat"] = chat_json
        else:
            message["from"] = dict(self.bot_user)
        if thread is not None:
            message["message_thread_id"] = thread
            message["is_topic_message"] = True
        if reply_json is not None:
            # Telegram does not nest reply_to_message inside reply_to_message
            message["reply_to_message"] = {
                k: v for k, v in reply_json.items() if k != "reply_to_message"
            }
        message.update(content)
        if isinstance(params.get("reply_markup"), dict):
            message["reply_markup"] = params["reply_markup"]
        link_preview = params.get("link_preview_options")
        if link_preview is None and "disable_web_page_preview" in params:
            link_preview = {"is_disabled": params["disable_web_page_preview"]}
        record: JSONDict = {
            "method": method,
            "chat_id": chat,
            "message_id": message_id,
            "text": None,
            "caption": None,
            "parse_mode": params.get("parse_mode"),
            "reply_to": reply_to,
            "message_thread_id": thread,
            "disable_notification": bool(params.get("disable_notification", False)),
            "link_preview_options": link_preview,
            "reply_markup": params.get("reply_markup"),
            "photo_bytes": None,
            "ts": now,
            "deleted": False,
            "edits": [],
        } | record_extra
        self._messages[(chat, message_id)] = message
        self._records[(chat, message_id)] = record
        self._sent.append(record)
        self._sent_cv.notify_all()
        return message

    def _send_message(self, params: dict[str, Any]) -> JSONDict:
        chat = self._require_chat(params)
        text, entities = self._format(params, "text", TEXT_LIMIT, "message is too long")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        content: JSONDict = {"text": text}
        if entities:
            content["entities"] = entities
        extra = {"text": text, "entities": entities, "raw": params.get("text")}
        return self._new_message("sendMessage", params, chat, content, extra)

    def _send_photo(self, params: dict[str, Any], files: dict[str, JSONDict]) -> JSONDict:
        chat = self._require_chat(params)
        caption, entities = self._format(
            params, "caption", CAPTION_LIMIT, "message caption is too long"
        )
        data, filename = self._photo_input(params, files)
        size = _image_size(data)
        if size is None:
            raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
        ext, width, height = size
        # Telegram's photo rules: width + height <= 10000, aspect ratio at most 20
        if width + height > 10000 or (
            width and height and max(width, height) > 20 * min(width, height)
        ):
            raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
        number = len(self._files) + 1
        file_id = f"AgAC-fake-photo-{number}"
        unique_id = f"fake-u-{number}"
        self._files[file_id] = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_path": f"photos/file_{number}.{ext}",
            "data": data,
        }
        content: JSONDict = {
            "photo": [
                {
                    "file_id": file_id,
                    "file_unique_id": unique_id,
                    "width": width,
                    "height": height,
                    "file_size": len(data),
                }
            ]
        }
        if caption:
            content["caption"] = caption
        if entities:
            content["caption_entities"] = entities
        extra = {
            "caption": caption,
            "entities": entities,
            "raw": params.get("caption"),
            "photo_bytes": data,
            "photo_filename": filename,
            "file_id": file_id,
        }
        return self._new_message("sendPhoto", params, chat, content, extra)

    def _photo_input(
        self, params: dict[str, Any], files: dict[str, JSONDict]
    ) -> tuple[bytes, str | None]:
        ref = params.get("photo")
        upload = files.get("photo")
        if isinstance(ref, str) and ref.startswith("attach://"):
            upload = files.get(ref.removeprefix("attach://"))
        if upload is not None:
            data = upload["data"]
            if not data:
                raise ApiError(400, "Bad Request: file must be non-empty")
            if len(data) > PHOTO_MAX_BYTES:
                raise ApiError(400, "Bad Request: file is too big")
            return data, upload["filename"]
        if isinstance(ref, str) and ref in self._files:
            return bytes(self._files[ref]["data"]), None  # re-send by file_id
        if isinstance(ref, str) and ref.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: failed to get HTTP URL content")  # no internet
        if ref:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        raise ApiError(400, "Bad Request: there is no photo in the request")

    def _find_own(self, params: dict[str, Any], missing: str) -> tuple[JSONDict, JSONDict]:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: inline messages are not supported by the fake")
        chat = self._require_chat(params)
        if params.get("message_id") is None:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        key = (chat, int(params["message_id"]))
        record = self._records.get(key)
        if record is None or record["deleted"]:
            raise ApiError(400, f"Bad Request: {missing}")
        return record, self._messages[key]

    def _edit(self, params: dict[str, Any], field: str) -> JSONDict:
        record, message = self._find_own(params, "message to edit not found")
        if field == "text":
            if record["method"] != "sendMessage":
                raise ApiError(400, "Bad Request: there is no text in the message to edit")
            new, entities = self._format(params, "text", TEXT_LIMIT, "message is too long")
            if not new.strip():
                raise ApiError(400, "Bad Request: message text is empty")
            entity_key = "entities"
        else:
            if record["method"] != "sendPhoto":
                raise ApiError(400, "Bad Request: there is no caption in the message to edit")
            new, entities = self._format(
                params, "caption", CAPTION_LIMIT, "message caption is too long"
            )
            entity_key = "caption_entities"
        markup = params.get("reply_markup")
        if (
            new == (message.get(field) or "")
            and entities == message.get(entity_key, [])
            and markup == message.get("reply_markup")
        ):
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        record["edits"].append({field: record[field], "ts": time.time()})
        record[field] = new
        record["entities"] = entities
        record["raw"] = params.get(field)
        message[field] = new
        message.pop(entity_key, None)
        if entities:
            message[entity_key] = entities
        if isinstance(markup, dict):
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return message

    def _delete_message(self, params: dict[str, Any]) -> bool:
        record, _ = self._find_own(params, "message to delete not found")
        record["deleted"] = True
        return True

    def _get_updates(
        self, params: dict[str, Any], on_registered: Callable[[], None]
    ) -> list[JSONDict]:
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        with self._updates_cv:
            if self.webhook_url:
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; use "
                    "deleteWebhook to delete the webhook first",
                )
            # a newer getUpdates terminates an older one, like Telegram (two bot instances)
            self._poll_generation += 1
            generation = self._poll_generation
            self._updates_cv.notify_all()
            on_registered()
            if offset < 0:
                self._updates = self._updates[offset:]  # "all previous updates are forgotten"
            elif offset:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            deadline = time.monotonic() + timeout
            while not self._updates:
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping.is_set():
                    break
                self._updates_cv.wait(left)
                if generation != self._poll_generation:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that only "
                        "one bot instance is running",
                    )
            return [dict(u) for u in self._updates[:limit]]

    @staticmethod
    def _scope_key(params: dict[str, Any]) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for command in commands:
            name = str(command.get("command", "")) if isinstance(command, dict) else ""
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: command description is empty")
        self.commands[self._scope_key(params)] = commands
        return True

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(self._scope_key(params), None)
        return True

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = str(params.get("url") or "")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _webhook_info(self) -> JSONDict:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _get_chat(self, params: dict[str, Any]) -> JSONDict:
        chat = self._chat_json(self._require_chat(params))
        # fields ChatFullInfo requires since Bot API 7.x/9.x
        return chat | {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _get_file(self, params: dict[str, Any]) -> JSONDict:
        found = self._files.get(str(params.get("file_id", "")))
        if found is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": found["file_id"],
            "file_unique_id": found["file_unique_id"],
            "file_size": len(found["data"]),
            "file_path": found["file_path"],
        }
