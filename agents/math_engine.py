"""Math Engine node: indicator scores per timeframe, combined, for every eligible symbol."""

import time

from langgraph.runtime import Runtime

from agents.toolkit import math_for
from graph.context import Context, services_of
from graph.state import CycleState
from sextant.models import SymbolError


def eligible_symbols(state: CycleState) -> list[str]:
    universe = state.get("universe", {})
    snaps = state.get("snapshots", {})
    return [s for s, u in universe.items() if u.eligible and s in snaps]


def math_engine(state: CycleState, runtime: Runtime[Context]) -> dict:
    start = time.perf_counter()
    services = services_of(runtime.context)
    analyses = {}
    errors = []
    for symbol in eligible_symbols(state):
        snap = state["snapshots"][symbol]
        try:
            analyses[symbol] = math_for(snap, services)
        except Exception as exc:
            msg = f"{type(exc).__name__}: {str(exc)[:200]}"
            errors.append(SymbolError(symbol=symbol, stage="math", error=msg))
    return {
        "analyses": analyses,
        "errors": errors,
        "timings_ms": {"math": round((time.perf_counter() - start) * 1000, 3)},
    }
