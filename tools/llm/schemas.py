"""What the agents accept from a model: lenient shapes in, strictly checked values out.

Unknown fields are ignored (a model cannot add a "decision" or a "score"), strings are cut short,
and numbers are checked by the pure core (clamped with a reason), never trusted.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sextant.models import KeyEvent, Reason
from sextant.news import CandidateEvent, clean_text
from sextant.reasons import Code

MAX_TICKER_CHARS = 40
MAX_RATIONALE_CHARS = 200
MAX_KEY_EVENTS = 10


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class HuntedTicker(Lenient):
    """One Hunter proposal: a ticker in any spelling, and a one-line rationale."""

    ticker: str = Field(
        validation_alias=AliasChoices("ticker", "symbol", "coin", "name"),
        description="Base coin or symbol, e.g. SOL or SOLUSDT.",
    )
    rationale: str = Field(
        "",
        validation_alias=AliasChoices("rationale", "reason", "why"),
        description="One line: why this coin now.",
    )

    @field_validator("ticker", mode="before")
    @classmethod
    def _ticker(cls, v: Any) -> str:
        s = clean_text(str(v), MAX_TICKER_CHARS)
        if not s:
            raise ValueError("empty ticker")
        return s

    @field_validator("rationale", mode="before")
    @classmethod
    def _rationale(cls, v: Any) -> str:
        return clean_text("" if v is None else str(v), MAX_RATIONALE_CHARS)


class HunterAnswer(Lenient):
    """The Coin Hunter's answer: {"tickers": [{"ticker": "SOL", "rationale": "..."}]}."""

    tickers: list[HuntedTicker] = Field(
        validation_alias=AliasChoices("tickers", "symbols", "coins", "candidates", "picks"),
        description="Promising USDT perpetuals, best first.",
    )

    @model_validator(mode="before")
    @classmethod
    def _shapes(cls, data: Any) -> Any:
        if isinstance(data, list):
            data = {"tickers": data}
        if isinstance(data, dict):
            for key in ("tickers", "symbols", "coins", "candidates", "picks"):
                items = data.get(key)
                if isinstance(items, list):
                    data = {
                        **data,
                        key: [{"ticker": i} if isinstance(i, str) else i for i in items],
                    }
        return data


class NewsEventIn(Lenient):
    """One news event."""

    title: str = Field(validation_alias=AliasChoices("title", "headline"))
    published_at: datetime = Field(
        validation_alias=AliasChoices("published_at", "date", "published", "time", "datetime"),
        description="ISO 8601 UTC time of publication.",
    )
    impact: float = Field(description="Expected price impact from -2 (very bad) to +2.")
    category: str = "other"
    critical: bool = False
    source: str = ""

    @field_validator("published_at", mode="before")
    @classmethod
    def _when(cls, v: Any) -> datetime:
        return parse_when(v)

    @field_validator("category", "source", "title", mode="before")
    @classmethod
    def _text(cls, v: Any) -> str:
        return "" if v is None else str(v)


class NewsAnswer(Lenient):
    """News about one coin: dated events, and notable or scheduled key events."""

    # Events stay plain dicts here and are checked one by one (`news_candidates`): one bad event
    # is dropped with a reason instead of sinking the whole answer. `answer_schema` shows models
    # the typed event.

    events: list[dict[str, Any]] = Field(
        validation_alias=AliasChoices("events", "news", "items"),
        description="News of the window: title, published_at, impact -2..+2, category, "
        "critical, source.",
    )
    key_events: list[Any] = Field(
        default_factory=list, description="Notable or scheduled events: title and date."
    )

    @model_validator(mode="before")
    @classmethod
    def _shapes(cls, data: Any) -> Any:
        if isinstance(data, list):
            return {"events": data}
        return data

    @field_validator("events", mode="before")
    @classmethod
    def _dicts(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [e for e in v if isinstance(e, dict)]
        return v


def answer_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema shown to a model (repair request, tool definition) for an answer type."""
    schema = model.model_json_schema(by_alias=True)
    if model is NewsAnswer:
        schema["properties"]["events"]["items"] = NewsEventIn.model_json_schema(by_alias=True)
        schema["properties"]["key_events"]["items"] = {
            "type": "object",
            "properties": {"title": {"type": "string"}, "date": {"type": "string"}},
            "required": ["title"],
        }
    return schema


def answer_tool(model: type[BaseModel]) -> dict[str, Any]:
    """The answer type as an OpenAI function tool."""
    return {
        "type": "function",
        "function": {
            "name": model.__name__,
            "description": (model.__doc__ or model.__name__).strip().splitlines()[0],
            "parameters": answer_schema(model),
        },
    }


def parse_when(v: Any) -> datetime:
    """ISO 8601 (a trailing Z, a date alone) or epoch seconds; naive times are UTC."""
    if isinstance(v, datetime):
        ts = v
    elif isinstance(v, date):
        ts = datetime(v.year, v.month, v.day)
    elif isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        try:
            ts = datetime.fromtimestamp(float(v), UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"epoch seconds out of range: {v!r}") from None
    elif isinstance(v, str) and v.strip():
        ts = datetime.fromisoformat(v.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    else:
        raise ValueError(f"not a date: {v!r}")
    try:
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+05:00 is in year 0 in UTC: no such datetime
        raise ValueError(f"date out of range in UTC: {v!r}") from None


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError) and exc.errors():
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ())) or "value"
        return f"{loc}: {err.get('msg')}"
    return f"{type(exc).__name__}: {exc}"


def news_candidates(
    answer: NewsAnswer,
) -> tuple[list[CandidateEvent], list[KeyEvent], list[Reason]]:
    """Typed events and key events from an answer; each unusable event becomes a reason."""
    events: list[CandidateEvent] = []
    reasons: list[Reason] = []
    for i, raw in enumerate(answer.events):
        try:
            ev = NewsEventIn.model_validate(raw)
            events.append(
                CandidateEvent(
                    title=ev.title,
                    published_at=ev.published_at,
                    impact=ev.impact,
                    category=ev.category,
                    critical=ev.critical,
                    source=ev.source,
                )
            )
        except Exception as exc:  # whatever is wrong with one event costs that event only
            reasons.append(
                Reason(
                    code=Code.NEWS_EVENT_INVALID,
                    kind="skip",
                    message=clean_text(
                        f"dropped event '{_event_title(raw, i)}': {_first_error(exc)}", 300
                    ),
                    data={"index": i},
                )
            )
    keys: list[KeyEvent] = []
    for item in answer.key_events[:MAX_KEY_EVENTS]:
        try:
            key = _key_event(item)
        except Exception:  # a key event is a nicety: an unusable one is left out
            continue
        if key is not None:
            keys.append(key)
    return events, keys, reasons


def _event_title(raw: Any, index: int) -> str:
    title = (raw.get("title") or raw.get("headline")) if isinstance(raw, dict) else None
    return clean_text(str(title or f"#{index}"), 80)


def _key_event(item: Any) -> KeyEvent | None:
    title: Any = item
    when: datetime | None = None
    if isinstance(item, dict):
        title = item.get("title") or item.get("event") or item.get("name") or ""
        raw_when = item.get("date") or item.get("when") or item.get("published_at")
        try:
            when = parse_when(raw_when) if raw_when else None
        except Exception:
            when = None
    text = clean_text(str(title), 200)
    return KeyEvent(title=text, date=when) if text else None
