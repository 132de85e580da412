"""News in a backtest: replayed from the LLM tape where it has answers, else unavailable.

A live model asked about the past may already know what happened next, so the backtester never
calls one unless told to (`--llm live`, with a warning). For each symbol and hour the tape is
read like the live cycle reads its cache: the last point-in-time News Analyst answer given at or
before the hour and at most `news.cache_ttl_s` old, scored in code at that hour with the
market's volatility (`sextant.news.assess_news`, as `agents.news_analyst` does). Without an
answer the News Analyst's offline answer stands: news unavailable, its weight redistributed by
the Risk Manager, and the report says so.
"""

import logging
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sextant.config import Settings
from sextant.models import NewsAssessment, Reason
from sextant.reasons import Code
from tools.db import DB_FILE

log = logging.getLogger(__name__)

NO_TAPE = "no LLM tape answer for this hour: news unavailable (its weight went to the others)"


def unavailable(symbol: str, why: str = NO_TAPE) -> NewsAssessment:
    """The News Analyst's offline answer for one symbol."""
    return NewsAssessment(
        symbol=symbol,
        available=False,
        reasons=[Reason(code=Code.NEWS_UNAVAILABLE, message=why)],
        source="offline",
    )


class NewsSource(Protocol):
    name: str  # "unavailable" | "tape" | "live"
    description: str

    def has_answer(self, symbol: str, as_of: datetime) -> bool: ...

    def answer(
        self, symbol: str, as_of: datetime, volatility_ratio: float | None
    ) -> NewsAssessment | None:
        """The News Analyst's assessment of `symbol` for the cycle at `as_of`, if recorded."""
        ...


@dataclass
class NoNews:
    """No tape (or `--llm off`): news is unavailable for every hour."""

    description: str = "news unavailable: no LLM tape"
    name: str = "unavailable"

    def has_answer(self, symbol: str, as_of: datetime) -> bool:
        return False

    def answer(
        self, symbol: str, as_of: datetime, volatility_ratio: float | None
    ) -> NewsAssessment | None:
        return None


@dataclass
class TapeNews:
    """Recorded answers per symbol: (as_of, parsed payload), oldest first."""

    answers: dict[str, list[tuple[datetime, Any]]]
    settings: Settings
    description: str = "news replayed from the LLM tape where it has answers"
    name: str = "tape"
    _times: dict[str, list[datetime]] = field(default_factory=dict, init=False)
    _memo: dict[tuple[str, datetime], NewsAssessment | None] = field(
        default_factory=dict, init=False
    )

    def __post_init__(self) -> None:
        for symbol, items in self.answers.items():
            items.sort(key=lambda item: item[0])
            self._times[symbol] = [t for t, _ in items]

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.news.cache_ttl_s)

    def _index(self, symbol: str, as_of: datetime) -> int:
        times = self._times.get(symbol)
        if not times:
            return -1
        i = bisect_right(times, as_of) - 1
        return i if i >= 0 and as_of - times[i] <= self.ttl else -1

    def has_answer(self, symbol: str, as_of: datetime) -> bool:
        return self._index(symbol, as_of) >= 0

    def answer(
        self, symbol: str, as_of: datetime, volatility_ratio: float | None
    ) -> NewsAssessment | None:
        key = (symbol, as_of)
        if key in self._memo:
            return self._memo[key]
        i = self._index(symbol, as_of)
        result = None
        if i >= 0:
            from sextant.news import assess_news
            from tools.llm.schemas import NewsAnswer, news_candidates

            given_at, payload = self.answers[symbol][i]
            events, key_events, dropped = news_candidates(NewsAnswer.model_validate(payload))
            result = assess_news(
                symbol,
                events,
                as_of=as_of,
                volatility_ratio=volatility_ratio,
                settings=self.settings.news,
                key_events=key_events,
                reasons=[
                    Reason(
                        code=Code.LLM_CACHED,
                        message=f"news answer from {given_at:%F %H:%M}Z replayed from the tape",
                    ),
                    *dropped,
                ],
                source="tape",
                cached=True,
            )
        self._memo[key] = result
        return result


def tape_news(
    settings: Settings, symbols: Iterable[str], start: datetime, end: datetime
) -> "TapeNews | NoNews":
    """News from the LLM tape under SEXTANT_STATE_DIR, or NoNews saying why there is none.

    Only answers recorded by live cycles at their own time (point in time) and dated no later
    than `end` are used; a tape is never created by a backtest.
    """
    if not (settings.state_dir / DB_FILE).is_file():
        return NoNews("news unavailable: no LLM tape in the state directory")
    try:
        from tools.llm.tape import Tape
    except ImportError:
        return NoNews("news unavailable: this build has no LLM tape reader (tools.llm.tape)")
    tape = Tape(settings.state_dir)
    answers: dict[str, list[tuple[datetime, Any]]] = {}
    oldest = start - timedelta(seconds=settings.news.cache_ttl_s)
    try:
        for symbol in symbols:
            for e in tape.entries("news", symbol=symbol, limit=10**9):
                if e.point_in_time and e.parsed is not None and oldest <= e.as_of <= end:
                    answers.setdefault(symbol, []).append((e.as_of, e.parsed))
    except Exception as exc:  # a broken tape must not stop a backtest: say so, go on without
        log.warning("LLM tape unreadable: %s", exc)
        return NoNews(f"news unavailable: the LLM tape could not be read ({exc})")
    finally:
        tape.close()
    if not answers:
        return NoNews("news unavailable: the LLM tape has no point-in-time answers for this span")
    return TapeNews(answers, settings)


class LiveNews:
    """`--llm live`: the News Analyst (`agents.news_analyst.analyse_news`) asked now about past
    hours. The model may know what happened after them: look-ahead the rest of the backtest
    does not have. Asked only for the symbol-hours the Risk Manager evaluates (never to find
    candidates, never for open positions), without the answer cache, within the LLM daily
    budget (past it, the News Analyst's fallback: news unavailable)."""

    name = "live"

    def __init__(self, settings: Settings) -> None:
        import asyncio
        from types import SimpleNamespace

        from sextant.clock import SystemClock
        from tools.llm.prompts import NEWS, load_prompt
        from tools.llm.service import LLMService

        self.settings = settings
        self._loop = asyncio.new_event_loop()
        self._llm = LLMService(settings, SystemClock())  # the budget day is the real one
        self._services = SimpleNamespace(settings=settings, llm=self._llm)
        self._prompt = load_prompt(NEWS)
        self._memo: dict[tuple[str, datetime], NewsAssessment] = {}
        self.answered = 0

    @property
    def description(self) -> str:
        return (
            f"news from a live model asked about past hours ({self.answered} symbol-hours "
            "answered): it may know what happened next, so this run has look-ahead"
        )

    def has_answer(self, symbol: str, as_of: datetime) -> bool:
        return False

    def answer(
        self, symbol: str, as_of: datetime, volatility_ratio: float | None
    ) -> NewsAssessment | None:
        key = (symbol, as_of)
        if key not in self._memo:
            from agents.news_analyst import analyse_news

            result = self._loop.run_until_complete(
                analyse_news(
                    self._services,
                    symbol=symbol,
                    as_of=as_of,
                    volatility_ratio=volatility_ratio,
                    prompt=self._prompt,
                    use_cache=False,
                    origin="prompt_run",
                )
            )
            self._memo[key] = result.assessment
            self.answered += int(result.assessment.available)
        return self._memo[key]

    def close(self) -> None:
        self._loop.run_until_complete(self._llm.aclose())
        self._loop.close()
