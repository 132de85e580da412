"""Risk Manager node: final scores, decisions, levels and vetoes for the cycle."""

import time

from langgraph.runtime import Runtime

from graph.context import Context, services_of
from graph.state import CycleState
from sextant.models import SymbolError
from sextant.risk import SymbolInputs, decide


def risk_manager(state: CycleState, runtime: Runtime[Context]) -> dict:
    start = time.perf_counter()
    services = services_of(runtime.context)
    as_of = state["as_of"]
    portfolio = services.portfolio_at(as_of)  # type: ignore[arg-type]
    news = state.get("news", {})
    btc = state.get("btc_change_4h_pct")
    inputs = [
        SymbolInputs(snapshot=state["snapshots"][s], analysis=a, news=news.get(s))
        for s, a in sorted(state.get("analyses", {}).items())
    ]
    errors: list[SymbolError] = []
    signals = decide(
        inputs,
        btc_change_4h_pct=btc,
        portfolio=portfolio,
        settings=services.settings,
        errors=errors,
    )
    signals.sort(key=lambda s: (s.decision == "WAIT", -abs(s.score), s.symbol))
    return {
        "signals": signals,
        "portfolio": portfolio,
        "errors": errors,
        "timings_ms": {"risk": round((time.perf_counter() - start) * 1000, 3)},
    }
