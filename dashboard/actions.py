"""What the dashboard may do besides reading: close positions, through `sextant close`'s path.

* Inside `sextant loop` (`LoopActions`): the loop's own engine and broadcaster, in the loop's
  process, so on Bybit the close goes through the process that holds the lock; the engine
  runs one book operation at a time, so a close never interleaves with a monitor pass.
* `sextant dashboard` on its own (`StandaloneActions`): exactly `sextant close`
  (`runtime.once.close_positions`: the engine and services built for the close, then torn
  down; both paths share `close_held`). In demo/live it refuses while a loop holds the
  state directory's lock, as `sextant close` does: only the loop talks to Bybit for that book.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from execution.report import close_document
from runtime.lock import held_here, lock_holder
from runtime.once import CloseResult, close_held, close_positions, close_time
from sextant.clock import Clock
from sextant.errors import ExchangeBusy


class ActionRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Actions(Protocol):
    def unavailable(self) -> str | None:
        """Why actions cannot run right now (None: they can)."""
        ...

    async def close(self, symbols: Sequence[str] | None) -> dict[str, Any]:
        """Close at market (reason manual); the `sextant.close/1` document."""
        ...


def _result(result: CloseResult, symbols: Sequence[str] | None) -> dict[str, Any]:
    if result.missing:
        raise ActionRefused(404, f"no open position on {symbols[0] if symbols else '?'}")
    doc = close_document(result.activity)
    doc["posting_error"] = result.posting_error
    return doc


class LoopActions:
    def __init__(self, engine: Any, broadcaster: Any, clock: Clock) -> None:
        self.engine = engine
        self.broadcaster = broadcaster
        self.clock = clock

    def unavailable(self) -> str | None:
        return None

    async def close(self, symbols: Sequence[str] | None) -> dict[str, Any]:
        result = await close_held(
            self.engine, self.broadcaster, symbols, now=close_time(self.engine, self.clock.now())
        )
        return _result(result, symbols)


class StandaloneActions:
    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._one_at_a_time = asyncio.Lock()

    def unavailable(self) -> str | None:
        if self.settings.mode == "dry_run":
            return None
        pid = lock_holder(self.settings.state_dir)
        if pid is None or held_here(self.settings.state_dir):
            return None
        return (
            f"a sextant loop (pid {pid or 'unknown'}) is running on {self.settings.state_dir} "
            "and alone talks to Bybit for this book: close from the loop's own dashboard "
            "(SEXTANT_DASHBOARD__ENABLED=true) or stop the loop first"
        )

    async def close(self, symbols: Sequence[str] | None) -> dict[str, Any]:
        async with self._one_at_a_time:
            why = self.unavailable()
            if why is not None:
                raise ActionRefused(409, why)
            try:
                result = await close_positions(self.settings, symbols)
            except ExchangeBusy as exc:  # the loop started meanwhile
                raise ActionRefused(409, str(exc)) from None
        return _result(result, symbols)
