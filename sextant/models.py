"""The domain vocabulary: candles, market snapshots, news, scores, signals, positions, orders.

Prices and quantities that leave the system are Decimal, rounded to the market's precision.
Analysis numbers (scores, indicator values) are floats.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal, overload

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    field_serializer,
    field_validator,
    model_validator,
)

from sextant.math_engine.models import MathAnalysis

Timeframe = Literal["1h", "4h", "1d"]
TIMEFRAMES: tuple[Timeframe, ...] = ("1h", "4h", "1d")
TIMEFRAME_DELTA: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
}
Decision = Literal["LONG", "SHORT", "WAIT"]
Side = Literal["long", "short"]
NewsRegime = Literal["NORMAL", "DIGESTING", "PANIC"]
COMPONENT_NAMES = ("trend", "momentum", "volume", "open_interest", "news")
OHLCV_COLUMNS = ["open", "high", "low", "close", "volume"]

# Decimals go out as JSON numbers: they are already rounded to the market's precision.
Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


@overload
def iso_z(ts: datetime) -> str: ...
@overload
def iso_z(ts: None) -> None: ...
def iso_z(ts: datetime | None) -> str | None:
    """ISO 8601 with a "Z" for UTC: how every document Sextant prints writes a time."""
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


def utc(ts: datetime) -> datetime:
    """Refuse naive datetimes: every time in Sextant is UTC and says so."""
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts!r}: times must be timezone-aware UTC")
    return ts.astimezone(UTC)


def parse_utc(value: datetime | str) -> datetime:
    """ISO 8601 text (or a datetime) as an aware UTC datetime; without an offset it is UTC.
    The one parser of times that come from outside (arguments, Studio input, tool calls)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def cycle_id_for(as_of: datetime) -> str:
    """The analysis cycle of an hour (also the checkpointer's thread id)."""
    return f"c-{as_of:%Y%m%dT%H%MZ}"


class Reason(Frozen):
    """A machine-readable why: a stable code, a sentence for humans, and the numbers behind it."""

    code: str
    message: str
    kind: Literal["veto", "wait", "info", "driver", "skip"] = "info"
    data: dict[str, Any] = Field(default_factory=dict)


class CandleFrame(BaseModel):
    """Closed OHLCV bars of one symbol and timeframe; index = bar open time (UTC)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    symbol: str
    timeframe: Timeframe
    df: pd.DataFrame

    @field_validator("df", mode="before")
    @classmethod
    def _coerce(cls, value: Any) -> pd.DataFrame:
        if isinstance(value, dict) and "t" in value:  # serialised form, see _dump
            idx = pd.to_datetime(np.asarray(value["t"], dtype="int64"), unit="ms", utc=True)
            return pd.DataFrame({c: value[c] for c in OHLCV_COLUMNS}, index=idx, dtype="float64")
        return value

    @field_validator("df")
    @classmethod
    def _check(cls, df: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in OHLCV_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"candle frame lacks columns {missing}")
        if not isinstance(df.index, pd.DatetimeIndex) or df.index.tz is None:
            raise ValueError("candle frame index must be a tz-aware DatetimeIndex (UTC)")
        if not df.index.is_monotonic_increasing or df.index.has_duplicates:
            raise ValueError("candle frame index must be strictly increasing")
        if df[OHLCV_COLUMNS].isna().to_numpy().any():
            raise ValueError("candle frame contains NaN")
        return df

    @field_serializer("df")
    def _dump(self, df: pd.DataFrame) -> dict[str, list[float] | list[int]]:
        out: dict[str, list[float] | list[int]] = {"t": (df.index.asi8 // 1_000_000).tolist()}
        for c in OHLCV_COLUMNS:
            out[c] = df[c].astype("float64").tolist()
        return out

    @property
    def last_close_time(self) -> datetime | None:
        if self.df.empty:
            return None
        return (self.df.index[-1] + TIMEFRAME_DELTA[self.timeframe]).to_pydatetime()

    def __len__(self) -> int:
        return len(self.df)


class MarketInfo(Frozen):
    """Exchange rules of one market: precision, limits, leverage."""

    symbol: str
    exchange_id: str = ""
    amount_step: Decimal = Field(gt=0)
    price_tick: Decimal = Field(gt=0)
    min_amount: Decimal = Field(ge=0)
    min_notional: Decimal = Field(Decimal("0"), ge=0)
    max_leverage: int = Field(ge=1)
    contract_size: Decimal = Decimal("1")
    assumed: bool = False

    def round_amount(self, amount: Decimal) -> Decimal:
        """Round a quantity DOWN to the step: never risk more than asked."""
        steps = (amount / self.amount_step).to_integral_value(rounding=ROUND_DOWN)
        return (steps * self.amount_step).normalize() if steps > 0 else Decimal("0")

    def round_price(self, price: Decimal | float) -> Decimal:
        p = Decimal(str(price))
        ticks = (p / self.price_tick).to_integral_value(rounding=ROUND_HALF_UP)
        return (ticks * self.price_tick).quantize(self.price_tick)


# Exchange numbers must be real numbers: an "Infinity" or "NaN" from an API is bad data.
Finite = Annotated[float, Field(allow_inf_nan=False)]


class Ticker(Frozen):
    bid: Finite = Field(gt=0)
    ask: Finite = Field(gt=0)
    last: Finite = Field(gt=0)
    quote_volume_24h: Finite = Field(ge=0)
    assumed_fields: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Ticker:
        if self.ask < self.bid:
            raise ValueError(f"crossed book: bid {self.bid} > ask {self.ask}")
        return self

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2

    @property
    def spread_pct(self) -> float:
        return (self.ask - self.bid) / self.mid * 100


class FundingInfo(Frozen):
    """Funding per 8h interval as a fraction (0.0001 = 0.01 %)."""

    rate: Finite = Field(ge=-1, le=1)
    interval_hours: Finite = Field(8, gt=0, le=24)
    next_time: datetime | None = None
    history: list[tuple[datetime, Finite]] = Field(default_factory=list)
    assumed: bool = False

    @property
    def rate_pct_8h(self) -> float:
        return self.rate * 100 * 8 / self.interval_hours


class OpenInterestHistory(Frozen):
    """Open interest, oldest first: in base-coin units (Bybit) or USD notional (Binance data)."""

    points: list[tuple[datetime, float]]
    interval: str
    unit: Literal["base", "usd"] = "usd"

    def to_series(self) -> pd.Series:
        if not self.points:
            return pd.Series(dtype="float64")
        idx = pd.DatetimeIndex([p[0] for p in self.points]).tz_convert("UTC")
        return pd.Series([p[1] for p in self.points], index=idx, dtype="float64")


class MarketSnapshot(BaseModel):
    """Everything known about one symbol at `as_of`, and nothing after it."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    symbol: str
    as_of: datetime
    source: Literal["replay", "bybit"]
    market: MarketInfo
    candles: dict[Timeframe, CandleFrame]
    ticker: Ticker
    funding: FundingInfo | None = None
    open_interest: OpenInterestHistory | None = None
    assumptions: list[str] = Field(default_factory=list)

    @field_validator("as_of")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)

    def frames(self) -> dict[str, pd.DataFrame]:
        return {tf: cf.df for tf, cf in self.candles.items()}


class UniverseEntry(Frozen):
    symbol: str
    source: Literal["watchlist", "hunter", "position", "reference"]
    eligible: bool
    reasons: list[Reason] = Field(default_factory=list)
    quote_volume_24h: float | None = None
    spread_pct: float | None = None
    # An open position on this symbol: its news is read and its exits run even while it is
    # ineligible (no new entry then).
    held: bool = False


class SymbolError(Frozen):
    symbol: str | None
    stage: str
    error: str


class NewsEvent(Frozen):
    title: str
    published_at: datetime
    impact: float = Field(ge=-2, le=2)
    category: str = "other"
    critical: bool = False
    source: str = ""
    decayed_impact: float | None = None
    age_hours: float | None = None


class KeyEvent(Frozen):
    """A notable or scheduled event (unlock, upgrade, ETF decision): information, never scored."""

    title: str
    date: datetime | None = None


class NewsAssessment(Frozen):
    """What the news says about one symbol; the score is computed in code, not by a model."""

    symbol: str
    available: bool
    score: float | None = Field(None, ge=-1, le=1)
    regime: NewsRegime = "NORMAL"
    events: list[NewsEvent] = Field(default_factory=list)
    key_events: list[KeyEvent] = Field(default_factory=list)
    veto_long: bool = False
    veto_short: bool = False
    driver: Side | None = None
    close_longs: bool = False
    close_shorts: bool = False
    reasons: list[Reason] = Field(default_factory=list)
    source: str = "offline"
    # Provenance (LLM answers): when, from what, and the numbers the regime was decided on.
    as_of: datetime | None = None
    raw_score: float | None = None  # decayed impact sum before scaling and clamping
    volatility_ratio: float | None = None
    model: str | None = None
    prompt_hash: str | None = None
    cached: bool = False

    @field_validator("key_events", mode="before")
    @classmethod
    def _key_event_titles(cls, value: Any) -> Any:
        # Plain strings (the first version of this field) are titles without a date.
        if isinstance(value, list):
            return [{"title": v} if isinstance(v, str) else v for v in value]
        return value


class NewsClose(Frozen):
    """A news-panic exit of one open position that a cycle took or skipped, and why
    (`sextant.news.panic`: capped unless the market confirms the news)."""

    position_id: str
    symbol: str
    side: Side
    action: Literal["close", "skip"]
    confirmed: bool  # the market confirms: the coin is in the PANIC regime
    reasons: list[Reason] = Field(default_factory=list)


class Signal(Frozen):
    """The Risk Manager's decision for one symbol at one time."""

    signal_id: str
    symbol: str
    as_of: datetime
    decision: Decision
    score: float = Field(ge=-1, le=1)
    raw_score: float = Field(ge=-1, le=1)
    confidence: float = Field(ge=0, le=1)
    regime: str
    news_regime: NewsRegime
    components: dict[str, float | None]
    weights: dict[str, float]
    timeframes: dict[str, float | None]
    reasons: list[Reason]
    entry: Money | None = None
    stop_loss: Money | None = None
    take_profit_1: Money | None = None
    take_profit_2: Money | None = None
    leverage: int | None = None
    risk_pct: Money | None = None
    quantity: Money | None = None
    stop_distance_pct: float | None = None
    # The 30-day daily ATR at the signal, in price units (ATR-unit breakeven and trailing
    # distances, book volatility targeting); None on a WAIT.
    atr: Money | None = None

    @model_validator(mode="after")
    def _check(self) -> Signal:
        priced = [
            self.entry,
            self.stop_loss,
            self.take_profit_1,
            self.take_profit_2,
            self.leverage,
            self.quantity,
        ]
        if self.decision == "WAIT":
            if any(v is not None for v in priced):
                raise ValueError("a WAIT signal carries no prices")
            if not any(r.kind in ("wait", "veto", "skip") for r in self.reasons):
                raise ValueError("every WAIT needs at least one wait/veto reason")
        elif any(v is None for v in priced):
            raise ValueError(f"a {self.decision} signal needs entry, stop, targets, size, leverage")
        return self

    @property
    def side(self) -> Side | None:
        return {"LONG": "long", "SHORT": "short"}.get(self.decision)  # type: ignore[return-value]


class PortfolioState(Frozen):
    """What the Risk Manager needs to know about the account, at `as_of`."""

    equity: Money
    day_start_equity: Money
    day_pnl: Money = Decimal("0")
    margin_used: Money = Decimal("0")
    open_daily_vol: Money = Decimal("0")  # sum of the open positions' `daily_vol`
    open_symbols: tuple[str, ...] = ()
    open_sides: dict[str, Side] = Field(default_factory=dict)  # symbol -> its position's side
    circuit_breaker_until: datetime | None = None

    @classmethod
    def flat(cls, equity: Decimal) -> PortfolioState:
        """No account connected (Studio, `--no-trade`): nothing open at the paper equity."""
        return cls(equity=equity, day_start_equity=equity)

    @property
    def day_pnl_pct(self) -> float:
        if self.day_start_equity <= 0:
            return 0.0
        return float(self.day_pnl / self.day_start_equity * 100)


class ExecutionIntent(Frozen):
    """What execution did (or, in dry-run without a broker, would do) with a signal."""

    signal_id: str
    symbol: str
    side: Side
    quantity: Money
    entry: Money
    stop_loss: Money
    take_profit_1: Money
    take_profit_2: Money
    leverage: int
    mode: str
    status: Literal["recorded", "submitted", "filled", "rejected", "skipped"]
    reasons: list[Reason] = Field(default_factory=list)


__all__ = [
    "COMPONENT_NAMES",
    "TIMEFRAMES",
    "TIMEFRAME_DELTA",
    "CandleFrame",
    "Decision",
    "ExecutionIntent",
    "FundingInfo",
    "KeyEvent",
    "MarketInfo",
    "MarketSnapshot",
    "MathAnalysis",
    "Money",
    "NewsAssessment",
    "NewsClose",
    "NewsEvent",
    "NewsRegime",
    "OpenInterestHistory",
    "PortfolioState",
    "Reason",
    "Side",
    "Signal",
    "SymbolError",
    "Ticker",
    "Timeframe",
    "UniverseEntry",
    "utc",
]
