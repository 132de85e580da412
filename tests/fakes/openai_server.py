"""A local OpenAI-compatible (OpenRouter-flavoured) chat-completions server for tests.

The machines running the tests have no internet, and langchain's own fake chat models do not
support ``bind_tools`` / ``with_structured_output``; so the LLM code is exercised through the
real ``langchain_openai.ChatOpenAI`` -> ``openai`` -> HTTP path against this server instead.

Usage::

    from tests.fakes.openai_server import FakeOpenAI, error, text, tool_call

    with FakeOpenAI() as fake:
        fake.enqueue(error(429, "slow down", retry_after="0.01"), text('{"ok": true}', cost=0.001))
        llm = ChatOpenAI(base_url=fake.base_url, api_key="test", model="perplexity/sonar",
                         max_retries=1, timeout=2)
        assert llm.invoke("hi").content == '{"ok": true}'
        assert fake.calls == 2

Wire format follows the OpenAI chat-completions API with OpenRouter's additions: ``usage.cost``,
``provider``, ``gen-`` ids, top-level ``citations`` (Perplexity Sonar, passed through by
OpenRouter), and the error body ``{"error": {"code", "message", "metadata"}}`` whose ``code``
equals the HTTP status.
"""

from __future__ import annotations

import json
import secrets
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

__all__ = [
    "DEFAULT_MODELS",
    "BodyErrorReply",
    "DelayReply",
    "ErrorReply",
    "FakeOpenAI",
    "MalformedReply",
    "RawReply",
    "RecordedRequest",
    "Reply",
    "Responder",
    "TextReply",
    "ToolCall",
    "ToolCallReply",
    "body_error",
    "delay",
    "error",
    "hang",
    "malformed",
    "raw",
    "text",
    "tool_call",
    "tool_calls",
]

# Path prefixes served: OpenRouter's (/api/v1) and plain OpenAI-style (/v1).
_PREFIXES = ("/api/v1", "/v1")

DEFAULT_MODELS: tuple[str, ...] = ("perplexity/sonar", "openai/gpt-4o-mini")


# --------------------------------------------------------------------------------------------
# Reply kinds
# --------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Reply:
    """Base of every scripted reply; ``headers`` are extra HTTP response headers."""

    headers: dict[str, str] = field(default_factory=dict)


@dataclass(kw_only=True)
class _Completion(Reply):
    # None means "estimate from the request/answer" so every response carries plausible usage.
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    model: str | None = None
    finish_reason: str = "stop"
    citations: list[str] | None = None


@dataclass(kw_only=True)
class TextReply(_Completion):
    content: str


@dataclass(kw_only=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] | str
    id: str | None = None

    def arguments_json(self) -> str:
        # The wire format carries arguments as a JSON *string*; a str is sent verbatim so tests
        # can also send broken JSON arguments.
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


@dataclass(kw_only=True)
class ToolCallReply(_Completion):
    calls: list[ToolCall]
    content: str | None = None
    finish_reason: str = "tool_calls"


@dataclass(kw_only=True)
class ErrorReply(Reply):
    status: int
    message: str
    code: int | str | None = None  # OpenRouter puts the HTTP status here; None -> status
    metadata: dict[str, Any] | None = None
    retry_after: str | float | None = None  # seconds, sent as Retry-After
    retry_after_ms: str | float | None = None  # sent as retry-after-ms (openai honours it first)
    should_retry: bool | None = None  # sent as x-should-retry (openai obeys it over the status)


@dataclass(kw_only=True)
class BodyErrorReply(Reply):
    """HTTP 200 whose body is an error: OpenRouter does this once the model started answering."""

    message: str
    code: int | str = 502
    metadata: dict[str, Any] | None = None


@dataclass(kw_only=True)
class DelayReply(Reply):
    seconds: float
    then: Reply | None = None  # None -> a plain text "ok"


@dataclass(kw_only=True)
class MalformedReply(Reply):
    body: str = "<html><body>upstream hiccup</body></html>"
    status: int = 200
    content_type: str = "application/json"


@dataclass(kw_only=True)
class RawReply(Reply):
    """Anything else: exact status, body (dict is JSON-encoded) and content type."""

    status: int
    body: str | bytes | dict[str, Any] | list[Any]
    content_type: str = "application/json"


Responder = Callable[[dict[str, Any]], "Reply | str | None"]


def text(
    content: str,
    *,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    cost: float | None = None,
    model: str | None = None,
    finish_reason: str = "stop",
    citations: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> TextReply:
    """An assistant message with plain ``content``."""
    return TextReply(
        content=content,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost=cost,
        model=model,
        finish_reason=finish_reason,
        citations=citations,
        headers=dict(headers or {}),
    )


def tool_call(
    name: str,
    arguments: dict[str, Any] | str,
    *,
    call_id: str | None = None,
    content: str | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    cost: float | None = None,
    model: str | None = None,
    finish_reason: str = "tool_calls",
    headers: dict[str, str] | None = None,
) -> ToolCallReply:
    """An assistant message carrying one function tool call."""
    return tool_calls(
        [ToolCall(name=name, arguments=arguments, id=call_id)],
        content=content,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost=cost,
        model=model,
        finish_reason=finish_reason,
        headers=headers,
    )


def tool_calls(
    calls: list[ToolCall | tuple[str, dict[str, Any] | str]],
    *,
    content: str | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    cost: float | None = None,
    model: str | None = None,
    finish_reason: str = "tool_calls",
    headers: dict[str, str] | None = None,
) -> ToolCallReply:
    """An assistant message carrying several tool calls (``(name, arguments)`` or ToolCall)."""
    norm = [c if isinstance(c, ToolCall) else ToolCall(name=c[0], arguments=c[1]) for c in calls]
    return ToolCallReply(
        calls=norm,
        content=content,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost=cost,
        model=model,
        finish_reason=finish_reason,
        headers=dict(headers or {}),
    )


def error(
    status: int,
    message: str | None = None,
    *,
    code: int | str | None = None,
    metadata: dict[str, Any] | None = None,
    retry_after: str | float | None = None,
    retry_after_ms: str | float | None = None,
    should_retry: bool | None = None,
    headers: dict[str, str] | None = None,
) -> ErrorReply:
    """An OpenRouter-shaped HTTP error.

    Note for retry tests: the openai client ignores ``Retry-After: 0`` (it only honours
    0 < value <= 120 s) and falls back to its 0.5-8 s backoff; use ``retry_after="0.01"`` or
    ``retry_after_ms=1`` for a fast retry.
    """
    if message is None:
        message = _DEFAULT_ERROR_MESSAGES.get(status, HTTPStatus(status).phrase)
    return ErrorReply(
        status=status,
        message=message,
        code=code,
        metadata=metadata,
        retry_after=retry_after,
        retry_after_ms=retry_after_ms,
        should_retry=should_retry,
        headers=dict(headers or {}),
    )


def body_error(
    message: str, *, code: int | str = 502, metadata: dict[str, Any] | None = None
) -> BodyErrorReply:
    """HTTP 200 with ``{"error": {...}}`` and no choices (OpenRouter mid-generation failure)."""
    return BodyErrorReply(message=message, code=code, metadata=metadata)


def delay(seconds: float, then: Reply | str | None = None) -> DelayReply:
    """Hold the response ``seconds`` before sending ``then`` (for client timeout tests)."""
    return DelayReply(seconds=seconds, then=_coerce(then) if then is not None else None)


def hang(seconds: float = 3600.0) -> DelayReply:
    """A model that never answers (within a test): holds the request until the client hangs up
    (counted in ``FakeOpenAI.abandoned``) or the fake closes."""
    return DelayReply(seconds=seconds)


def malformed(
    body: str = "<html><body>upstream hiccup</body></html>",
    *,
    status: int = 200,
    content_type: str = "application/json",
) -> MalformedReply:
    """A response whose body is not JSON (by default HTTP 200 claiming application/json)."""
    return MalformedReply(body=body, status=status, content_type=content_type)


def raw(
    status: int,
    body: str | bytes | dict[str, Any] | list[Any],
    *,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> RawReply:
    """An exact HTTP response, for shapes the other kinds do not cover."""
    return RawReply(
        status=status, body=body, content_type=content_type, headers=dict(headers or {})
    )


_DEFAULT_ERROR_MESSAGES: dict[int, str] = {
    400: "Bad Request",
    401: "No auth credentials found",
    402: "Insufficient credits. Add more using https://openrouter.ai/settings/credits",
    403: "Input was flagged by moderation",
    408: "Request timed out",
    429: "Rate limit exceeded",
    500: "Internal Server Error",
    502: "Provider returned error",
    503: "No endpoints found that can handle the request",
}


def _coerce(reply: Reply | str) -> Reply:
    # A bare string is shorthand for a text answer.
    return text(reply) if isinstance(reply, str) else reply


# --------------------------------------------------------------------------------------------
# Recording
# --------------------------------------------------------------------------------------------


class RecordedRequest(dict[str, Any]):
    """One received request: a plain dict (``method, path, headers, json, body``) that also
    allows attribute access. Header names are lower-cased; ``json`` is None when the body is
    absent or not JSON."""

    @property
    def method(self) -> str:
        return str(self["method"])

    @property
    def path(self) -> str:
        return str(self["path"])

    @property
    def headers(self) -> dict[str, str]:
        return dict(self["headers"])

    @property
    def json(self) -> Any:
        return self["json"]

    @property
    def body(self) -> bytes:
        return bytes(self["body"])


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------


class FakeOpenAI:
    """OpenAI-compatible chat-completions server on 127.0.0.1 in a daemon thread.

    Replies come from the queue (``enqueue``) first, then from ``responder``; with neither, the
    request gets HTTP 500 plus ``x-should-retry: false`` so an unscripted call fails loudly and
    at once instead of being retried with backoff.
    """

    def __init__(
        self,
        *,
        models: tuple[str, ...] | list[str] = DEFAULT_MODELS,
        responder: Responder | None = None,
    ) -> None:
        self.models: list[str] = list(models)
        self.responder: Responder | None = responder
        self.requests: list[RecordedRequest] = []
        self.unscripted: int = 0  # completion requests that found no reply
        self.responder_errors: list[Exception] = []  # exceptions raised by the responder
        # Held (delayed) requests whose client hung up before the reply: cancelled calls.
        self.abandoned: int = 0
        self._abandon = threading.Condition()
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True  # a held (delayed) reply must never block shutdown
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes delayed replies
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- addresses ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenRouter-like base URL, e.g. ``http://127.0.0.1:PORT/api/v1``."""
        return f"{self.url}/api/v1"

    @property
    def base_url_v1(self) -> str:
        """OpenAI-like base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"{self.url}/v1"

    # -- scripting ------------------------------------------------------------------------

    def enqueue(self, *replies: Reply | str) -> None:
        """Queue replies, consumed one per completion request in order."""
        with self._lock:
            self._queue.extend(_coerce(r) for r in replies)

    @property
    def pending(self) -> int:
        """Queued replies not consumed yet."""
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        """Forget queued replies, the responder and recorded requests."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.unscripted = 0
            self.responder_errors.clear()
        self.responder = None

    # -- recording ------------------------------------------------------------------------

    @property
    def completion_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if _route(r.path) == "chat/completions"]

    @property
    def calls(self) -> int:
        """Number of chat-completion requests received (retries included)."""
        return len(self.completion_requests)

    @property
    def last_request(self) -> RecordedRequest:
        reqs = self.completion_requests
        if not reqs:
            raise AssertionError("FakeOpenAI received no chat-completion request")
        return reqs[-1]

    @property
    def last_messages(self) -> list[dict[str, Any]]:
        body = self.last_request.json
        return list(body.get("messages", [])) if isinstance(body, dict) else []

    def wait_abandoned(self, count: int, timeout: float = 5.0) -> bool:
        """Block until `count` held requests were abandoned by their client (an event, not a
        sleep: returns as soon as it happens); False if it did not happen within `timeout`."""
        with self._abandon:
            return self._abandon.wait_for(lambda: self.abandoned >= count, timeout)

    # -- internals used by the handler ----------------------------------------------------

    def _abandoned(self) -> None:
        with self._abandon:
            self.abandoned += 1
            self._abandon.notify_all()

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(req)

    def _next_reply(self, request_json: dict[str, Any]) -> Reply | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        responder = self.responder
        if responder is not None:
            # Called outside the lock so a responder may itself inspect the fake.
            answer = responder(request_json)
            if answer is not None:
                return _coerce(answer)
        with self._lock:
            self.unscripted += 1
        return None


def _route(path: str) -> str | None:
    """Map a request path to its endpoint name under one of the served prefixes."""
    path = path.split("?", 1)[0].rstrip("/")
    for prefix in _PREFIXES:
        if path.startswith(prefix + "/"):
            return path[len(prefix) + 1 :]
    return None


def _estimate_tokens(s: str) -> int:
    # ~4 characters per token is close enough for budget/usage tests.
    return max(1, (len(s) + 3) // 4)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI  # set on the bound subclass
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API; every reply has a length
    server_version = "FakeOpenRouter/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        # Silence the default stderr access log; tests inspect fake.requests instead.
        return

    # -- entry points ---------------------------------------------------------------------

    def do_GET(self) -> None:
        self._record(b"")
        route = _route(self.path)
        if route == "models":
            data = [
                {
                    "id": m,
                    "object": "model",
                    "created": 1_700_000_000,
                    "owned_by": m.split("/", 1)[0],
                    "name": m,
                    "context_length": 127_072,
                    "pricing": {"prompt": "0.000001", "completion": "0.000001"},
                }
                for m in self.fake.models
            ]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_error_body(404, f"Not found: {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        req = self._record(body)
        if _route(self.path) != "chat/completions":
            self._send_error_body(404, f"Not found: {self.path}")
            return
        if not isinstance(req.json, dict):
            self._send_error_body(400, "Request body is not a JSON object")
            return
        try:
            reply = self.fake._next_reply(req.json)
        except Exception as exc:
            # A crashing responder is a test bug: report it in the body, and do not let the
            # client retry it (a dropped connection would be retried and obscure the cause).
            self.fake.responder_errors.append(exc)
            self._send_error_body(
                500,
                f"FakeOpenAI: responder raised {type(exc).__name__}: {exc}",
                extra_headers={"x-should-retry": "false"},
            )
            return
        if reply is None:
            self._send_error_body(
                500,
                "FakeOpenAI: no scripted reply for this request (queue empty, no responder). "
                f"Last user message: {_last_user_text(req.json)[:200]!r}",
                extra_headers={"x-should-retry": "false"},
            )
            return
        self._answer(reply, req.json)

    # -- replies --------------------------------------------------------------------------

    def _answer(self, reply: Reply, request_json: dict[str, Any]) -> None:
        if isinstance(reply, DelayReply):
            # Event.wait so closing the fake releases held replies at once; between waits, a
            # client that hung up (cancelled its request) ends the hold.
            until = time.monotonic() + reply.seconds
            while (left := until - time.monotonic()) > 0:
                if self.fake._closing.wait(min(left, 0.02)):
                    return
                if self._client_gone():
                    self.fake._abandoned()
                    self.close_connection = True
                    return
            self._answer(reply.then or text("ok"), request_json)
            return
        try:
            if isinstance(reply, ErrorReply):
                self._send_error_reply(reply)
            elif isinstance(reply, BodyErrorReply):
                payload: dict[str, Any] = {"error": {"code": reply.code, "message": reply.message}}
                if reply.metadata is not None:
                    payload["error"]["metadata"] = reply.metadata
                self._send_json(200, payload, reply.headers)
            elif isinstance(reply, MalformedReply):
                self._send_bytes(
                    reply.status, reply.body.encode(), reply.content_type, reply.headers
                )
            elif isinstance(reply, RawReply):
                data = reply.body
                if isinstance(data, dict | list):
                    data = json.dumps(data)
                if isinstance(data, str):
                    data = data.encode()
                self._send_bytes(reply.status, data, reply.content_type, reply.headers)
            elif isinstance(reply, TextReply | ToolCallReply):
                if request_json.get("stream"):
                    self._send_stream(reply, request_json)
                else:
                    self._send_json(200, _completion(reply, request_json), reply.headers)
            else:
                raise TypeError(f"unknown reply kind: {reply!r}")
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (timeout); nothing to answer.
            self.close_connection = True

    def _send_error_reply(self, reply: ErrorReply) -> None:
        headers = dict(reply.headers)
        if reply.retry_after is not None:
            headers["Retry-After"] = str(reply.retry_after)
        if reply.retry_after_ms is not None:
            headers["retry-after-ms"] = str(reply.retry_after_ms)
        if reply.should_retry is not None:
            headers["x-should-retry"] = "true" if reply.should_retry else "false"
        self._send_error_body(
            reply.status,
            reply.message,
            code=reply.code,
            metadata=reply.metadata,
            extra_headers=headers,
        )

    def _send_error_body(
        self,
        status: int,
        message: str,
        *,
        code: int | str | None = None,
        metadata: dict[str, Any] | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        err: dict[str, Any] = {"code": status if code is None else code, "message": message}
        if metadata is not None:
            err["metadata"] = metadata
        self._send_json(status, {"error": err}, extra_headers)

    def _send_stream(self, reply: TextReply | ToolCallReply, request_json: dict[str, Any]) -> None:
        # SSE as OpenRouter sends it: a keep-alive comment, role chunk, content / tool-call
        # deltas, a finish chunk, then (always, like OpenRouter) a usage chunk, then [DONE].
        full = _completion(reply, request_json)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")  # no Content-Length: the body ends at close
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.close_connection = True
        self.wfile.write(b": OPENROUTER PROCESSING\n\n")
        for chunk in _stream_chunks(reply, full):
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    # -- low level ------------------------------------------------------------------------

    def _client_gone(self) -> bool:
        """The client closed its end (EOF on the socket) while its request was held."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    def _record(self, body: bytes) -> RecordedRequest:
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        req = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            json=parsed,
            body=body,
        )
        self.fake._record(req)
        return req

    def _send_json(
        self, status: int, payload: Any, extra_headers: dict[str, str] | None = None
    ) -> None:
        self._send_bytes(status, json.dumps(payload).encode(), "application/json", extra_headers)

    def _send_bytes(
        self,
        status: int,
        data: bytes,
        content_type: str,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def _last_user_text(request_json: dict[str, Any]) -> str:
    for msg in reversed(request_json.get("messages") or []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def _completion(reply: TextReply | ToolCallReply, request_json: dict[str, Any]) -> dict[str, Any]:
    """Build a non-streaming ``chat.completion`` object for ``reply``."""
    model = reply.model or str(request_json.get("model") or "openrouter/auto")
    message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
    answer_text = reply.content or ""
    if isinstance(reply, ToolCallReply):
        message["tool_calls"] = [
            {
                "id": c.id or f"call_{secrets.token_hex(12)}",
                "type": "function",
                "index": i,
                "function": {"name": c.name, "arguments": c.arguments_json()},
            }
            for i, c in enumerate(reply.calls)
        ]
        answer_text += "".join(c.name + c.arguments_json() for c in reply.calls)
    prompt_tokens = reply.prompt_tokens
    if prompt_tokens is None:
        prompt_tokens = _estimate_tokens(json.dumps(request_json.get("messages") or []))
    completion_tokens = reply.completion_tokens
    if completion_tokens is None:
        completion_tokens = _estimate_tokens(answer_text)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if reply.cost is not None:
        usage["cost"] = reply.cost
    out: dict[str, Any] = {
        "id": f"gen-{int(time.time())}-{secrets.token_hex(10)}",
        "provider": model.split("/", 1)[0].capitalize() if "/" in model else "OpenAI",
        "model": model,
        "object": "chat.completion",
        "created": int(time.time()),
        "choices": [
            {
                "index": 0,
                "logprobs": None,
                "finish_reason": reply.finish_reason,
                "native_finish_reason": reply.finish_reason,
                "message": message,
            }
        ],
        "usage": usage,
    }
    if reply.citations is not None:
        out["citations"] = list(reply.citations)
    return out


def _stream_chunks(
    reply: TextReply | ToolCallReply, full: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    base = {
        "id": full["id"],
        "provider": full["provider"],
        "model": full["model"],
        "object": "chat.completion.chunk",
        "created": full["created"],
    }
    if "citations" in full:
        base["citations"] = full["citations"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            **base,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    yield chunk({"role": "assistant", "content": ""})
    content = reply.content or ""
    step = 8  # several small deltas, so a client that keeps only the last one would be caught
    for i in range(0, len(content), step):
        yield chunk({"content": content[i : i + step]})
    for i, call in enumerate(full["choices"][0]["message"].get("tool_calls") or []):
        args = call["function"]["arguments"]
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": i,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["function"]["name"], "arguments": ""},
                    }
                ]
            }
        )
        for j in range(0, len(args), step):
            yield chunk(
                {"tool_calls": [{"index": i, "function": {"arguments": args[j : j + step]}}]}
            )
    yield chunk({}, reply.finish_reason)
    yield {**base, "choices": [], "usage": full["usage"]}
