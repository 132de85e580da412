"""Finding the JSON in a model's answer, and the lenient-in, strict-out answer schemas."""

from __future__ import annotations

import math
from datetime import UTC, datetime

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
