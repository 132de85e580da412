"""Fixtures of the LLM tests: a FakeOpenAI server on 127.0.0.1 and a scripted responder.

Every call goes through the real langchain-openai client to that server; nothing is mocked.
Time is injected (FixedClock for the budget day, the cycle's as_of for caches): no test sleeps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runtime.services import Services, build_services
from sextant.clock import FixedClock
from sextant.config import Settings, load_settings
from tests.fakes.openai_server import FakeOpenAI, Reply, text

API_KEY = "sk-or-v1-TEST-SECRET-0123456789abcdef"
AS_OF = datetime(2026, 5, 16, 11, tzinfo=UTC)
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def z(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def event(
    title: str,
    hours_ago: float,
    impact: float,
    *,
    critical: bool = False,
    category: str = "market",
    as_of: datetime = AS_OF,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "title": title,
        "published_at": z(as_of - timedelta(hours=hours_ago)),
        "impact": impact,
        "category": category,
        "critical": critical,
        "source": "https://news.example/" + re.sub(r"\W+", "-", title.lower())[:40],
        **extra,
    }


def system_of(req: dict[str, Any]) -> str:
    return next((m["content"] for m in req.get("messages", []) if m["role"] == "system"), "")


def first_user(req: dict[str, Any]) -> str:
    return next((m["content"] for m in req.get("messages", []) if m["role"] == "user"), "")


@dataclass
class Script:
    """Answers by agent (system prompt) and coin (user prompt); counts the calls per agent."""

    hunter: Any = field(default_factory=lambda: {"tickers": []})
    news: dict[str, Any] = field(default_factory=dict)  # base coin -> payload | Reply | str
    default_news: Any = field(default_factory=lambda: {"events": [], "key_events": []})
    cost: float | None = 0.001
    calls: dict[str, int] = field(default_factory=dict)

    def _reply(self, answer: Any) -> Reply | str:
        if isinstance(answer, Reply | str):
            return answer
        if isinstance(answer, list) and answer and isinstance(answer[0], Reply | str):
            return answer.pop(0)  # a sequence of replies, one per call
        return text(json.dumps(answer), cost=self.cost)

    def __call__(self, req: dict[str, Any]) -> Reply | str | None:
        system = system_of(req)
        if "Coin Hunter" in system:
            self.calls["hunter"] = self.calls.get("hunter", 0) + 1
            return self._reply(self.hunter)
        if "News Analyst" in system:
            m = re.search(r"Coin: (\S+)", first_user(req))
            base = m.group(1) if m else "?"
            self.calls[base] = self.calls.get(base, 0) + 1
            return self._reply(self.news.get(base, self.default_news))
        return None


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    # httpx honours proxy variables; a proxy would swallow requests to 127.0.0.1.
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def script(fake: FakeOpenAI) -> Script:
    s = Script()
    fake.responder = s
    return s


@pytest.fixture
def llm_env(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    """OPENROUTER_API_KEY set and the base URL pointed at the fake: the LLM agents are on."""
    monkeypatch.setenv("OPENROUTER_API_KEY", API_KEY)
    monkeypatch.setenv("SEXTANT_LLM__BASE_URL", fake.base_url)
    monkeypatch.setenv("SEXTANT_LLM__MAX_RETRIES", "1")
    monkeypatch.setenv("SEXTANT_LLM__TIMEOUT_S", "5")
    return fake


@pytest.fixture
def clock() -> FixedClock:
    """The wall clock of the run (budget day, tape created_at): close to AS_OF."""
    return FixedClock(AS_OF + timedelta(minutes=3))


def make_services(clock: FixedClock, **overrides: Any) -> tuple[Settings, Services]:
    settings = load_settings(**overrides)
    return settings, build_services(settings, clock=clock)
