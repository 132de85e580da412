"""The sliding-window limiter, on a fake clock: never more than N starts in any window."""

import asyncio

import pytest

from tools.ratelimit import SlidingWindowLimiter


class FakeTime:
    """A monotonic clock that only moves when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def test_at_most_n_starts_in_any_window() -> None:
    t = FakeTime()
    lim = SlidingWindowLimiter(5, 1.0, 3, monotonic=t.monotonic, sleep=t.sleep)
    starts: list[float] = []

    async def one() -> None:
        async with lim.slot():
            starts.append(t.now)

    async def go() -> None:
        await asyncio.gather(*(one() for _ in range(23)))

    asyncio.run(go())
    assert len(starts) == 23
    for i, s in enumerate(starts):
        in_window = [x for x in starts[i:] if x - s < 1.0]
        assert len(in_window) <= 5
    # 23 starts at 5 per second: the last one waits for the fifth window.
    assert starts[-1] == pytest.approx(4.0)


def test_in_flight_cap() -> None:
    t = FakeTime()
    lim = SlidingWindowLimiter(100, 1.0, 2, monotonic=t.monotonic, sleep=t.sleep)
    inside = 0
    peak = 0

    async def one() -> None:
        nonlocal inside, peak
        async with lim.slot():
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0)
            inside -= 1

    async def go() -> None:
        await asyncio.gather(*(one() for _ in range(10)))

    asyncio.run(go())
    assert peak == 2
    assert t.sleeps == []  # the window was never full


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        SlidingWindowLimiter(0, 1.0, 1)


def test_retrying_caller_backs_off_then_raises_the_last_transient_error() -> None:
    from tools.ratelimit import RetryingCaller

    t = FakeTime()
    lim = SlidingWindowLimiter(100, 1.0, 2, monotonic=t.monotonic, sleep=t.sleep)
    caller = RetryingCaller(lim, retries=2, backoff_s=0.5, retryable=(TimeoutError,),
                            sleep=t.sleep)
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise TimeoutError("slow")
        return "ok"

    assert asyncio.run(caller.call("flaky", flaky)) == "ok"
    assert t.sleeps == [0.5, 1.0] and caller.requests == 3

    async def down() -> None:
        raise TimeoutError("down")

    with pytest.raises(TimeoutError):
        asyncio.run(caller.call("down", down))
    assert caller.requests == 6

    async def broken() -> None:
        raise KeyError("not transient")

    with pytest.raises(KeyError):
        asyncio.run(caller.call("broken", broken))
    assert caller.requests == 7  # no retry for a non-transient error
