"""Finding the JSON in a model's answer, and the lenient-in, strict-out answer schemas."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from langchain_core.messages import AIMessage
from pydantic import ValidationError

from tools.llm.parsing import AnswerParseError, extract_json, message_payload
from tools.llm.schemas import HunterAnswer, NewsAnswer, news_candidates, parse_when

PAYLOAD = {"tickers": [{"ticker": "SOL", "rationale": "breakout"}]}


@pytest.mark.parametrize(
    "answer",
    [
        '{"tickers": [{"ticker": "SOL", "rationale": "breakout"}]}',
        '```json\n{"tickers": [{"ticker": "SOL", "rationale": "breakout"}]}\n```',
        '```\n{"tickers": [{"ticker": "SOL", "rationale": "breakout"}]}\n```',
        'Sure! Based on [1][2], my picks: {"tickers": [{"ticker": "SOL", "rationale": '
        '"breakout"}]} Let me know if you need more.',
        '<think>SOL looks {strong}</think>\n{"tickers": [{"ticker": "SOL", "rationale": '
        '"breakout"}]}',
        'Notes first.\n```json\n{"tickers": [{"ticker": "SOL", "rationale": "breakout"}]}\n```\n'
        "Sources: [1] example.com",
    ],
    ids=["bare", "fenced-json", "fenced-plain", "prose", "think", "fenced-in-prose"],
)
def test_json_is_found_wherever_it_is(answer: str) -> None:
    assert extract_json(answer) == PAYLOAD


def test_an_object_is_preferred_over_citation_brackets() -> None:
    assert extract_json('See [1] and [2]: {"events": []} thanks') == {"events": []}


def test_a_bare_list_is_accepted() -> None:
    assert extract_json('Here: ["SOL", "SUI"]') == ["SOL", "SUI"]


@pytest.mark.parametrize("answer", ["", "no json here at all", "{broken: json", "[1"])
def test_no_json_raises(answer: str) -> None:
    with pytest.raises(AnswerParseError):
        extract_json(answer)


def test_tool_call_arguments_are_the_payload() -> None:
    msg = AIMessage(
        content="",
        tool_calls=[{"name": "HunterAnswer", "args": PAYLOAD, "id": "c1", "type": "tool_call"}],
    )
    raw, payload = message_payload(msg)
    assert payload == PAYLOAD and "SOL" in raw


def test_invalid_tool_call_arguments_are_scanned_too() -> None:
    msg = AIMessage(
        content="",
        invalid_tool_calls=[
            {
                "name": "HunterAnswer",
                "args": 'oops {"tickers": []} trailing',
                "id": "c1",
                "error": None,
                "type": "invalid_tool_call",
            }
        ],
    )
    assert message_payload(msg)[1] == {"tickers": []}


def test_hunter_answer_shapes() -> None:
    assert [t.ticker for t in HunterAnswer.model_validate(["SOL", "SUI"]).tickers] == [
        "SOL",
        "SUI",
    ]
    a = HunterAnswer.model_validate({"symbols": [{"symbol": "SOLUSDT", "reason": "x" * 500}]})
    assert a.tickers[0].ticker == "SOLUSDT" and len(a.tickers[0].rationale) == 200
    # Unknown fields (an injected "decision") are ignored, not obeyed.
    a = HunterAnswer.model_validate({"tickers": ["SOL"], "decision": "LONG", "leverage": 100})
    assert a.model_dump() == {"tickers": [{"ticker": "SOL", "rationale": ""}]}
    with pytest.raises(ValidationError):
        HunterAnswer.model_validate({"answer": "SOL"})


def test_news_events_are_checked_one_by_one() -> None:
    answer = NewsAnswer.model_validate(
        {
            "events": [
                {"title": "ok", "published_at": "2026-05-16", "impact": "1.5", "critical": "true"},
                {"title": "no date", "impact": 1},
                {"title": "bad impact", "published_at": "2026-05-16T10:00Z", "impact": "huge"},
                "not an event",
            ],
            "key_events": ["halving", {"title": "unlock", "date": "2026-06-01"}, {"date": "x"}],
            "score": 1.0,
        }
    )
    events, keys, reasons = news_candidates(answer)
    assert [e.title for e in events] == ["ok"]
    assert events[0].impact == 1.5 and events[0].critical is True
    assert events[0].published_at == datetime(2026, 5, 16, tzinfo=UTC)
    assert [r.code for r in reasons] == ["news_event_invalid", "news_event_invalid"]
    assert [(k.title, k.date) for k in keys] == [
        ("halving", None),
        ("unlock", datetime(2026, 6, 1, tzinfo=UTC)),
    ]


def test_news_answer_needs_an_event_list() -> None:
    with pytest.raises(ValidationError):
        NewsAnswer.model_validate({"summary": "all quiet"})
    assert NewsAnswer.model_validate([]).events == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-05-16T10:00:00Z", datetime(2026, 5, 16, 10, tzinfo=UTC)),
        ("2026-05-16T12:00:00+02:00", datetime(2026, 5, 16, 10, tzinfo=UTC)),
        ("2026-05-16 10:00", datetime(2026, 5, 16, 10, tzinfo=UTC)),
        (1778925600, datetime(2026, 5, 16, 10, tzinfo=UTC)),
    ],
)
def test_parse_when(value: object, expected: datetime) -> None:
    assert parse_when(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "", None, math.inf, 1e20, True])
def test_parse_when_refuses(value: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        parse_when(value)


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:00:00-05:00",
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
    ],
    ids=["year-1-east", "year-9999-west", "aware-datetime"],
)
def test_a_date_outside_utc_range_is_a_value_error(value: object) -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_when(value)  # was OverflowError, which nothing downstream caught


def test_an_event_that_cannot_be_used_is_dropped_whatever_the_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answer = NewsAnswer.model_validate(
        {
            "events": [
                {"title": "year one", "published_at": "0001-01-01T00:00:00+05:00", "impact": 1},
                {"title": "ok", "published_at": "2026-05-16T10:00Z", "impact": 1},
                {"title": "the end", "published_at": "9999-12-31T23:59:59-01:00", "impact": 1},
            ],
            "key_events": [{"title": "far away", "date": "0001-01-01T00:00:00+05:00"}],
        }
    )
    events, keys, reasons = news_candidates(answer)
    assert [e.title for e in events] == ["ok"]
    assert [(r.code, r.data) for r in reasons] == [
        ("news_event_invalid", {"index": 0}),
        ("news_event_invalid", {"index": 2}),
    ]
    assert "year one" in reasons[0].message and "out of range" in reasons[0].message
    assert [(k.title, k.date) for k in keys] == [("far away", None)]

    # Anything else that goes wrong with one event (not only a ValidationError) drops it too.
    import tools.llm.schemas as schemas

    def broken(v: object) -> datetime:
        if v == "2026-05-16T10:00Z":
            raise RuntimeError("\x1b[2Jsomething odd")
        return datetime(2026, 5, 16, 9, tzinfo=UTC)

    monkeypatch.setattr(schemas, "parse_when", broken)
    answer = NewsAnswer.model_validate(
        {
            "events": [
                {"title": "odd\ud800", "published_at": "2026-05-16T10:00Z", "impact": 1},
                {"title": "fine", "published_at": "2026-05-16T09:00Z", "impact": 1},
            ],
            "key_events": [{"title": "odd key", "date": "2026-05-16T10:00Z"}],
        }
    )
    events, keys, reasons = news_candidates(answer)
    assert [e.title for e in events] == ["fine"]
    assert [r.code for r in reasons] == ["news_event_invalid"]
    assert "RuntimeError" in reasons[0].message
    assert "\x1b" not in reasons[0].message and "\ud800" not in reasons[0].message
    assert [(k.title, k.date) for k in keys] == [("odd key", None)]


@pytest.mark.parametrize(
    "answer",
    ["[" * 5000, "{" * 5000, 'Here: {"events": ' + "[" * 5000, "```json\n" + "[" * 5000 + "\n```"],
    ids=["brackets", "braces", "in-prose", "fenced"],
)
def test_deeply_nested_json_is_no_json(answer: str) -> None:
    with pytest.raises(AnswerParseError):  # not RecursionError
        extract_json(answer)
    with pytest.raises(AnswerParseError):
        message_payload(AIMessage(content=answer))


def test_the_length_is_capped_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    import tools.llm.parsing as parsing

    text = '{"tickers": ["SOL"]}' + " " * 100
    assert message_payload(AIMessage(content=text), max_chars=len(text))[1] == {"tickers": ["SOL"]}

    def never(_: str) -> object:
        raise AssertionError("parsed an answer over the limit")

    monkeypatch.setattr(parsing, "_loads", never)
    with pytest.raises(AnswerParseError, match="answer too long"):
        message_payload(AIMessage(content=text), max_chars=len(text) - 1)
    args = {"tickers": ["SOL" * 50]}
    tool = AIMessage(content="", tool_calls=[{"name": "HunterAnswer", "args": args, "id": "c1"}])
    with pytest.raises(AnswerParseError, match="answer too long"):
        message_payload(tool, max_chars=100)
