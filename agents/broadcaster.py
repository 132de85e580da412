"""Broadcaster node: publishes the cycle's posts (console without a Telegram token)."""

import time

from langgraph.runtime import Runtime

from graph.context import Context, services_of
from graph.state import CycleState


def broadcaster(state: CycleState, runtime: Runtime[Context]) -> dict:
    start = time.perf_counter()
    services = services_of(runtime.context)
    posts = services.broadcaster.publish(list(state.get("signals", [])))
    return {
        "posts": posts,
        "timings_ms": {"broadcast": round((time.perf_counter() - start) * 1000, 3)},
    }
