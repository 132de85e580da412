"""The cycle's state: what each node reads and the partial updates it returns."""

import operator
from datetime import datetime
from typing import Annotated, Any, TypedDict

from sextant.events import ExitEvent
from sextant.math_engine.models import MathAnalysis
from sextant.models import (
    ExecutionIntent,
    MarketSnapshot,
    NewsAssessment,
    NewsClose,
    PortfolioState,
    Signal,
    SymbolError,
    UniverseEntry,
)
from sextant.positions import OrderRecord, Position


def merge(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer for keys written by parallel branches (Send fan-out, Hunter || Collector)."""
    return {**(left or {}), **(right or {})}


def add_usage(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer of the LLM usage written by parallel nodes: numbers add up, lists concatenate."""
    out = dict(left or {})
    for key, value in (right or {}).items():
        if isinstance(value, list):
            out[key] = [*out.get(key, []), *value]
        else:
            out[key] = out.get(key, 0) + value
    return out


class Candidate(TypedDict):
    symbol: str
    source: str  # watchlist | hunter
    rationale: str


class InputState(TypedDict, total=False):
    """What a caller (CLI, loop, Studio) may pass in; everything is optional. The runtime
    passes typed values; Studio may give `as_of` as ISO text. The `prepare` node resolves them
    once: after it, `as_of` is a UTC datetime and the symbols are normalised."""

    as_of: datetime | str | None
    symbols: list[str] | None
    cycle_id: str
    # Symbols with an open position (the caller's book): collected, their news read and their
    # news-panic exits taken every cycle, eligible or not; never entered while ineligible.
    held: list[str] | None
    # The book the Risk Manager decides with (the runtime's engine before this cycle's own
    # entries); absent: a flat paper book at the configured equity.
    portfolio: PortfolioState | None


class CycleState(TypedDict, total=False):
    as_of: datetime  # set once by `prepare`
    symbols: list[str]
    cycle_id: str
    held: list[str]
    candidates: list[Candidate]
    snapshots: Annotated[dict[str, MarketSnapshot], merge]
    reference: MarketSnapshot | None
    universe: Annotated[dict[str, UniverseEntry], merge]
    btc_change_4h_pct: float | None
    news: Annotated[dict[str, NewsAssessment], merge]
    analyses: dict[str, MathAnalysis]
    portfolio: PortfolioState | None
    signals: list[Signal]
    reversal_exits: list[str]  # held symbols whose score crossed the reversal-exit level
    route: str
    executions: list[ExecutionIntent]
    positions: list[Position]  # opened, changed or closed by this cycle's execution
    orders: list[OrderRecord]  # orders this cycle's execution created or changed
    exits: list[ExitEvent]  # exit fills of this cycle (news panic), for the broadcaster
    news_closes: list[NewsClose]  # news-panic closes decided, made or capped (with reasons)
    posts: list[str]
    errors: Annotated[list[SymbolError], operator.add]
    timings_ms: Annotated[dict[str, float], merge]
    # LLM calls, cache hits, tokens, cost and reasons of the cycle (the JSON's "llm" block).
    llm_usage: Annotated[dict[str, Any], add_usage]


class NewsTask(TypedDict):
    """Payload of one News Analyst branch (sent with Send, one per eligible or held symbol)."""

    symbol: str
    as_of: datetime
    snapshot: MarketSnapshot | None  # None: a held symbol whose market data failed
    cycle_id: str | None
