"""Console broadcaster: prints the posts a Telegram channel would get, to a text stream."""

import sys
from collections.abc import Sequence
from typing import TextIO

from sextant.models import Signal
from tools.broadcast.render import cycle_summary, entry_post


class ConsoleBroadcaster:
    def __init__(self, stream: TextIO | None = None) -> None:
        # stderr by default: stdout belongs to the CLI's table or JSON document.
        self.stream = stream

    def publish(self, signals: Sequence[Signal]) -> list[str]:
        posts = [entry_post(s) for s in signals if s.decision != "WAIT"]
        posts.append(cycle_summary(signals))
        out = self.stream or sys.stderr
        for post in posts:
            print(post, file=out)
        return posts
