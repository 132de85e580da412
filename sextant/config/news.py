"""News Analyst settings: decay, window, regimes and their multipliers, veto and driver."""

from pydantic import Field, model_validator

from sextant.config.base import Section


class RegimeMultipliers(Section):
    leverage: float = Field(gt=0, le=1, description="Multiplies the leverage.")
    stop: float = Field(ge=1, le=5, description="Multiplies the stop distance (after bounds).")


class PanicMultipliers(RegimeMultipliers):
    leverage: float = Field(0.5, gt=0, le=1, description="Multiplies the leverage.")
    stop: float = Field(1.5, ge=1, le=5, description="Multiplies the stop distance.")


class DigestingMultipliers(RegimeMultipliers):
    leverage: float = Field(0.8, gt=0, le=1, description="Multiplies the leverage.")
    stop: float = Field(1.2, ge=1, le=5, description="Multiplies the stop distance.")


class NewsSettings(Section):
    window_days: float = Field(7, gt=0, le=30, description="News older than this is dropped.")
    half_life_hours: float = Field(24, gt=0, description="Impact halves every this many hours.")
    score_scale: float = Field(
        4.0, gt=0, description="Decayed impact sum that maps to a news score of +/-1 (clamped)."
    )
    panic_volatility_ratio: float = Field(
        2.5, gt=1, description="PANIC when critical negative news and volatility >= this x normal."
    )
    digesting_volatility_ratio: float = Field(
        1.3, gt=1, description="DIGESTING when volatility >= this x normal."
    )
    panic: PanicMultipliers = Field(default_factory=PanicMultipliers)
    digesting: DigestingMultipliers = Field(default_factory=DigestingMultipliers)
    critical_fresh_hours: float = Field(
        24, gt=0, description="Critical news younger than this can veto or drive a trade."
    )
    driver_weight: float = Field(
        0.20, ge=0.15, le=0.20, description="News weight when fresh critical news drives a trade."
    )
    cache_ttl_s: float = Field(3600, ge=0, description="Per-symbol news cache lifetime.")
    critical_min_impact: float = Field(
        1.0,
        ge=0,
        le=2,
        description="A critical event vetoes or drives only with |impact| at least this.",
    )
    max_events: int = Field(
        30, ge=1, le=200, description="Events kept per symbol (newest first); the rest dropped."
    )
    # One model answer must not flatten the book: see sextant/news/panic.py and the README.
    max_panic_closes_per_cycle: int = Field(
        1,
        ge=0,
        le=100,
        description="News-panic closes a cycle makes on the news alone (the market not "
        "confirming); further flagged positions are kept, with news_panic_capped, their stops "
        "in place. 0: news alone never closes a position.",
    )
    confirmed_closes_uncapped: bool = Field(
        True,
        description="A close the market confirms (the coin in the PANIC regime: critical news "
        "and its own volatility >= panic_volatility_ratio x normal) is not counted against "
        "max_panic_closes_per_cycle; false: the cap holds for every news-panic close.",
    )

    @model_validator(mode="after")
    def _check(self) -> "NewsSettings":
        if self.digesting_volatility_ratio >= self.panic_volatility_ratio:
            raise ValueError("digesting_volatility_ratio must be < panic_volatility_ratio")
        return self
