"""Answer caches (diskcache under the state directory) and the freshness rules, by as_of.

Freshness is decided from the cycle's `as_of`, never the wall clock: an entry stored at as_of T
serves a cycle at as_of t only when 0 <= t - T < ttl. A cycle earlier than the stored answer
(a replay going back in time) never sees it: that answer may know what came after t.
diskcache itself never expires entries by time here; it is disposable and bounded in size.
Blocking (SQLite inside): call from a thread.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import diskcache

CACHE_DIR = ("cache", "llm")
SIZE_LIMIT = 64 * 1024 * 1024

HunterAction = Literal["fresh", "stale", "query"]


def cache_key(*parts: object) -> str:
    return "|".join(str(p) for p in parts)


def digest(items: list[str] | tuple[str, ...]) -> str:
    return hashlib.sha256(",".join(items).encode()).hexdigest()[:12]


def _age(as_of: datetime, stored: str | None) -> timedelta | None:
    if not stored:
        return None
    return as_of - datetime.fromisoformat(stored)


def is_fresh(as_of: datetime, stored_as_of: str | None, ttl: timedelta) -> bool:
    age = _age(as_of, stored_as_of)
    return age is not None and timedelta(0) <= age < ttl


def hunter_action(
    entry: dict[str, Any] | None,
    as_of: datetime,
    *,
    cache_ttl: timedelta,
    refresh: timedelta,
) -> HunterAction:
    """fresh: reuse the list; stale: no query allowed yet, reuse the last good list; query: ask.

    The list is reused as is while younger than `cache_ttl`; the model is asked at most once
    per `refresh` (a failed attempt counts), and in between the last good list stands.
    """
    if entry is None:
        return "query"
    if entry.get("payload") is not None and is_fresh(as_of, entry.get("ok_as_of"), cache_ttl):
        return "fresh"
    if is_fresh(as_of, entry.get("attempt_as_of"), refresh):
        return "stale"
    return "query"


class AnswerCache:
    """A small JSON-value cache in `<state_dir>/cache/llm` (created on first use)."""

    def __init__(self, state_dir: Path) -> None:
        self.directory = Path(state_dir).joinpath(*CACHE_DIR)
        self._cache: diskcache.Cache | None = None
        self._lock = threading.Lock()

    def _open(self) -> diskcache.Cache:
        with self._lock:
            if self._cache is None:
                self._cache = diskcache.Cache(str(self.directory), size_limit=SIZE_LIMIT)
            return self._cache

    def get(self, key: str) -> dict[str, Any] | None:
        value = self._open().get(key)
        return value if isinstance(value, dict) else None

    def set(self, key: str, value: dict[str, Any]) -> None:
        self._open().set(key, value)

    def clear(self) -> None:
        self._open().clear()

    def close(self) -> None:
        with self._lock:
            if self._cache is not None:
                self._cache.close()
                self._cache = None
