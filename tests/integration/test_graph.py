"""The graph's shape and routing: parallel start, Send fan-out, the WAIT branch."""

import asyncio
from datetime import UTC, datetime

from langgraph.types import Send

from graph.graph import build_graph, graph
from graph.routing import route_after_risk, route_to_news
from runtime.cycle import run_cycle
from runtime.services import build_services
from sextant.config import load_settings


def test_hunter_and_collector_start_in_parallel_and_join() -> None:
    g = graph.get_graph()
    assert {e.target for e in g.edges if e.source == "__start__"} == {"prepare"}
    starts = {e.target for e in g.edges if e.source == "prepare"}
    assert starts == {"coin_hunter", "data_collector"}
    joins = {e.source for e in g.edges if e.target == "collect_hunted"}
    assert joins == {"coin_hunter", "data_collector"}
    risk_out = {e.target for e in g.edges if e.source == "risk_manager"}
    assert risk_out == {"execution", "broadcaster"}
    assert {e.target for e in g.edges if e.source == "execution"} == {"broadcaster"}


def test_news_fan_out_sends_one_branch_per_eligible_symbol() -> None:
    settings = load_settings()
    services = build_services(settings)
    as_of = datetime(2026, 5, 16, 11, tzinfo=UTC)
    state, _ = asyncio.run(
        run_cycle(services, as_of=as_of, symbols=["BTC/USDT:USDT", "ETH/USDT:USDT"])
    )
    sends = route_to_news(state)
    assert isinstance(sends, list) and all(isinstance(s, Send) for s in sends)
    assert sorted(s.arg["symbol"] for s in sends) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    assert set(state["news"]) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    assert all(
        not n.available and n.reasons[0].code == "news_unavailable" for n in state["news"].values()
    )


def test_no_eligible_symbol_goes_straight_to_math() -> None:
    assert route_to_news({"universe": {}, "snapshots": {}}) == "math_engine"


def test_all_wait_skips_execution() -> None:
    settings = load_settings()
    services = build_services(settings)
    # BTC alone on this hour is a WAIT (score inside the thresholds).
    as_of = datetime(2026, 5, 16, 11, tzinfo=UTC)
    compiled = build_graph().compile()
    state, _ = asyncio.run(
        run_cycle(services, as_of=as_of, symbols=["BTC/USDT:USDT"], graph=compiled)
    )
    assert [s.decision for s in state["signals"]] == ["WAIT"]
    assert route_after_risk(state) == "broadcaster"
    assert "executions" not in state or state["executions"] in (None, [])
    assert state["posts"][-1].startswith("cycle: 0 LONG, 0 SHORT, 1 WAIT")


def test_actionable_signal_goes_through_execution() -> None:
    settings = load_settings()
    services = build_services(settings)
    as_of = datetime(2026, 5, 16, 11, tzinfo=UTC)
    state, _ = asyncio.run(run_cycle(services, as_of=as_of, symbols=["ETH/USDT:USDT"]))
    assert [s.decision for s in state["signals"]] == ["SHORT"]
    assert route_after_risk(state) == "execution"
    (intent,) = state["executions"]
    sig = state["signals"][0]
    assert intent.signal_id == sig.signal_id and intent.status == "recorded"
    assert intent.quantity == sig.quantity and intent.side == "short"
