"""The core exposed as LangChain tools gives what a cycle computes."""

import asyncio
import json
from datetime import UTC, datetime

from agents.toolkit import core_tools, tool_by_name
from runtime.cycle import run_cycle
from runtime.services import build_services
from sextant.config import load_settings

AS_OF = datetime(2026, 5, 16, 11, tzinfo=UTC)


def test_tools_match_the_cycle() -> None:
    services = build_services(load_settings())
    tools = core_tools(services)
    assert {t.name for t in tools} == {"market_snapshot", "math_analysis", "risk_decision"}

    async def go() -> tuple[dict, dict, dict]:
        snap = json.loads(await tool_by_name(tools, "market_snapshot").ainvoke(
            {"symbol": "eth", "as_of": AS_OF.isoformat()}))
        math = json.loads(await tool_by_name(tools, "math_analysis").ainvoke(
            {"symbol": "ETHUSDT", "as_of": AS_OF.isoformat()}))
        risk = json.loads(await tool_by_name(tools, "risk_decision").ainvoke(
            {"symbol": "ETH/USDT:USDT", "as_of": AS_OF.isoformat()}))
        return snap, math, risk

    snap, math, risk = asyncio.run(go())
    state, _ = asyncio.run(run_cycle(services, as_of=AS_OF, symbols=["ETH/USDT:USDT"]))
    (sig,) = state["signals"]
    assert snap["symbol"] == "ETH/USDT:USDT" and snap["bid"] < snap["ask"]
    assert math["score"] == state["analyses"]["ETH/USDT:USDT"].score
    assert risk["decision"] == sig.decision and risk["score"] == sig.score
    assert risk["entry"] == float(sig.entry) if sig.entry is not None else risk["entry"] is None
