"""The services of one process, built once from the settings and frozen.

The composition root: it picks the adapters of the settings (market data, LLM, broadcaster)
and, when the command trades, hands in the execution engine; the broadcaster and Telegram's
commands then read that engine's book (`sextant.status/1`). Nothing is plugged in later: a
command that trades builds its engine first and its services with it.
"""

from collections.abc import Callable

from execution.engine import ExecutionEngine
from execution.report import status_provider
from graph.context import Services
from sextant.clock import Clock, SystemClock
from sextant.config import Settings
from tools.broadcast.status import settings_status_provider
from tools.factory import make_broadcaster, make_llm, make_market


def build_services(
    settings: Settings,
    clock: Clock | None = None,
    *,
    engine: ExecutionEngine | None = None,
    quiet: bool = False,
    force_llm: bool = False,
    monotonic: Callable[[], float] | None = None,
) -> Services:
    """`engine`: the book the cycle trades and the status documents read (None: analysis
    only, a flat paper book). `quiet`: no console posts (Telegram, when configured, still
    posts). `force_llm`: an LLM service even with SEXTANT_LLM__ENABLED=false (`sextant prompt
    run` asks explicitly; it still needs the key). `monotonic`: the LLM deadlines' clock."""
    clock = clock or SystemClock()
    status = status_provider(engine) if engine is not None else settings_status_provider(settings)
    return Services(
        settings=settings,
        market=make_market(settings),
        clock=clock,
        broadcaster=make_broadcaster(settings, status=status, quiet=quiet),
        llm=make_llm(settings, clock, force=force_llm),
        execution=engine,
        monotonic=monotonic,
    )
