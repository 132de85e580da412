"""A `sextant.status/1` provider for when no execution store is wired in: settings only.

Equity is the paper equity, nothing is open, the circuit breaker is off; the last cycle comes
from the loop's heartbeat file when there is one. A run that trades builds its services with
the engine's provider instead (`runtime.services.build_services`).
"""

import asyncio
import json
from typing import Any

from sextant.config import Settings
from sextant.ports.broadcaster import StatusProvider


def settings_status_provider(settings: Settings) -> StatusProvider:
    heartbeat = settings.state_dir / "heartbeat.json"

    def last_cycle() -> Any:
        try:
            return json.loads(heartbeat.read_text()).get("last_cycle_as_of")
        except (OSError, ValueError, AttributeError):
            return None

    async def provide() -> dict[str, Any]:
        return {
            "schema": "sextant.status/1",
            "mode": settings.mode,
            "equity": float(settings.equity),
            "today_pnl": 0.0,
            "circuit_breaker": {"tripped": False, "until": None},
            "last_cycle_as_of": await asyncio.to_thread(last_cycle),
            "positions": [],
        }

    return provide
