"""News Analyst settings: decay, window, regimes and their multipliers, veto and driver."""

from pydantic import Field, model_validator

from sextant.config.base import Section


class RegimeMultipliers(Section):
    leverage: float = Field(gt=0, le=1, description="Multiplies the leverage.")
    stop: float = Field(ge=1, le=5, description="Multiplies the stop distance (after bounds).")


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
    panic: RegimeMultipliers = RegimeMultipliers(leverage=0.5, stop=1.5)
    digesting: RegimeMultipliers = RegimeMultipliers(leverage=0.8, stop=1.2)
    critical_fresh_hours: float = Field(
        24, gt=0, description="Critical news younger than this can veto or drive a trade."
    )
    driver_weight: float = Field(
        0.20, ge=0.15, le=0.20, description="News weight when fresh critical news drives a trade."
    )
    cache_ttl_s: float = Field(3600, ge=0, description="Per-symbol news cache lifetime.")

    @model_validator(mode="after")
    def _check(self) -> "NewsSettings":
        if self.digesting_volatility_ratio >= self.panic_volatility_ratio:
            raise ValueError("digesting_volatility_ratio must be < panic_volatility_ratio")
        return self
