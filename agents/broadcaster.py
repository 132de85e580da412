"""Broadcaster node: publishes the cycle's posts (console without a Telegram token)."""

import asyncio
import time

from langgraph.runtime import Runtime

from graph.context import Context, services_of
from graph.state import CycleState
from tools.broadcast.port import EntryEvent


async def broadcaster(state: CycleState, runtime: Runtime[Context]) -> dict:
    start = time.perf_counter()
    services = await asyncio.to_thread(services_of, runtime.context)
    signals = list(state.get("signals", []))
    by_id = {s.signal_id: s for s in signals}
    entries = [
        EntryEvent(signal=by_id[e.signal_id])
        for e in state.get("executions", []) or []
        if e.signal_id in by_id
    ]
    posts = await services.broadcaster.publish_cycle(
        as_of=state["as_of"], signals=signals, entries=entries, exits=[]  # type: ignore[arg-type]
    )
    return {
        "posts": posts,
        "timings_ms": {"broadcast": round((time.perf_counter() - start) * 1000, 3)},
    }
