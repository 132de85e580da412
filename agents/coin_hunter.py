"""Coin Hunter node. Offline fallback (no LLM key): the core watchlist is the whole proposal."""

from langgraph.runtime import Runtime

from graph.context import Context, settings_of
from graph.state import Candidate, CycleState


def watchlist_candidates(symbols: list[str] | tuple[str, ...]) -> list[Candidate]:
    return [Candidate(symbol=s, source="watchlist", rationale="core watchlist") for s in symbols]


def coin_hunter(state: CycleState, runtime: Runtime[Context]) -> dict:
    settings = settings_of(runtime.context)
    symbols = state.get("symbols") or list(settings.watchlist)
    return {"candidates": watchlist_candidates(symbols)}
