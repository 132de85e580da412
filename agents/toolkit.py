"""The deterministic core as LangChain tools: the same functions the nodes call.

An LLM agent (or a user in Studio) can ask for a symbol's snapshot summary, its Math Engine
reading or the Risk Manager's decision at a point in time, and gets exactly what a cycle
would compute; nothing here re-implements a rule.
"""

import json
from datetime import datetime
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

from graph.context import Services
from sextant.config import normalise_symbol
from sextant.market_context import change_pct, open_interest_in_base
from sextant.math_engine import analyze
from sextant.math_engine.models import MathAnalysis
from sextant.models import MarketSnapshot, PortfolioState, parse_utc
from sextant.risk import SymbolInputs, evaluate_symbol


def _as_of(text: str | None) -> datetime | None:
    return parse_utc(text) if text else None


def math_for(snap: MarketSnapshot, services: Services) -> MathAnalysis:
    """The Math Engine node's computation for one snapshot."""
    oi = None
    if snap.open_interest is not None:
        oi = open_interest_in_base(
            snap.open_interest.to_series(), snap.open_interest.unit, snap.candles["1h"].df["close"]
        )
    return analyze(snap.symbol, snap.frames(), oi, services.settings.math)


def core_tools(services: Services) -> list[BaseTool]:
    async def snapshot(symbol: str, as_of: str | None = None) -> MarketSnapshot:
        sym = normalise_symbol(symbol)
        when = _as_of(as_of) or await services.market.default_as_of([sym])
        result = await services.market.collect([sym], when)
        if sym not in result.snapshots:
            raise ValueError(result.errors[0].error if result.errors else f"no data for {sym}")
        return result.snapshots[sym]

    async def market_snapshot(symbol: str, as_of: str | None = None) -> str:
        """Last price, bid/ask, 24h quote volume, funding and data assumptions of a symbol."""
        snap = await snapshot(symbol, as_of)
        return json.dumps({
            "symbol": snap.symbol,
            "as_of": snap.as_of.isoformat(),
            "last": snap.ticker.last,
            "bid": snap.ticker.bid,
            "ask": snap.ticker.ask,
            "spread_pct": snap.ticker.spread_pct,
            "quote_volume_24h": snap.ticker.quote_volume_24h,
            "funding_pct_8h": snap.funding.rate_pct_8h if snap.funding else None,
            "assumptions": snap.assumptions,
        })

    async def math_analysis(symbol: str, as_of: str | None = None) -> str:
        """Math Engine reading: components, regime, timeframes, daily veto, volatility."""
        snap = await snapshot(symbol, as_of)
        return math_for(snap, services).model_dump_json()

    async def risk_decision(symbol: str, as_of: str | None = None) -> str:
        """Risk Manager decision (LONG/SHORT/WAIT) with levels and reasons, news unavailable."""
        snap = await snapshot(symbol, as_of)
        ref = services.settings.market.reference_symbol
        btc = await services.market.collect([ref], snap.as_of)
        btc_change = (
            change_pct(btc.snapshots[ref].candles["1h"].df["close"], 4)
            if ref in btc.snapshots else None
        )
        signal = evaluate_symbol(
            SymbolInputs(snapshot=snap, analysis=math_for(snap, services)),
            btc_change_4h_pct=btc_change,
            portfolio=(
                services.execution.portfolio_at(snap.as_of)
                if services.execution is not None
                else PortfolioState.flat(services.settings.equity)
            ),
            settings=services.settings,
        )
        return signal.model_dump_json()

    out: list[BaseTool] = []
    for fn in (market_snapshot, math_analysis, risk_decision):
        out.append(StructuredTool.from_function(coroutine=fn, name=fn.__name__,
                                                description=fn.__doc__ or ""))
    return out


def tool_by_name(tools: list[BaseTool], name: str) -> Any:
    return next(t for t in tools if t.name == name)
