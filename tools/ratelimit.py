"""A sliding-window rate limiter plus an in-flight cap, owned by us (ccxt's bybit throttle is far
stricter than Bybit's documented 600 requests / 5 s per IP, see docs/field-notes)."""

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager


class SlidingWindowLimiter:
    """At most `max_requests` starts in any `window_s` seconds, and `max_in_flight` at once."""

    def __init__(
        self,
        max_requests: int,
        window_s: float,
        max_in_flight: int,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_requests < 1 or window_s <= 0 or max_in_flight < 1:
            raise ValueError("limiter needs max_requests >= 1, window_s > 0, max_in_flight >= 1")
        self.max_requests = max_requests
        self.window_s = window_s
        self._starts: deque[float] = deque()
        self._sem = asyncio.Semaphore(max_in_flight)
        self._lock = asyncio.Lock()
        self._monotonic = monotonic
        self._sleep = sleep

    async def _admit(self) -> None:
        async with self._lock:  # one waiter at a time keeps the window exact and FIFO
            while True:
                now = self._monotonic()
                while self._starts and now - self._starts[0] >= self.window_s:
                    self._starts.popleft()
                if len(self._starts) < self.max_requests:
                    self._starts.append(now)
                    return
                await self._sleep(self.window_s - (now - self._starts[0]))

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._sem:
            await self._admit()
            yield
