"""Console broadcaster: prints the posts a Telegram channel would get, to a text stream.

Same engine, same texts (the HTML's plain twin), same dedup and schedules as Telegram; the
"send" is a print, so it cannot fail, is never rate-limited and carries no chart.
"""

import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from sextant.clock import Clock
from sextant.config.telegram import TelegramSettings
from sextant.events import ExitEvent
from sextant.ports.broadcaster import StatusProvider
from tools.broadcast.formatting import plain
from tools.broadcast.publisher import Failure, Outcome, Publisher, SendRequest
from tools.broadcast.store import BroadcastStore


class ConsoleTransport:
    destination = "console"
    supports_photos = False
    rate_limited = False

    def __init__(self, stream: TextIO | None = None) -> None:
        # stderr by default: stdout belongs to the CLI's table or JSON document.
        self.stream = stream
        self._count = 0

    async def send(self, request: SendRequest) -> int:
        self._count += 1
        print(plain(request.html) + "\n", file=self.stream or sys.stderr)
        return self._count

    def classify(self, exc: BaseException) -> Failure:
        return Failure(Outcome.NOT_SENT)

    async def aclose(self) -> None:
        return None


class ConsoleBroadcaster(Publisher):
    """Without a store the dedup lives as long as the process (an in-memory database);
    `runtime.services.build_services` gives it the shared database, like Telegram's."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        settings: TelegramSettings | None = None,
        store: BroadcastStore | None = None,
        status: StatusProvider | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            settings or TelegramSettings(),
            store or BroadcastStore.in_memory(),
            ConsoleTransport(stream),
            clock=clock,
            status=status,
            mode="inline",
        )

    @property
    def stream(self) -> TextIO | None:
        return self.transport.stream  # type: ignore[attr-defined, no-any-return]

    async def publish_cycle(self, **kwargs) -> list[str]:  # type: ignore[no-untyped-def, override]
        texts = await super().publish_cycle(**kwargs)
        print(texts[-1], file=self.stream or sys.stderr)  # the one-line cycle summary
        return texts


class SilentBroadcaster:
    """Posts nothing, remembers nothing (`sextant loop --quiet` without Telegram)."""

    async def publish_cycle(self, **_: Any) -> list[str]:
        return []

    async def publish_exits(self, exits: Sequence[ExitEvent]) -> list[str]:
        return []

    async def on_tick(self, now: datetime) -> list[str]:
        return []

    async def aclose(self) -> None:
        return None
