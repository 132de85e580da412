"""The fake OpenAI/OpenRouter server, exercised through the real langchain-openai client.

These tests also pin down how langchain-openai 1.7 / openai 3.x behave against an
OpenRouter-like endpoint (which exceptions, which retries, what survives into AIMessage), so
the LLM agents' code can rely on it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from langchain_core.exceptions import ModelRateLimitError, OutputParserException
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, ValidationError

from tests.fakes.openai_server import (
    FakeOpenAI,
    body_error,
    delay,
    error,
    malformed,
    raw,
    text,
    tool_call,
    tool_calls,
)

MODEL = "perplexity/sonar"


class Pick(BaseModel):
    symbol: str
    score: float


PRICE_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_price",
        "description": "Last price of a USDT perpetual",
        "parameters": {
            "type": "object",
            "properties": {"symbol": {"type": "string"}},
            "required": ["symbol"],
        },
    },
}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    # httpx honours proxy variables; a proxy would swallow requests to 127.0.0.1.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    with FakeOpenAI() as server:
        yield server


def make_llm(fake: FakeOpenAI, **kwargs: Any) -> ChatOpenAI:
    params: dict[str, Any] = {"max_retries": 0, "timeout": 2.0}
    params.update(kwargs)
    return ChatOpenAI(base_url=fake.base_url, api_key="test", model=MODEL, **params)


# -- plain answers --------------------------------------------------------------------------


def test_text_answer_carries_usage_cost_and_echoes_model(fake: FakeOpenAI) -> None:
    fake.enqueue(text("BTCUSDT looks strong", prompt_tokens=120, completion_tokens=7, cost=0.00042))
    msg = make_llm(fake).invoke([SystemMessage("You are the Coin Hunter."), HumanMessage("go")])

    assert isinstance(msg, AIMessage)
    assert msg.content == "BTCUSDT looks strong"
    assert msg.usage_metadata is not None
    assert msg.usage_metadata["input_tokens"] == 120
    assert msg.usage_metadata["output_tokens"] == 7
    assert msg.usage_metadata["total_tokens"] == 127
    meta = msg.response_metadata
    # OpenRouter's cost survives only in the raw usage block, not in usage_metadata.
    assert meta["token_usage"]["cost"] == pytest.approx(0.00042)
    assert meta["model_name"] == MODEL
    assert meta["finish_reason"] == "stop"
    assert meta["id"].startswith("gen-")

    assert fake.calls == 1
    req = fake.last_request
    assert req.path == "/api/v1/chat/completions"
    assert req["json"]["model"] == MODEL
    assert req.json["stream"] is False
    assert req.headers["authorization"] == "Bearer test"
    assert fake.last_messages == [
        {"role": "system", "content": "You are the Coin Hunter."},
        {"role": "user", "content": "go"},
    ]


def test_usage_is_estimated_when_not_given(fake: FakeOpenAI) -> None:
    fake.enqueue("short answer")  # a bare string is shorthand for text(...)
    msg = make_llm(fake).invoke("a question of some length")
    assert msg.usage_metadata is not None
    assert msg.usage_metadata["input_tokens"] > 0
    assert msg.usage_metadata["output_tokens"] > 0
    assert "cost" not in msg.response_metadata["token_usage"] or (
        msg.response_metadata["token_usage"]["cost"] is None
    )


@pytest.mark.parametrize(
    "content",
    [
        '```json\n{"symbols": ["BTCUSDT", "SOLUSDT"]}\n```',
        'Sure! Here are my picks: {"symbols": ["BTCUSDT"]} Let me know if you need more.',
        "not json at all",
    ],
)
def test_fenced_and_prose_json_come_back_verbatim(fake: FakeOpenAI, content: str) -> None:
    fake.enqueue(text(content))
    assert make_llm(fake).invoke("picks?").content == content


def test_v1_prefix_and_models_endpoint(fake: FakeOpenAI) -> None:
    fake.enqueue("via /v1")
    llm = ChatOpenAI(base_url=fake.base_url_v1, api_key="test", model=MODEL, max_retries=0)
    assert llm.invoke("hi").content == "via /v1"
    assert fake.last_request.path == "/v1/chat/completions"

    client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
    ids = [m.id for m in client.models.list()]
    assert MODEL in ids
    assert fake.calls == 1  # GET /models is recorded but is not a completion call
    assert fake.requests[-1]["method"] == "GET"


def test_async_invoke(fake: FakeOpenAI) -> None:
    fake.enqueue("async answer")
    msg = asyncio.run(make_llm(fake).ainvoke("hi"))
    assert msg.content == "async answer"


# -- scripting --------------------------------------------------------------------------------


def test_responder_answers_by_content_and_queue_goes_first(fake: FakeOpenAI) -> None:
    def responder(req: dict[str, Any]) -> str | None:
        system = next((m["content"] for m in req["messages"] if m["role"] == "system"), "")
        user = req["messages"][-1]["content"]
        if "News Analyst" in system:
            return json.dumps({"symbol": "ETHUSDT" if "ETH" in user else "BTCUSDT"})
        return None  # falls through to the "unscripted" 500

    fake.responder = responder
    fake.enqueue("queued first")
    llm = make_llm(fake)
    assert llm.invoke([SystemMessage("News Analyst"), HumanMessage("ETH news")]).content == (
        "queued first"
    )
    news = [SystemMessage("News Analyst"), HumanMessage("news for ETHUSDT")]
    assert json.loads(str(llm.invoke(news).content)) == {"symbol": "ETHUSDT"}
    with pytest.raises(openai.InternalServerError):
        llm.invoke([SystemMessage("Coin Hunter"), HumanMessage("x")])
    assert fake.calls == 3
    assert fake.pending == 0


def test_unscripted_call_fails_loudly_without_retries(fake: FakeOpenAI) -> None:
    # x-should-retry: false stops the client's retry loop, so this costs one call, no backoff.
    start = time.monotonic()
    with pytest.raises(openai.InternalServerError, match="no scripted reply"):
        make_llm(fake, max_retries=2).invoke("nobody scripted me")
    assert time.monotonic() - start < 0.3
    assert fake.calls == 1
    assert fake.unscripted == 1


def test_crashing_responder_is_reported_not_retried(fake: FakeOpenAI) -> None:
    def responder(req: dict[str, Any]) -> str:
        raise KeyError("oops")

    fake.responder = responder
    with pytest.raises(openai.InternalServerError, match="responder raised KeyError"):
        make_llm(fake, max_retries=2).invoke("hi")
    assert fake.calls == 1
    assert isinstance(fake.responder_errors[0], KeyError)


# -- tools and structured output --------------------------------------------------------------


def test_bind_tools_tool_call_is_parsed(fake: FakeOpenAI) -> None:
    fake.enqueue(tool_call("get_price", {"symbol": "SOLUSDT"}, call_id="call_1"))
    msg = make_llm(fake).bind_tools([PRICE_TOOL]).invoke("price of SOL?")

    assert isinstance(msg, AIMessage)
    assert msg.tool_calls == [
        {"name": "get_price", "args": {"symbol": "SOLUSDT"}, "id": "call_1", "type": "tool_call"}
    ]
    assert msg.response_metadata["finish_reason"] == "tool_calls"
    assert fake.last_request.json["tools"][0]["function"]["name"] == "get_price"


def test_several_tool_calls_and_broken_arguments(fake: FakeOpenAI) -> None:
    fake.enqueue(tool_calls([("get_price", {"symbol": "BTCUSDT"}), ("get_price", "{not json")]))
    msg = make_llm(fake).bind_tools([PRICE_TOOL]).invoke("prices")
    assert isinstance(msg, AIMessage)
    assert [c["args"] for c in msg.tool_calls] == [{"symbol": "BTCUSDT"}]
    # Unparseable arguments land in invalid_tool_calls rather than raising.
    assert len(msg.invalid_tool_calls) == 1
    assert msg.invalid_tool_calls[0]["args"] == "{not json"


def test_structured_output_function_calling(fake: FakeOpenAI) -> None:
    fake.enqueue(tool_call("Pick", {"symbol": "BTCUSDT", "score": 0.7}))
    result = make_llm(fake).with_structured_output(Pick, method="function_calling").invoke("pick")
    assert result == Pick(symbol="BTCUSDT", score=0.7)
    sent = fake.last_request.json
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "Pick"}}


def test_structured_output_json_mode_tolerates_fences(fake: FakeOpenAI) -> None:
    fake.enqueue(text('```json\n{"symbol": "ETHUSDT", "score": -0.2}\n```'))
    result = make_llm(fake).with_structured_output(Pick, method="json_mode").invoke("pick")
    assert result == Pick(symbol="ETHUSDT", score=-0.2)
    assert fake.last_request.json["response_format"] == {"type": "json_object"}


def test_structured_output_json_mode_rejects_prose_wrapped_json(fake: FakeOpenAI) -> None:
    # json_mode handles code fences but not JSON inside prose: the agents must parse that.
    fake.enqueue(text('Here it is: {"symbol": "ETHUSDT", "score": 1} cheers'))
    with pytest.raises(OutputParserException):
        make_llm(fake).with_structured_output(Pick, method="json_mode").invoke("pick")


def test_structured_output_default_json_schema_fails_on_fences(fake: FakeOpenAI) -> None:
    # The default method (json_schema, strict) parses inside the openai SDK: fences -> error.
    fake.enqueue(text('```json\n{"symbol": "ETHUSDT", "score": 0.1}\n```'))
    with pytest.raises(ValidationError):
        make_llm(fake).with_structured_output(Pick).invoke("pick")
    assert fake.last_request.json["response_format"]["type"] == "json_schema"


# -- streaming (used when a streaming callback is attached, e.g. LangGraph "messages") -------


def test_streaming_text_and_usage(fake: FakeOpenAI) -> None:
    fake.enqueue(text('{"events": []} plus a longer tail of text', cost=0.01))
    chunks = list(make_llm(fake).stream("news"))
    assert len(chunks) > 3
    merged = chunks[0]
    for c in chunks[1:]:
        merged = merged + c
    assert merged.content == '{"events": []} plus a longer tail of text'
    # OpenRouter always sends a final usage chunk; langchain keeps tokens, drops the cost.
    assert merged.usage_metadata is not None
    assert merged.usage_metadata["output_tokens"] > 0
    assert fake.last_request.json["stream"] is True


def test_streaming_tool_call(fake: FakeOpenAI) -> None:
    fake.enqueue(tool_call("get_price", {"symbol": "XRPUSDT"}))
    chunks = list(make_llm(fake).bind_tools([PRICE_TOOL]).stream("price"))
    merged = chunks[0]
    for c in chunks[1:]:
        merged = merged + c
    assert isinstance(merged, AIMessage)
    assert merged.tool_calls[0]["name"] == "get_price"
    assert merged.tool_calls[0]["args"] == {"symbol": "XRPUSDT"}


# -- headers, citations -----------------------------------------------------------------------


def test_default_headers_reach_the_server(fake: FakeOpenAI) -> None:
    fake.enqueue("ok")
    llm = make_llm(
        fake, default_headers={"HTTP-Referer": "https://github.com/sextant", "X-Title": "Sextant"}
    )
    llm.invoke("hi")
    headers = fake.last_request.headers
    assert headers["http-referer"] == "https://github.com/sextant"
    assert headers["x-title"] == "Sextant"


def test_citations_reach_the_raw_client_but_not_aimessage(fake: FakeOpenAI) -> None:
    urls = ["https://example.com/a", "https://example.com/b"]
    fake.enqueue(text("see [1]", citations=urls), text("see [1]", citations=urls))
    client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "q"}]
    )
    assert completion.model_extra is not None
    assert completion.model_extra["citations"] == urls
    # ChatOpenAI keeps only known keys: top-level citations are dropped.
    msg = make_llm(fake).invoke("q")
    assert "citations" not in json.dumps(msg.response_metadata, default=str)
    assert "citations" not in msg.additional_kwargs


# -- errors, retries, timeouts ----------------------------------------------------------------


def test_429_then_success_is_retried_quickly(fake: FakeOpenAI) -> None:
    # openai honours Retry-After only when 0 < value <= 120 s; a tiny float keeps this fast.
    fake.enqueue(error(429, retry_after="0.01"), text("after retry"))
    start = time.monotonic()
    assert make_llm(fake, max_retries=1).invoke("hi").content == "after retry"
    assert time.monotonic() - start < 0.4
    assert fake.calls == 2
    # The SDK numbers its attempts in a header.
    retries = [r.headers["x-stainless-retry-count"] for r in fake.completion_requests]
    assert retries == ["0", "1"]


def test_retry_after_ms_is_honoured(fake: FakeOpenAI) -> None:
    fake.enqueue(error(503, retry_after_ms=1), error(502, retry_after_ms=1), "third time")
    start = time.monotonic()
    assert make_llm(fake, max_retries=2).invoke("hi").content == "third time"
    assert time.monotonic() - start < 0.4
    assert fake.calls == 3


def test_retry_after_zero_falls_back_to_backoff(fake: FakeOpenAI) -> None:
    # Surprise: "Retry-After: 0" is ignored and the SDK sleeps its own 0.375-0.5 s backoff.
    fake.enqueue(error(429, retry_after="0"), "ok")
    start = time.monotonic()
    make_llm(fake, max_retries=1).invoke("hi")
    assert time.monotonic() - start >= 0.3
    assert fake.calls == 2


def test_429_without_retries_raises_rate_limit_error(fake: FakeOpenAI) -> None:
    fake.enqueue(error(429, "Rate limit exceeded: free-models-per-min", retry_after="3"))
    with pytest.raises(openai.RateLimitError) as info:
        make_llm(fake, max_retries=0).invoke("hi")
    exc = info.value
    assert isinstance(exc, ModelRateLimitError)  # langchain-openai wraps it, keeping both bases
    assert exc.status_code == 429
    assert exc.response.headers["retry-after"] == "3"
    # openai unwraps OpenRouter's {"error": {...}} into .body.
    assert exc.body == {"code": 429, "message": "Rate limit exceeded: free-models-per-min"}
    assert fake.calls == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_raises_internal_server_error(fake: FakeOpenAI, status: int) -> None:
    fake.enqueue(error(status))
    with pytest.raises(openai.InternalServerError) as info:
        make_llm(fake).invoke("hi")
    assert info.value.status_code == status


@pytest.mark.parametrize(
    ("status", "exc_type"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (402, openai.APIStatusError),  # no dedicated class for "insufficient credits"
        (403, openai.PermissionDeniedError),
    ],
)
def test_4xx_are_not_retried(
    fake: FakeOpenAI, status: int, exc_type: type[openai.APIStatusError]
) -> None:
    fake.enqueue(error(status, metadata={"limit_source": "test"}))
    with pytest.raises(exc_type) as info:
        make_llm(fake, max_retries=2).invoke("hi")
    assert info.value.status_code == status
    assert isinstance(info.value.body, dict)
    assert info.value.body["metadata"] == {"limit_source": "test"}
    assert fake.calls == 1


def test_402_message_mentions_credits(fake: FakeOpenAI) -> None:
    fake.enqueue(error(402))
    with pytest.raises(openai.APIStatusError, match="Insufficient credits"):
        make_llm(fake).invoke("hi")


def test_delay_beyond_timeout_raises_api_timeout_error(fake: FakeOpenAI) -> None:
    fake.enqueue(delay(1.0, "too late"))
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        make_llm(fake, timeout=0.3, max_retries=0).invoke("hi")
    assert time.monotonic() - start < 0.8


def test_delay_within_timeout_succeeds(fake: FakeOpenAI) -> None:
    fake.enqueue(delay(0.05, text("slow but fine")))
    assert make_llm(fake, timeout=1.0).invoke("hi").content == "slow but fine"


def test_malformed_json_body_raises_json_decode_error(fake: FakeOpenAI) -> None:
    # 200 + application/json + garbage: the raw json.JSONDecodeError escapes (not openai.APIError).
    fake.enqueue(malformed())
    with pytest.raises(json.JSONDecodeError):
        make_llm(fake).invoke("hi")


def test_non_json_content_type_raises_value_error(fake: FakeOpenAI) -> None:
    fake.enqueue(malformed("<html>gateway</html>", content_type="text/html"))
    with pytest.raises(ValueError, match="Unexpected response type"):
        make_llm(fake).invoke("hi")


def test_error_inside_http_200_body_raises_value_error(fake: FakeOpenAI) -> None:
    # OpenRouter reports failures after the model started with HTTP 200 + {"error": ...}.
    fake.enqueue(body_error("Provider returned error", code=502))
    with pytest.raises(ValueError, match="Provider returned error"):
        make_llm(fake).invoke("hi")


def test_missing_choices_raises_type_error(fake: FakeOpenAI) -> None:
    # The SDK's model fills the absent "choices" with None, which langchain rejects.
    fake.enqueue(raw(200, {"id": "gen-x", "object": "chat.completion", "model": MODEL}))
    with pytest.raises(TypeError, match="null value for 'choices'"):
        make_llm(fake).invoke("hi")
