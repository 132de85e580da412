"""News scoring, pure: dated events in, a score in [-1, 1], a regime and veto/driver flags out."""

from sextant.news.scoring import (
    IMPACT_MAX,
    IMPACT_MIN,
    NEWS_EVENT_DUPLICATE,
    CandidateEvent,
    assess_news,
    check_events,
    clean_text,
    decay_factor,
    news_regime,
    story_key,
)

__all__ = [
    "IMPACT_MAX",
    "IMPACT_MIN",
    "NEWS_EVENT_DUPLICATE",
    "CandidateEvent",
    "assess_news",
    "check_events",
    "clean_text",
    "decay_factor",
    "news_regime",
    "story_key",
]
