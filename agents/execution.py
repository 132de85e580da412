"""Execution node: turns actionable signals into intents (dry-run records them)."""

import time

from langgraph.runtime import Runtime

from graph.context import Context, settings_of
from graph.state import CycleState
from sextant.models import ExecutionIntent


def execution(state: CycleState, runtime: Runtime[Context]) -> dict:
    start = time.perf_counter()
    settings = settings_of(runtime.context)
    intents = []
    for sig in state.get("signals", []):
        if sig.decision == "WAIT" or sig.side is None:
            continue
        assert sig.entry is not None and sig.stop_loss is not None and sig.quantity is not None
        assert sig.take_profit_1 is not None and sig.take_profit_2 is not None
        assert sig.leverage is not None
        intents.append(
            ExecutionIntent(
                signal_id=sig.signal_id,
                symbol=sig.symbol,
                side=sig.side,
                quantity=sig.quantity,
                entry=sig.entry,
                stop_loss=sig.stop_loss,
                take_profit_1=sig.take_profit_1,
                take_profit_2=sig.take_profit_2,
                leverage=sig.leverage,
                mode=settings.mode,
                status="recorded",
            )
        )
    return {
        "executions": intents,
        "timings_ms": {"execution": round((time.perf_counter() - start) * 1000, 3)},
    }
