"""Telegram broadcaster settings: where posts go, how often, how hard we may push, who may ask.

The bot token and the chat id are secrets read from TELEGRAM_BOT_TOKEN / TELEGRAM_CHAT_ID (root
settings); everything else is here, under SEXTANT_TELEGRAM__*.
"""

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from sextant.config.base import Section

DEFAULT_DISCLAIMER = (
    "Not financial advice. Automated signals from an experimental system; "
    "leveraged futures can lose more than you expect."
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class TelegramSettings(Section):
    base_url: str | None = Field(
        None,
        description="Bot API server, e.g. a self-hosted one: http://host:8081 (the '/bot' path "
        "the API uses is added when missing). Empty = https://api.telegram.org.",
    )
    message_thread_id: int | None = Field(
        None, gt=0, description="Forum topic of the chat to post in (supergroups with topics)."
    )
    disclaimer: str = Field(
        DEFAULT_DISCLAIMER, min_length=1, max_length=300, description="Ends every post."
    )
    dedup_cooldown_hours: float = Field(
        12,
        ge=0,
        le=24 * 7,
        description="The same symbol and direction is announced once within this window "
        "(unless the earlier trade has closed).",
    )
    stats_hour_utc: int = Field(
        0, ge=0, le=23, description="Daily stats post at this UTC hour (covers the 24 h before)."
    )
    weekly_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = Field(
        "mon", description="Weekly stats post on this day at stats_hour_utc (covers 7 days)."
    )
    pulse_every_hours: int = Field(
        4, ge=0, le=24, description="Market Pulse every N hours, aligned to UTC midnight; 0 = off."
    )
    pulse_top_movers: int = Field(3, ge=1, le=10, description="Top movers listed in the Pulse.")
    pulse_max_waits: int = Field(8, ge=0, le=30, description="WAIT symbols listed in the Pulse.")
    rate_limit_per_minute: int = Field(
        20, ge=1, le=60, description="Messages per minute to the chat (Telegram: ~20 per group)."
    )
    min_interval_s: float = Field(
        1.0, ge=0, le=60, description="At least this long between two messages to the chat."
    )
    max_attempts: int = Field(
        8, ge=1, le=100, description="Tries per post on errors (429 waits are not counted)."
    )
    backoff_initial_s: float = Field(5.0, gt=0, le=600, description="First retry delay; doubles.")
    backoff_max_s: float = Field(600.0, gt=0, le=86400, description="Longest retry delay.")
    max_post_age_hours: float = Field(
        6, gt=0, le=72, description="An unsent post older than this is dropped (a stale signal)."
    )
    on_uncertain: Literal["hold", "resend_marked"] = Field(
        "hold",
        description="A send that timed out after the request was written may have been "
        "delivered: hold = never resend it (default); resend_marked = resend once, marked.",
    )
    request_timeout_s: float = Field(10.0, gt=0, le=120, description="Read timeout per request.")
    upload_timeout_s: float = Field(30.0, gt=0, le=300, description="Write timeout for charts.")
    flush_budget_s: float = Field(
        300.0, gt=0, description="How long one background flush may wait (rate limit, retries)."
    )
    drain_timeout_s: float = Field(
        10.0, ge=0, le=300, description="On shutdown, time left to send what is queued."
    )
    chart_timeframe: Literal["1h", "4h", "1d"] = Field(
        "1h", description="Candles of the entry chart (the cycle's signal timeframe)."
    )
    chart_bars: int = Field(96, ge=20, le=500, description="Candles shown in the entry chart.")
    # NoDecode: the environment gives '1,2', not JSON; the validator splits it.
    allowed_user_ids: Annotated[tuple[int, ...], NoDecode] = Field(
        (),
        description="Telegram user ids allowed to use /status /positions /stats /pulse "
        "(comma-separated). Anyone else gets no answer and is logged.",
    )
    poll_timeout_s: float = Field(
        30.0, gt=0, le=120, description="Long-polling timeout of the command listener."
    )

    @field_validator("allowed_user_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return (value,)
        if isinstance(value, str):
            parts = [v.strip() for v in value.strip().strip("[]()").split(",") if v.strip()]
            bad = [p for p in parts if not p.lstrip("-").isdigit()]
            if bad:
                raise ValueError(f"user ids are integers, comma-separated; got {bad[0]!r}")
            return tuple(int(p) for p in parts)
        return value

    @field_validator("base_url", mode="before")
    @classmethod
    def _blank_url(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def api_base_url(self) -> str:
        """The base URL python-telegram-bot expects: '<server>/bot' (the token is appended)."""
        base = (self.base_url or "https://api.telegram.org").rstrip("/")
        return base if base.endswith("/bot") else f"{base}/bot"

    @property
    def api_file_url(self) -> str:
        return self.api_base_url.removesuffix("/bot") + "/file/bot"

    @property
    def weekly_weekday(self) -> int:
        return WEEKDAYS.index(self.weekly_day)
