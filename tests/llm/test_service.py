"""LLMService through the real langchain-openai client against FakeOpenAI on 127.0.0.1.

Parsing of every answer shape, one repair then the fallback, 429/5xx/timeouts/garbage bodies,
cost and tokens, the daily budget (by an injected clock), the tape, and no secret anywhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

import pytest

from sextant.clock import FixedClock
from tests.fakes.openai_server import (
    FakeOpenAI,
    body_error,
    delay,
    error,
    malformed,
    text,
    tool_call,
)
from tests.llm.conftest import API_KEY, AS_OF, make_services
from tools.llm.prompts import load_prompt
from tools.llm.schemas import HunterAnswer
from tools.llm.service import Answer, AskRequest

GOOD = {"tickers": [{"ticker": "SOL", "rationale": "breakout"}]}
VARS = {"as_of": "2026-05-16T11:00:00Z", "watchlist": "BTC/USDT:USDT", "max_symbols": 3}


def ask(services: Any, **kw: Any) -> Answer:
    req = AskRequest(
        agent="hunter",
        model=services.settings.llm.hunter_model,
        prompt=load_prompt("coin_hunter"),
        variables=VARS,
        schema=HunterAnswer,
        as_of=AS_OF,
        **kw,
    )
    return asyncio.run(services.llm.ask(req))


@pytest.fixture
def services(llm_env: FakeOpenAI, clock: FixedClock) -> Any:
    return make_services(clock)[1]


@pytest.mark.parametrize(
    "reply",
    [
        text(json.dumps(GOOD)),
        text("```json\n" + json.dumps(GOOD) + "\n```"),
        text("Based on today's flows [1], here is my pick: " + json.dumps(GOOD) + " Good luck!"),
        tool_call("HunterAnswer", GOOD),
    ],
    ids=["bare", "fenced", "prose", "tool-call"],
)
def test_every_answer_shape_parses(services: Any, fake: FakeOpenAI, reply: Any) -> None:
    fake.enqueue(reply)
    a = ask(services)
    assert a.status == "ok" and a.parsed == GOOD and a.reasons == []
    assert a.usage.calls == 1 and a.usage.tokens_in > 0 and a.usage.tokens_out > 0
    (entry,) = services.llm.tape.entries("hunter", origins=("cycle",))
    assert entry.status == "ok" and entry.parsed == GOOD and entry.inputs == VARS
    assert entry.prompt_hash == load_prompt("coin_hunter").hash
    assert services.llm.tape.prompt_text(entry.prompt_hash) == load_prompt("coin_hunter").text


def test_request_carries_model_auth_attribution_and_cost_request(
    llm_env: FakeOpenAI, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEXTANT_LLM__APP_URL", "https://example.org/sextant")
    services = make_services(clock)[1]
    llm_env.enqueue(text(json.dumps(GOOD)))
    ask(services)
    req = llm_env.last_request
    assert req.path == "/api/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {API_KEY}"
    assert req.headers["http-referer"] == "https://example.org/sextant"
    assert req.headers["x-title"] == "Sextant"
    body = req.json
    assert body["model"] == "perplexity/sonar" and body["stream"] is False
    assert body["usage"] == {"include": True} and body["temperature"] == 0.0
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "tools" not in body  # Perplexity Sonar has no tools: not offered by default


def test_tool_calling_setting_offers_the_schema(
    llm_env: FakeOpenAI, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEXTANT_LLM__TOOL_CALLING", "true")
    services = make_services(clock)[1]
    llm_env.enqueue(tool_call("HunterAnswer", GOOD))
    assert ask(services).parsed == GOOD
    body = llm_env.last_request.json
    assert body["tools"][0]["function"]["name"] == "HunterAnswer"
    assert body["tool_choice"]["function"]["name"] == "HunterAnswer"


def test_invalid_answer_is_repaired_once(services: Any, fake: FakeOpenAI) -> None:
    fake.enqueue(text("I think SOL is great!"), text(json.dumps(GOOD)))
    a = ask(services)
    assert a.status == "repaired" and a.parsed == GOOD
    assert [r.code for r in a.reasons] == ["llm_answer_repaired"]
    assert a.usage.calls == 2
    repair = fake.last_messages
    assert [m["role"] for m in repair] == ["system", "user", "assistant", "user"]
    assert repair[2]["content"] == "I think SOL is great!"
    assert "no JSON object found" in repair[3]["content"]
    assert '"tickers"' in repair[3]["content"]  # the schema is shown
    rows = services.llm.tape.entries("hunter", statuses=("invalid", "repaired"), limit=5)
    assert [r.status for r in rows] == ["repaired"]  # one row per (symbol, as_of): the last
    assert services.llm.tape.count() == 2


def test_unusable_twice_falls_back_with_a_reason(services: Any, fake: FakeOpenAI) -> None:
    fake.enqueue(text('{"answer": "SOL"}'), text("still not it"))
    a = ask(services)
    assert a.status == "invalid" and a.payload is None and not a.ok
    assert [r.code for r in a.reasons] == ["llm_invalid_answer"]
    assert "no JSON object found" in a.reasons[0].message
    assert a.usage.calls == 2 and fake.calls == 2


def test_429_is_retried_then_succeeds(services: Any, fake: FakeOpenAI) -> None:
    fake.enqueue(error(429, retry_after_ms=1), text(json.dumps(GOOD)))
    a = ask(services)
    assert a.status == "ok" and fake.calls == 2


@pytest.mark.parametrize(
    "replies",
    [
        [error(503, retry_after_ms=1), error(502, retry_after_ms=1)],  # retries exhausted
        [error(429, retry_after_ms=1), error(429, retry_after_ms=1)],
        [error(401)],
        [malformed()],
        [body_error("Provider returned error")],
    ],
    ids=["5xx", "429", "401", "garbage-body", "error-in-200"],
)
def test_failed_calls_fall_back_without_raising(
    services: Any, fake: FakeOpenAI, replies: list[Any]
) -> None:
    fake.enqueue(*replies)
    a = ask(services)
    assert a.status == "error" and not a.ok
    assert [r.code for r in a.reasons] == ["llm_call_failed"]
    assert a.usage.calls == 0 and a.usage.cost_usd == 0
    (row,) = services.llm.tape.entries("hunter", statuses=("error",))
    assert row.error and API_KEY not in row.error


def test_timeout_falls_back(llm_env: FakeOpenAI, clock: FixedClock, monkeypatch: Any) -> None:
    monkeypatch.setenv("SEXTANT_LLM__TIMEOUT_S", "0.2")
    monkeypatch.setenv("SEXTANT_LLM__MAX_RETRIES", "0")
    services = make_services(clock)[1]
    llm_env.enqueue(delay(1.0, text(json.dumps(GOOD))))
    a = ask(services)
    assert a.status == "error" and "TimeoutError" in (a.error or "")


def test_cost_from_the_server_else_from_the_price_table(services: Any, fake: FakeOpenAI) -> None:
    fake.enqueue(text(json.dumps(GOOD), prompt_tokens=1000, completion_tokens=500, cost=0.25))
    assert ask(services).usage.cost_usd == pytest.approx(0.25)
    fake.enqueue(text(json.dumps(GOOD), prompt_tokens=1000, completion_tokens=500))
    u = ask(services).usage
    # perplexity/sonar: $1/M in, $1/M out, $0.005 per request
    assert (u.tokens_in, u.tokens_out) == (1000, 500)
    assert u.cost_usd == pytest.approx(1000 / 1e6 + 500 / 1e6 + 0.005)


def test_daily_budget_by_the_injected_clock(
    llm_env: FakeOpenAI, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEXTANT_LLM__DAILY_BUDGET_USD", "0.01")
    services = make_services(clock)[1]
    llm_env.enqueue(text(json.dumps(GOOD), cost=0.02))
    assert ask(services).ok
    spent = ask(services)  # over budget: no call at all
    assert spent.status == "budget" and llm_env.calls == 1
    (reason,) = spent.reasons
    assert reason.code == "llm_budget_exhausted"
    assert reason.data == {"budget_usd": 0.01, "spent_usd": 0.02}
    clock.advance(timedelta(days=1))  # a new UTC day: a new budget
    llm_env.enqueue(text(json.dumps(GOOD), cost=0.001))
    assert ask(services).ok and llm_env.calls == 2


def test_budget_is_shared_across_processes_through_the_tape(
    llm_env: FakeOpenAI, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEXTANT_LLM__DAILY_BUDGET_USD", "0.01")
    first = make_services(clock)[1]
    llm_env.enqueue(text(json.dumps(GOOD), cost=0.05))
    assert ask(first).ok
    second = make_services(clock)[1]  # a new run, same state directory
    assert ask(second).status == "budget" and llm_env.calls == 1


def test_tape_point_in_time_and_answer_at(services: Any, fake: FakeOpenAI, clock: Any) -> None:
    fake.enqueue(text(json.dumps(GOOD)), text(json.dumps({"tickers": []})))
    ask(services)  # given 3 minutes after its as_of: replayable
    clock.advance(timedelta(days=30))
    ask(services, origin="prompt_run")  # a month later: knows the future
    tape = services.llm.tape
    hit = tape.answer_at("hunter", AS_OF + timedelta(hours=1))
    assert hit is not None and hit.parsed == GOOD and hit.point_in_time
    assert tape.answer_at("hunter", AS_OF - timedelta(hours=1)) is None  # nothing from later
    assert tape.answer_at("hunter", AS_OF + timedelta(days=2), max_age=timedelta(hours=4)) is None
    everything = tape.answer_at("hunter", AS_OF, point_in_time=False)
    assert everything is not None and everything.parsed == {"tickers": []}


def test_no_secret_in_logs_or_tape(
    services: Any, fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.enqueue(text("garbage"), text(json.dumps(GOOD)), error(401))
    ask(services)
    ask(services)
    assert API_KEY not in caplog.text
    db = services.settings.state_dir / "sextant.db"
    services.llm.tape.close()
    for path in db.parent.glob("sextant.db*"):
        assert API_KEY.encode() not in path.read_bytes()


def test_prompt_with_an_unknown_variable_makes_no_call(services: Any, fake: FakeOpenAI) -> None:
    from tools.llm.prompts import Prompt

    req = AskRequest(
        agent="hunter",
        model="perplexity/sonar",
        prompt=Prompt("coin_hunter", "[user]\npicks for {{sector}}", "context"),
        variables=VARS,
        schema=HunterAnswer,
        as_of=AS_OF,
    )
    a = asyncio.run(services.llm.ask(req))
    assert a.status == "prompt_invalid" and a.reasons[0].code == "prompt_invalid"
    assert fake.calls == 0


def news_ask(services: Any, check: Any = None) -> Answer:
    from tools.llm.schemas import NewsAnswer

    req = AskRequest(
        agent="news",
        model=services.settings.llm.news_model,
        prompt=load_prompt("news_analyst"),
        variables={
            "symbol": "ETH/USDT:USDT",
            "base": "ETH",
            "as_of": "2026-05-16T11:00:00Z",
            "window_days": "7",
            "window_start": "2026-05-09T11:00:00Z",
        },
        schema=NewsAnswer,
        as_of=AS_OF,
        symbol="ETH/USDT:USDT",
        check=check,
    )
    return asyncio.run(services.llm.ask(req))


NEWS_OK = {"events": [], "key_events": []}


@pytest.mark.parametrize(
    "junk",
    [
        "[" * 5000,  # RecursionError in the JSON decoder
        json.dumps({"events": [{"title": "x", "impact": 1, "deep": [[[[[[]]]]]]}]}).replace(
            "[[[[[[]]]]]]", "[" * 900 + "]" * 900
        ),  # decodes and validates, but too deep to serialise for the tape
    ],
    ids=["unbalanced", "too-deep-to-dump"],
)
def test_deeply_nested_answers_are_repaired_then_fall_back(
    services: Any, fake: FakeOpenAI, junk: str
) -> None:
    fake.enqueue(text(junk), text(json.dumps(NEWS_OK)))
    a = news_ask(services)  # never raises
    assert a.status == "repaired" and a.parsed == NEWS_OK and fake.calls == 2
    fake.enqueue(text(junk), text(junk))
    a = news_ask(services)
    assert a.status == "invalid" and not a.ok and fake.calls == 4
    assert [r.code for r in a.reasons] == ["llm_invalid_answer"]
    rows = services.llm.tape.entries("news", statuses=("invalid",), limit=5)
    assert rows and all(r.parsed is None for r in rows)


def test_an_answer_over_max_answer_chars_is_refused_before_parsing(
    llm_env: FakeOpenAI, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tools.llm.parsing as parsing

    monkeypatch.setenv("SEXTANT_LLM__MAX_ANSWER_CHARS", "1000")
    services = make_services(clock)[1]
    parsed: list[int] = []
    real = parsing._loads

    def counting(s: str) -> Any:
        parsed.append(len(s))
        return real(s)

    monkeypatch.setattr(parsing, "_loads", counting)
    long = json.dumps({"tickers": [{"ticker": "SOL", "rationale": "x" * 2000}]})
    llm_env.enqueue(text(long), text(json.dumps(GOOD)))
    a = ask(services)
    assert a.status == "repaired" and a.parsed == GOOD
    assert "answer too long" in llm_env.last_messages[3]["content"]
    assert all(n <= 1000 for n in parsed)  # the long answer was never decoded


def test_the_agents_check_runs_before_the_answer_counts(services: Any, fake: FakeOpenAI) -> None:
    seen: list[Any] = []

    def check(payload: Any) -> None:
        seen.append(payload)
        if len(seen) == 1:
            raise OverflowError("\x1b[31mdate value out of range")

    fake.enqueue(text(json.dumps(NEWS_OK)), text(json.dumps(NEWS_OK)))
    a = news_ask(services, check)
    assert a.status == "repaired" and len(seen) == 2
    repair = fake.last_messages[3]["content"]
    assert "OverflowError" in repair and "\x1b" not in repair
    (row,) = services.llm.tape.entries("news", limit=5)  # one row per (symbol, as_of)
    assert row.status == "repaired" and services.llm.tape.count() == 2
    # Failing the check on both attempts: the fallback, and nothing on the tape says "ok".
    seen.clear()
    fake.enqueue(text(json.dumps(NEWS_OK)), text(json.dumps(NEWS_OK)))
    a = news_ask(services, lambda payload: 1 / 0)
    assert a.status == "invalid" and not a.ok and "ZeroDivisionError" in (a.error or "")
    (row,) = services.llm.tape.entries("news", statuses=("ok", "repaired", "invalid"))
    assert row.status == "invalid" and row.parsed is None


def test_the_repair_prompt_is_read_once_and_off_the_event_loop(
    services: Any, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import tools.llm.service as service

    reads: list[tuple[str, bool]] = []
    real = service.load_prompt

    def load(name: str, **kw: Any) -> Any:
        reads.append((name, threading.current_thread() is threading.main_thread()))
        return real(name, **kw)

    monkeypatch.setattr(service, "load_prompt", load)
    fake.enqueue(*(text("no JSON, sorry") for _ in range(4)))
    for _ in range(2):
        assert ask(services).status == "invalid"  # two calls each: answer and repair
    assert fake.calls == 4
    assert reads == [("repair", False)]  # one read, in a worker thread


def test_a_lone_surrogate_in_an_answer_is_taped_counted_and_repairable(
    services: Any, fake: FakeOpenAI
) -> None:
    # The model's text itself carries a lone surrogate: SQLite refused the tape row (so the
    # call's cost was missing from the day's budget) and the repair request could not be sent.
    fake.enqueue(text('{"tickers": [{"ticker": "SOL", "rationale": "go \ud800 up"}], "x": 1}'))
    a = ask(services)
    assert a.status == "ok" and a.parsed == {"tickers": [{"ticker": "SOL", "rationale": "go up"}]}
    assert all(a.tape_ids)
    (row,) = services.llm.tape.entries("hunter")
    assert "go \\ud800 up" in (row.raw_text or "")
    assert asyncio.run(services.llm.spent_today()) == pytest.approx(a.usage.cost_usd)
    fake.enqueue(text("Sorry \ud800, no JSON"), text(json.dumps(GOOD)))
    b = ask(services)
    assert b.status == "repaired" and fake.calls == 3
    assert fake.last_messages[2]["content"] == "Sorry \\ud800, no JSON"
