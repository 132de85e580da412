"""Risk Manager node: final scores, decisions, levels and vetoes for the cycle.

It decides with the portfolio of the cycle's input (the runtime's book before this cycle's own
entries); without one (Studio, a plain graph run) a flat paper book at the configured equity.
"""

import time

from langgraph.runtime import Runtime

from graph.context import Context, services_of
from graph.state import CycleState
from sextant.lifecycle import reversal_due
from sextant.models import PortfolioState, SymbolError
from sextant.risk import SymbolInputs, decide


def risk_manager(state: CycleState, runtime: Runtime[Context]) -> dict:
    start = time.perf_counter()
    services = services_of(runtime.context)
    portfolio = state.get("portfolio")
    if portfolio is None:
        if services.execution is not None:
            # A trading run always passes its book in; a state without one (a checkpoint of
            # an older version) must not be decided on a made-up flat book: the runtime
            # then runs the cycle over.
            raise RuntimeError("the cycle's input has no portfolio: cannot decide on the book")
        portfolio = PortfolioState.flat(services.settings.equity)
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
    scores = {s.symbol: s.score for s in signals}
    es = services.settings.execution
    return {
        "signals": signals,
        "reversal_exits": sorted(
            sym for sym, side in portfolio.open_sides.items()
            if reversal_due(side, scores.get(sym), es)
        ),
        "portfolio": portfolio,
        "errors": errors,
        "timings_ms": {"risk": round((time.perf_counter() - start) * 1000, 3)},
    }
