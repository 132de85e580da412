"""Run one analysis cycle through the graph."""

import time
from datetime import datetime
from typing import Any

from cli.common import default_as_of
from graph.context import Context
from graph.graph import build_graph
from graph.state import CycleState
from runtime.services import Services


def cycle_id_for(as_of: datetime) -> str:
    return f"c-{as_of:%Y%m%dT%H%MZ}"


async def run_cycle(
    services: Services,
    *,
    as_of: datetime | None = None,
    symbols: list[str] | None = None,
    graph: Any = None,
    config: dict[str, Any] | None = None,
    resume: bool = False,
    held: list[str] | None = None,
) -> tuple[CycleState, float]:
    """Invoke the graph once; returns the final state and its wall time in ms.

    `resume=True` continues the checkpointed thread of `config` from its last finished node
    (the graph must be compiled with a checkpointer) instead of starting a new run.
    `held`: symbols with an open position, analysed whatever the watchlist and eligibility say.
    """
    start = time.perf_counter()
    watch = symbols or list(services.settings.watchlist)
    if as_of is None:
        as_of = await default_as_of(services.market, watch)
    compiled = graph or build_graph().compile()
    inputs = None
    if not resume:
        inputs = {
            "as_of": as_of,
            "symbols": symbols,
            "cycle_id": cycle_id_for(as_of),
            "held": held or [],
        }
    state: CycleState = await compiled.ainvoke(
        inputs,
        config=config,
        context=Context(settings=services.settings, services=services),
    )
    return state, (time.perf_counter() - start) * 1000
