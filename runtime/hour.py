"""One trading hour: the monitor catches up to `as_of`, then the analysis cycle runs.

Shared by `sextant run --once` and `sextant loop`. The cycle is recorded in the store
(`cycles`: running -> completed) so a restarted loop knows the last completed hour; the
graph may run with a checkpointer (thread id = cycle id) so an interrupted cycle resumes
from its last finished node instead of starting over.
"""

import logging
from collections import Counter
from datetime import datetime
from typing import Any

from execution.engine import Activity, ExecutionEngine, close_flags
from graph.context import Services
from graph.state import CycleState
from runtime.cycle import cycle_id_for, run_cycle
from sextant.clock import Clock

log = logging.getLogger("sextant.loop")


def summary(state: CycleState, act: Activity) -> dict[str, Any]:
    decisions = Counter(s.decision for s in state.get("signals", []))
    return {
        "signals": sum(decisions.values()),
        "long": decisions.get("LONG", 0),
        "short": decisions.get("SHORT", 0),
        "entries": [e.signal_id for e in act.intents if e.status == "filled"],
        "exits": [f"{f.position_id}:{f.reason}" for f in act.fills],
        # news-panic closes the per-cycle cap kept open (news_panic_capped)
        "news_kept": [c.position_id for c in state.get("news_closes", []) or []
                      if c.action == "skip"],
        "errors": len(state.get("errors", [])),
    }


async def trading_hour(
    services: Services,
    engine: ExecutionEngine,
    *,
    as_of: datetime,
    symbols: list[str] | None,
    wall: Clock,
    graph: Any = None,
    config: dict[str, Any] | None = None,
    resume: bool = False,
    monitor: bool = True,
) -> tuple[CycleState, float, Activity]:
    """Monitor up to `as_of` (bars), then run the cycle at `as_of`; returns the final state,
    the cycle's wall time in ms and everything the book did (monitor and execution).

    `services` are the ones built with this engine (`build_services(..., engine=engine)`)."""
    if services.execution is not engine:
        raise ValueError("trading_hour: the services were not built with this engine")
    act = Activity()
    cycle_id = cycle_id_for(as_of)
    book = engine.book_time()
    if monitor and (book is None or as_of >= book):
        pre = await engine.advance(as_of, flags=engine_flags(engine))
        if pre.exits:
            await services.broadcaster.publish_exits(pre.exit_events)
        act.merge(pre)
    with engine.store.tx() as tx:
        tx.cycle_started(cycle_id, as_of, services.settings.mode, wall.now())
    log.info("cycle %s start", cycle_id)
    # Every open position's symbol is analysed (news, news-panic exit), eligible or not.
    held = sorted({p.symbol for p in engine.store.open_positions()})
    state, total = await run_cycle(
        services,
        as_of=as_of,
        symbols=symbols,
        graph=graph,
        config=config,
        resume=resume,
        held=held,
    )
    cyc = Activity()
    cyc.intents = list(state.get("executions", []) or [])
    for p in state.get("positions", []) or []:
        cyc.positions[p.position_id] = p
    cyc.orders = list(state.get("orders", []) or [])
    cyc.exits = [(e.position, e.fill) for e in state.get("exits", []) or []]
    cyc.news_closes = list(state.get("news_closes", []) or [])
    act.merge(cyc)
    # The monitor keeps closing what the cycle decided to close (e.g. if the exchange was down),
    # never what the per-cycle cap kept open.
    flags = close_flags(state.get("news_closes") or [])
    if "executions" not in state:
        # the WAIT branch skipped the execution node, which records them otherwise
        engine.record_signals(state.get("signals", []), cycle_id)
    with engine.store.tx() as tx:
        if book is None or as_of >= book:  # a past hour (--as-of) does not steer the book
            tx.set_news_flags(flags)
        tx.cycle_finished(cycle_id, "completed", wall.now(), summary(state, act))
    log.info("cycle %s done: %s", cycle_id, summary(state, act))
    return state, total, act


def engine_flags(engine: ExecutionEngine) -> dict[str, tuple[bool, bool]]:
    """The news-panic flags of the last completed cycle (the monitor keeps applying them)."""
    return engine.store.news_flags()
