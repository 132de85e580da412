"""Stage deadlines: a hung model costs a cycle its deadlines, not minutes (issue 9, item 3).

Through the real langchain-openai client against FakeOpenAI made to hang. The deadlines are
tiny here (0.5 s) and the per-request timeout large (30 s), so a cycle that ends in seconds can
only have been ended by the deadlines; the unit tests below run on an injected clock.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from cli.output import cycle_document
from graph.context import Context, stage_deadline
from runtime.cycle import run_cycle
from sextant.clock import FixedClock
from tests.fakes.openai_server import FakeOpenAI, hang, text
from tests.llm.conftest import AS_OF, BTC, ETH, Script, event, make_services
from tools.llm.deadline import Deadline, StageDeadlines
from tools.llm.prompts import load_prompt
from tools.llm.schemas import HunterAnswer
from tools.llm.service import AskRequest

DEADLINE_S = 0.5


@pytest.fixture
def hung_env(llm_env: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    monkeypatch.setenv("SEXTANT_LLM__TIMEOUT_S", "30")  # alone, 30 s x 2 tries per request
    monkeypatch.setenv("SEXTANT_LLM__HUNTER_DEADLINE_S", str(DEADLINE_S))
    monkeypatch.setenv("SEXTANT_LLM__NEWS_DEADLINE_S", str(DEADLINE_S))
    return llm_env


def timed_cycle(services: Any, symbols: list[str] | None = None) -> tuple[dict, float, list]:
    """One cycle; its wall time, and the asyncio tasks still alive when it returned."""

    async def go() -> tuple[dict, float, list]:
        start = time.perf_counter()
        state, _ = await run_cycle(services, as_of=AS_OF, symbols=symbols)
        elapsed = time.perf_counter() - start
        me = asyncio.current_task()
        alive = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
        await services.aclose()
        return state, elapsed, alive

    return asyncio.run(go())


def tape_rows(state_dir: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(state_dir / "sextant.db") as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT agent, symbol, attempt, status, error, cost_usd FROM llm_tape ORDER BY id"
        ).fetchall()
    return [dict(r) for r in rows]


def test_a_hung_model_ends_the_cycle_at_its_deadlines_with_a_reason_per_symbol(
    hung_env: FakeOpenAI, script: Script, clock: FixedClock
) -> None:
    script.hunter = hang()
    script.default_news = hang()
    settings, services = make_services(clock)  # the 10-symbol watchlist, 4 requests in flight
    state, elapsed, alive = timed_cycle(services)

    # Hunter 0.5 s, then the news stage 0.5 s for all symbols: not 30 s per request and try.
    assert 2 * DEADLINE_S * 0.9 <= elapsed < 10
    eligible = sorted(s for s, u in state["universe"].items() if u.eligible)
    assert len(eligible) > settings.llm.max_concurrency  # some wait for a slot, some in flight
    in_flight = []
    for sym in eligible:
        news = state["news"][sym]
        assert not news.available and news.source == "fallback"
        first = news.reasons[0]
        assert first.code == "llm_deadline_exceeded" and first.data["stage"] == "news"
        in_flight.append(first.data["in_flight"])
    # Four were cancelled in flight, the others never sent: the deadline is the stage's.
    assert in_flight.count(True) == settings.llm.max_concurrency
    # The cycle still decided every eligible symbol, news unavailable and saying why.
    assert sorted(s.symbol for s in state["signals"]) == eligible
    for sig in state["signals"]:
        assert sig.components["news"] is None
        assert any(r.code == "news_unavailable" and "deadline" in r.message for r in sig.reasons)
    assert {(e.symbol, e.stage) for e in state["errors"]} >= {(s, "news") for s in eligible}

    doc = cycle_document(state, settings, elapsed * 1000)
    assert doc["llm"]["calls"] == 0 and doc["llm"]["cost_usd"] == 0
    hunter = [r for r in doc["llm"]["reasons"] if r["code"] == "llm_deadline_exceeded"
              and r["data"]["stage"] == "hunter"]
    assert len(hunter) == 1 and "hunter_fallback" in {r["code"] for r in doc["llm"]["reasons"]}

    # Cancelled, not leaked: every held request was hung up on, none was retried, no task of
    # the cycle is still running, and the tape has one error row per request sent, cost 0.
    sent = hung_env.calls  # the four news slots, and the Hunter's unless its time ran out first
    assert sent in (settings.llm.max_concurrency, settings.llm.max_concurrency + 1)
    assert hung_env.wait_abandoned(sent)
    assert alive == []
    rows = tape_rows(settings.state_dir)
    assert len(rows) == sent
    assert all(r["status"] == "error" and "deadline" in r["error"] for r in rows)
    assert sum(r["cost_usd"] for r in rows) == 0


def test_answers_given_by_the_deadline_are_kept_and_spend_stays_consistent(
    hung_env: FakeOpenAI, script: Script, clock: FixedClock
) -> None:
    script.cost = 0.001
    script.news = {
        "BTC": {"events": [event("BTC ETF inflows", 2, 1.5)]},
        # ETH: an unusable first answer (paid), then the repair request hangs.
        "ETH": [text("no JSON here", cost=0.002), hang()],
    }
    settings, services = make_services(clock)
    state, elapsed, alive = timed_cycle(services, symbols=[BTC, ETH])
    assert elapsed < 10 and alive == []

    btc, eth = state["news"][BTC], state["news"][ETH]
    assert btc.available and btc.score == pytest.approx(1.5 * 0.5 ** (2 / 24) / 4, abs=1e-6)
    assert not eth.available
    assert eth.reasons[0].code == "llm_deadline_exceeded"
    assert "repair request" in eth.reasons[0].message and eth.reasons[0].data["attempt"] == 2

    # What was paid before the deadline is counted, in the cycle and on the tape alike.
    doc = cycle_document(state, settings, 1.0)
    assert doc["llm"]["calls"] == 3  # hunter, BTC, ETH's unusable first answer
    assert doc["llm"]["cost_usd"] == pytest.approx(0.001 + 0.001 + 0.002)
    rows = tape_rows(settings.state_dir)
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(doc["llm"]["cost_usd"])
    eth_rows = [(r["attempt"], r["status"]) for r in rows if r["symbol"] == ETH]
    assert eth_rows == [(1, "invalid"), (2, "error")]
    assert asyncio.run(services.llm.spent_today()) == pytest.approx(0.004)
    assert hung_env.wait_abandoned(1)


def test_a_hunter_query_cut_by_its_deadline_counts_as_an_attempt(
    hung_env: FakeOpenAI, script: Script, clock: FixedClock
) -> None:
    script.hunter = hang()
    services = make_services(clock)[1]
    first, _, _ = timed_cycle(services, symbols=[BTC])
    assert script.calls["hunter"] == 1
    assert "llm_deadline_exceeded" in {r.code for r in first["llm_usage"]["reasons"]}
    # The next cycle (a new process, same state) does not wait on the hung model again.
    services = make_services(clock)[1]
    second, _, _ = timed_cycle(services, symbols=[BTC])
    assert script.calls["hunter"] == 1
    assert "hunter_fallback" in {r.code for r in second["llm_usage"]["reasons"]}


# -- the deadline itself, on an injected clock (no waiting) ---------------------------------


class Tick:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_one_stage_deadline_for_all_branches_of_a_run() -> None:
    tick = Tick()
    services = type("S", (), {"monotonic": tick})()
    ctx = Context()
    first = stage_deadline(ctx, "news", 90, services)
    tick.t += 60  # a branch that starts a minute later has the same deadline: 30 s left
    later = stage_deadline(ctx, "news", 90, services)
    assert later is first and later.remaining() == pytest.approx(30)
    assert stage_deadline(ctx, "hunter", 60, services).remaining() == pytest.approx(60)
    tick.t += 31
    assert first.expired
    # A new run (or a resumed cycle in a new process) has a new Context: fresh deadlines.
    assert stage_deadline(Context(), "news", 90, services).remaining() == pytest.approx(90)
    assert StageDeadlines().get("news") is None


def test_a_request_past_its_deadline_is_not_sent(
    llm_env: FakeOpenAI, clock: FixedClock
) -> None:
    tick = Tick()
    services = make_services(clock)[1]
    spent = Deadline.after("news", 90, tick)
    tick.t += 90
    req = AskRequest(
        agent="hunter",
        model=services.settings.llm.hunter_model,
        prompt=load_prompt("coin_hunter"),
        variables={"as_of": "2026-05-16T11:00:00Z", "watchlist": BTC, "max_symbols": 3},
        schema=HunterAnswer,
        as_of=AS_OF,
        deadline=spent,
    )
    llm_env.enqueue(text(json.dumps({"tickers": []})))
    answer = asyncio.run(services.llm.ask(req))
    assert answer.status == "deadline" and not answer.ok
    assert [r.code for r in answer.reasons] == ["llm_deadline_exceeded"]
    assert answer.reasons[0].data["in_flight"] is False
    assert llm_env.calls == 0 and services.llm.tape.count() == 0


def test_deadline_settings_are_validated() -> None:
    from sextant.config import ConfigError, load_settings

    s = load_settings()
    assert (s.llm.hunter_deadline_s, s.llm.news_deadline_s) == (60.0, 90.0)
    for field in ("hunter_deadline_s", "news_deadline_s"):
        with pytest.raises(ConfigError, match=field):
            load_settings(llm={field: 0})
