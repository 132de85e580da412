"""News scoring: the code, not the model, turns dated events into a score, a regime and flags.

Pure: no I/O and no clock. The cycle's `as_of` and the market's volatility ratio come in as
arguments; the same call gives the same answer in a live cycle, a replay and a backtest.

    decayed impact = impact x 0.5 ** (age_hours / half_life_hours)
    score          = clamp(sum(decayed impacts) / score_scale, -1, 1)

Events dated after `as_of` (the future, as seen from the cycle) or older than the window are
dropped with a reason; impacts outside [-2, 2] are clamped with a reason; the same story told
twice (same normalised title, same UTC day) counts once. Critical events younger than
`critical_fresh_hours` with |impact| >= `critical_min_impact`:

* negative (hack, lawsuit, delisting...): veto longs, flag open longs to close, and make news a
  "driver" for shorts;
* positive (ETF approval, major listing...): make news a "driver" for longs, nothing more. Good
  news is where a hallucinated or injected headline would do the most harm (closing shorts means
  real orders), so it can only raise the weight of its own, clamped, score.

The news regime: PANIC when fresh critical negative news meets volatility >= the panic ratio,
DIGESTING when fresh critical news (either sign) meets volatility >= the digesting ratio, else
NORMAL. Volatility comes from market data, never from a model.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sextant.config.news import NewsSettings
from sextant.models import KeyEvent, NewsAssessment, NewsEvent, NewsRegime, Reason, Side, utc
from sextant.reasons import Code

IMPACT_MIN, IMPACT_MAX = -2.0, 2.0
MAX_TITLE_CHARS = 200
MAX_CATEGORY_CHARS = 32
MAX_SOURCE_CHARS = 200
_SPACES = re.compile(r"\s+")
_CATEGORY_CHARS = re.compile(r"[^a-z0-9_\- ]")
_TITLE_KEY = re.compile(r"[\W_]+")
# A reason code of this module (sextant.reasons.Code has the others; Reason.code is a string).
NEWS_EVENT_DUPLICATE = Code.NEWS_EVENT_DUPLICATE


@dataclass(frozen=True)
class CandidateEvent:
    """An event as a model reported it: parsed, typed, not yet checked or clamped."""

    title: str
    published_at: datetime
    impact: float
    category: str = "other"
    critical: bool = False
    source: str = ""


def decay_factor(age_hours: float, half_life_hours: float) -> float:
    """0.5 ** (age / half-life): 1 now, 0.5 after one half-life."""
    return 0.5 ** (max(0.0, age_hours) / half_life_hours)


def _inert(ch: str) -> bool:
    """Kept by `clean_text`: whitespace (collapsed later) and anything not of category C."""
    return ch.isspace() or unicodedata.category(ch)[0] != "C"


def clean_text(text: str, limit: int) -> str:
    """One line, trimmed and cut: model text is data, kept short and inert.

    Lone surrogates (which no UTF-8 output, file or database accepts) and the other characters of
    Unicode category C (control: ESC sequences, NUL; format: bidi overrides, zero-width;
    private-use; unassigned) are dropped; whitespace of any kind collapses to one space.
    """
    s = str(text)
    if not s.isprintable():
        s = "".join(ch for ch in s if _inert(ch))
    return _SPACES.sub(" ", s).strip()[:limit]


def clean_category(text: str) -> str:
    cat = _CATEGORY_CHARS.sub("", clean_text(text, MAX_CATEGORY_CHARS).lower()).strip()
    return cat or "other"


def _short(title: str) -> str:
    return title if len(title) <= 80 else title[:77] + "..."


def story_key(title: str, published: datetime) -> tuple[str, str]:
    """Two events with the same key are one story: case, punctuation and spacing of the title
    do not matter, nor the time within the (UTC) day."""
    return _TITLE_KEY.sub(" ", title.casefold()).strip(), published.date().isoformat()


def news_regime(
    critical_negative: bool,
    critical_any: bool,
    volatility_ratio: float | None,
    settings: NewsSettings,
) -> NewsRegime:
    if volatility_ratio is None or not math.isfinite(volatility_ratio):
        return "NORMAL"
    if critical_negative and volatility_ratio >= settings.panic_volatility_ratio:
        return "PANIC"
    if critical_any and volatility_ratio >= settings.digesting_volatility_ratio:
        return "DIGESTING"
    return "NORMAL"


def check_events(
    events: Sequence[CandidateEvent], as_of: datetime, settings: NewsSettings
) -> tuple[list[NewsEvent], list[Reason]]:
    """Drop future, stale and invalid events; clamp impacts; decay; newest first, capped."""
    as_of = utc(as_of)
    window_h = settings.window_days * 24
    kept: list[NewsEvent] = []
    reasons: list[Reason] = []
    seen: dict[tuple[str, str], str] = {}
    for ev in events:
        title = clean_text(ev.title, MAX_TITLE_CHARS) or "(untitled)"
        try:
            if ev.published_at.tzinfo is None:
                published = ev.published_at.replace(tzinfo=UTC)  # naive: read as UTC
            else:
                published = utc(ev.published_at)
        except (ValueError, OverflowError):  # e.g. year 1 at +05:00: not a time in UTC
            reasons.append(
                Reason(
                    code=Code.NEWS_EVENT_INVALID,
                    kind="skip",
                    message=f"dropped '{_short(title)}': its date is out of range",
                    data={"title": title},
                )
            )
            continue
        age_h = (as_of - published).total_seconds() / 3600
        if age_h < 0:
            reasons.append(
                Reason(
                    code=Code.NEWS_EVENT_FUTURE,
                    kind="skip",
                    message=f"dropped '{_short(title)}': dated {published:%F %H:%M}Z, after "
                    f"as_of {as_of:%F %H:%M}Z",
                    data={"title": title, "published_at": published.isoformat()},
                )
            )
            continue
        if age_h > window_h:
            reasons.append(
                Reason(
                    code=Code.NEWS_EVENT_STALE,
                    kind="skip",
                    message=f"dropped '{_short(title)}': {age_h / 24:.1f} days old "
                    f"(window {settings.window_days:g} days)",
                    data={"title": title, "age_hours": round(age_h, 3)},
                )
            )
            continue
        impact = float(ev.impact)
        if not math.isfinite(impact):
            reasons.append(
                Reason(
                    code=Code.NEWS_EVENT_INVALID,
                    kind="skip",
                    message=f"dropped '{_short(title)}': impact {ev.impact!r} is not a number",
                    data={"title": title},
                )
            )
            continue
        key = story_key(title, published)
        if key in seen:
            reasons.append(
                Reason(
                    code=NEWS_EVENT_DUPLICATE,
                    kind="skip",
                    message=f"dropped '{_short(title)}': the same story as '{_short(seen[key])}' "
                    f"on {published:%F} (counted once)",
                    data={"title": title, "published_at": published.isoformat()},
                )
            )
            continue
        seen[key] = title
        clamped = min(IMPACT_MAX, max(IMPACT_MIN, impact))
        if clamped != impact:
            reasons.append(
                Reason(
                    code=Code.LLM_VALUE_CLAMPED,
                    message=f"impact {impact:g} of '{_short(title)}' clamped to {clamped:g} "
                    f"(allowed {IMPACT_MIN:g}..{IMPACT_MAX:g})",
                    data={"title": title, "given": impact, "clamped": clamped},
                )
            )
        kept.append(
            NewsEvent(
                title=title,
                published_at=published,
                impact=clamped,
                category=clean_category(ev.category),
                critical=bool(ev.critical),
                source=clean_text(ev.source, MAX_SOURCE_CHARS),
                decayed_impact=round(clamped * decay_factor(age_h, settings.half_life_hours), 6),
                age_hours=round(age_h, 3),
            )
        )
    kept.sort(key=lambda e: (e.published_at, e.title), reverse=True)
    if len(kept) > settings.max_events:
        reasons.append(
            Reason(
                code=Code.NEWS_EVENTS_CAPPED,
                kind="skip",
                message=f"kept the newest {settings.max_events} of {len(kept)} events",
                data={"kept": settings.max_events, "given": len(kept)},
            )
        )
        kept = kept[: settings.max_events]
    return kept, reasons


def assess_news(
    symbol: str,
    events: Sequence[CandidateEvent],
    *,
    as_of: datetime,
    volatility_ratio: float | None,
    settings: NewsSettings,
    key_events: Sequence[KeyEvent] = (),
    reasons: Sequence[Reason] = (),
    source: str = "llm",
    model: str | None = None,
    prompt_hash: str | None = None,
    cached: bool = False,
) -> NewsAssessment:
    """The news assessment of one symbol at `as_of`. `reasons` are carried in front (parsing)."""
    as_of = utc(as_of)
    kept, out = check_events(events, as_of, settings)
    out = [*reasons, *out]
    total = sum(e.decayed_impact or 0.0 for e in kept)
    score = max(-1.0, min(1.0, total / settings.score_scale))

    def fresh_critical(e: NewsEvent) -> bool:
        return (
            e.critical
            and (e.age_hours or 0.0) <= settings.critical_fresh_hours
            and abs(e.impact) >= settings.critical_min_impact
        )

    negative = [e for e in kept if fresh_critical(e) and e.impact < 0]
    positive = [e for e in kept if fresh_critical(e) and e.impact > 0]
    vol = (
        volatility_ratio
        if volatility_ratio is not None and math.isfinite(volatility_ratio)
        else None
    )
    regime = news_regime(bool(negative), bool(negative or positive), vol, settings)

    driver: Side | None = None
    if negative and not positive:
        driver = "short"
    elif positive and not negative:
        driver = "long"
    for group, code, effect in (
        (
            negative,
            Code.NEWS_CRITICAL_NEGATIVE,
            "fresh critical negative news vetoes new longs and flags open longs to close",
        ),
        (
            positive,
            Code.NEWS_CRITICAL_POSITIVE,
            "fresh critical positive news can make news a driver for longs (it vetoes nothing "
            "and closes nothing)",
        ),
    ):
        if group:
            titles = [e.title for e in group[:3]]
            out.append(
                Reason(
                    code=code,
                    message=f"{effect}: " + "; ".join(_short(t) for t in titles),
                    data={"events": titles},
                )
            )
    if (negative or positive) and vol is None:
        out.append(
            Reason(
                code=Code.NEWS_REGIME,
                message="critical news but no volatility ratio (too little history): regime "
                "stays NORMAL",
            )
        )
    elif regime != "NORMAL":
        out.append(
            Reason(
                code=Code.NEWS_REGIME,
                message=f"news regime {regime}: critical news with volatility {vol:.2f}x normal",
                data={"volatility_ratio": vol},
            )
        )
    return NewsAssessment(
        symbol=symbol,
        available=True,
        score=round(score, 6),
        regime=regime,
        events=kept,
        key_events=list(key_events),
        veto_long=bool(negative),
        veto_short=False,  # good news never vetoes: see the module docstring
        driver=driver,
        close_longs=bool(negative),
        close_shorts=False,  # nor closes a position
        reasons=out,
        source=source,
        as_of=as_of,
        raw_score=round(total, 6),
        volatility_ratio=None if vol is None else round(vol, 6),
        model=model,
        prompt_hash=prompt_hash,
        cached=cached,
    )
