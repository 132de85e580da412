"""Execution node: actionable signals become positions (paper or Bybit) through the engine.

With an execution engine in the services (`sextant run --once`, `sextant loop`) entries are
executed by the broker of SEXTANT_MODE and news-panic flags close open positions. Without one
(LangGraph Studio, plain graph runs) the node only records the intents, as in dry-run.
Entries are idempotent (client order ids derive from the signal id): a cycle that is
resumed or redone after a crash never opens a position twice.
"""

import asyncio
import time

from langgraph.runtime import Runtime

from graph.context import Context, services_of
from graph.state import CycleState
from sextant.models import ExecutionIntent, Signal


def recorded_intent(sig: Signal, mode: str) -> ExecutionIntent:
    assert sig.side is not None
    assert sig.entry is not None and sig.stop_loss is not None and sig.quantity is not None
    assert sig.take_profit_1 is not None and sig.take_profit_2 is not None
    assert sig.leverage is not None
    return ExecutionIntent(
        signal_id=sig.signal_id,
        symbol=sig.symbol,
        side=sig.side,
        quantity=sig.quantity,
        entry=sig.entry,
        stop_loss=sig.stop_loss,
        take_profit_1=sig.take_profit_1,
        take_profit_2=sig.take_profit_2,
        leverage=sig.leverage,
        mode=mode,
        status="recorded",
    )


async def execution(state: CycleState, runtime: Runtime[Context]) -> dict:
    start = time.perf_counter()
    services = await asyncio.to_thread(services_of, runtime.context)
    signals = list(state.get("signals", []))
    engine = services.execution
    if engine is None:
        intents = [
            recorded_intent(s, services.settings.mode)
            for s in signals
            if s.decision != "WAIT" and s.side is not None
        ]
        return {
            "executions": intents,
            "timings_ms": {"execution": round((time.perf_counter() - start) * 1000, 3)},
        }
    act = await engine.execute(
        signals,
        as_of=state["as_of"],  # type: ignore[arg-type]
        cycle_id=state.get("cycle_id", ""),
        snapshots=state.get("snapshots", {}),
        news=state.get("news", {}),
    )
    return {
        "executions": act.intents,
        "positions": list(act.positions.values()),
        "orders": act.orders,
        "exits": act.exit_events,
        "news_closes": act.news_closes,
        "timings_ms": {"execution": round((time.perf_counter() - start) * 1000, 3)},
    }
