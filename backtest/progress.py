"""A progress bar on stderr, and Ctrl-C turned into a clean stop between two hours."""

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import TextIO


class ProgressBar:
    """One line redrawn at most `steps` times over the run on a terminal; on a pipe or file,
    a new line every 10 %."""

    def __init__(self, stream: TextIO | None = None, width: int = 30, steps: int = 200) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty())
        self.steps = steps if self.tty else 10
        self._last = -1
        self._drawn = False

    def __call__(self, done: int, total: int, as_of: datetime, equity: Decimal) -> None:
        tick = done * self.steps // max(total, 1)
        if tick == self._last and done != total:
            return
        self._last = tick
        filled = self.width * done // max(total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        line = (
            f"backtest [{bar}] {100 * done / max(total, 1):5.1f}%  {as_of:%Y-%m-%d %H:%M}  "
            f"equity {float(equity):,.2f}"
        )
        self.stream.write(f"\r{line}" if self.tty else f"{line}\n")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn and self.tty:
            self.stream.write("\n")
            self.stream.flush()


class StopFlag:
    """Set by the first Ctrl-C (SIGINT); the backtest checks it between two hours."""

    def __init__(self) -> None:
        self.set = False

    def __call__(self) -> bool:
        return self.set


@contextmanager
def stop_on_sigint() -> Iterator[StopFlag]:
    """While inside, the first SIGINT asks for a clean stop; a second one interrupts at once."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signals reach the main thread only: nothing to install here
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: object) -> None:
        flag.set = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
