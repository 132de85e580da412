"""Stage deadlines: one per LLM stage of a cycle (the Hunter, the News Analyst's fan-out).

A stage's deadline is fixed once, when the stage first asks for it (the Hunter node; the first
News Analyst branch, and LangGraph starts every branch of the fan-out in the same step), and is
shared by all its branches: each bounds its own wait by the time *remaining*, so ten symbols with
four requests in flight still end at the one deadline. The registry lives in the run's Context,
not in the checkpointed state: a cycle resumed by a new process (after a crash) gets a fresh
deadline instead of one that ran out while it was down.

Time is a monotonic clock, by default the running event loop's (the one asyncio's timeouts
count on, immune to wall-clock jumps); tests inject their own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass

Monotonic = Callable[[], float]


def loop_time() -> float:
    return asyncio.get_running_loop().time()


@dataclass(frozen=True)
class Deadline:
    stage: str
    seconds: float  # the stage's whole budget (for messages)
    at: float  # on `now`'s scale
    now: Monotonic = loop_time

    def remaining(self) -> float:
        return self.at - self.now()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    @classmethod
    def after(cls, stage: str, seconds: float, now: Monotonic | None = None) -> Deadline:
        clock = now or loop_time
        return cls(stage=stage, seconds=seconds, at=clock() + seconds, now=clock)


class StageDeadlines:
    """The deadlines of one graph run, by stage (get-or-start)."""

    def __init__(self) -> None:
        self._stages: dict[str, Deadline] = {}
        self._lock = threading.Lock()  # branches may resolve it from worker threads too

    def start(self, stage: str, seconds: float, now: Monotonic | None = None) -> Deadline:
        """The stage's deadline; the first caller fixes it at now + seconds."""
        with self._lock:
            found = self._stages.get(stage)
            if found is None:
                found = self._stages[stage] = Deadline.after(stage, seconds, now)
            return found

    def get(self, stage: str) -> Deadline | None:
        with self._lock:
            return self._stages.get(stage)
