"""Console broadcaster: prints the posts a Telegram channel would get, to a text stream."""

import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO

from sextant.models import Signal
from tools.broadcast.port import EntryEvent, ExitEvent
from tools.broadcast.render import cycle_summary, entry_post, exit_post


class ConsoleBroadcaster:
    def __init__(self, stream: TextIO | None = None) -> None:
        # stderr by default: stdout belongs to the CLI's table or JSON document.
        self.stream = stream

    def _emit(self, posts: list[str]) -> list[str]:
        out = self.stream or sys.stderr
        for post in posts:
            print(post, file=out)
        return posts

    async def publish_cycle(
        self,
        *,
        as_of: datetime,
        signals: Sequence[Signal],
        entries: Sequence[EntryEvent],
        exits: Sequence[ExitEvent],
    ) -> list[str]:
        acted = {e.signal.signal_id for e in entries}
        posts = [entry_post(s) for s in signals if s.decision != "WAIT" and s.signal_id in acted]
        posts += [exit_post(e) for e in exits]
        posts.append(cycle_summary(signals))
        return self._emit(posts)

    async def publish_exits(self, exits: Sequence[ExitEvent]) -> list[str]:
        return self._emit([exit_post(e) for e in exits])

    async def aclose(self) -> None:
        return None
