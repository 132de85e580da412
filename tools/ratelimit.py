"""A sliding-window rate limiter plus an in-flight cap, owned by us (ccxt's bybit throttle is far
stricter than Bybit's documented 600 requests / 5 s per IP, see docs/field-notes)."""

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

log = logging.getLogger(__name__)


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


class RetryingCaller:
    """Requests through a limiter, retried with exponential backoff on transient errors.

    Shared by every client of Bybit's REST API (market data, data download) so they pace and
    retry the same way. When retries are exhausted the last transient error is raised; other
    errors are raised at once. Callers translate both into their own exceptions.
    """

    def __init__(
        self,
        limiter: SlidingWindowLimiter,
        *,
        retries: int,
        backoff_s: float,
        retryable: tuple[type[BaseException], ...],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limiter = limiter
        self.retries = retries
        self.backoff_s = backoff_s
        self.retryable = retryable
        self._sleep = sleep
        self.requests = 0  # attempts sent, retries included

    async def call(self, what: str, fn: Callable[..., Awaitable[Any]], *args: Any,
                   **kwargs: Any) -> Any:
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            try:
                async with self.limiter.slot():
                    self.requests += 1
                    return await fn(*args, **kwargs)
            except self.retryable as exc:
                if attempt == self.retries:
                    raise
                log.warning("%s: %s, retry in %.2fs", what, type(exc).__name__, delay)
                await self._sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")
