"""Node timing: how long each stage took, reported in the cycle's timings_ms."""

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def timed(out: dict[str, float], key: str) -> Iterator[None]:
    # perf_counter measures durations only; no rule ever sees it.
    start = time.perf_counter()
    try:
        yield
    finally:
        out[key] = round((time.perf_counter() - start) * 1000, 3)
