"""LLM settings: OpenRouter access, models per agent, cost control, the Hunter's cache cadence.

The key itself is `OPENROUTER_API_KEY` on the root settings (a secret, never printed). Without it
the Coin Hunter and the News Analyst run their offline fallbacks and none of this is used.
"""

from typing import Self

from pydantic import Field, model_validator

from sextant.config.base import Section

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
DEFAULT_MODEL = "perplexity/sonar"


class ModelPrice(Section):
    """What a model costs, used when the server does not report a call's cost itself."""

    input_per_m: float = Field(ge=0, description="USD per 1M prompt (input) tokens.")
    output_per_m: float = Field(ge=0, description="USD per 1M completion (output) tokens.")
    request_usd: float = Field(
        0.0, ge=0, description="USD per request on top of tokens (e.g. a web-search fee)."
    )

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (
            tokens_in * self.input_per_m / 1e6
            + tokens_out * self.output_per_m / 1e6
            + self.request_usd
        )


def _default_prices() -> dict[str, ModelPrice]:
    # OpenRouter's list price for Perplexity Sonar: $1/M in, $1/M out, $5 per 1000 searches.
    return {DEFAULT_MODEL: ModelPrice(input_per_m=1.0, output_per_m=1.0, request_usd=0.005)}


class LLMSettings(Section):
    enabled: bool = Field(
        True, description="Use the LLM agents when OPENROUTER_API_KEY is set (false = offline)."
    )
    base_url: str = Field(
        OPENROUTER_BASE_URL,
        min_length=1,
        description="OpenAI-compatible API base URL (OpenRouter; a proxy or a local test server).",
    )
    hunter_model: str = Field(DEFAULT_MODEL, min_length=1, description="Coin Hunter's model.")
    news_model: str = Field(DEFAULT_MODEL, min_length=1, description="News Analyst's model.")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature.")
    timeout_s: float = Field(60.0, gt=0, le=600, description="Per-request timeout, seconds.")
    max_retries: int = Field(
        2, ge=0, le=10, description="Client retries on timeouts, 429 and 5xx (with backoff)."
    )
    max_concurrency: int = Field(4, ge=1, le=64, description="LLM requests in flight at most.")
    # Deadlines per stage, across retries and the repair request: a hung model must not hold
    # the cycle for timeout_s x (max_retries + 1) x ceil(symbols / max_concurrency).
    hunter_deadline_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="The Coin Hunter's stage deadline (s): without a usable answer by then the "
        "query is cancelled and the last good list (or the watchlist) stands "
        "(llm_deadline_exceeded).",
    )
    news_deadline_s: float = Field(
        90.0,
        gt=0,
        le=3600,
        description="The News Analyst's stage deadline (s), one for all its symbols, counted from "
        "the fan-out: requests still waiting or in flight then are cancelled and those symbols go "
        "on with news unavailable (llm_deadline_exceeded); answers given by then are kept.",
    )
    tool_calling: bool = Field(
        False,
        description="Offer the answer schema as a function tool (only for models that support "
        "tools; Perplexity Sonar does not). Tool-call answers are parsed either way.",
    )
    daily_budget_usd: float = Field(
        1.0,
        ge=0,
        description="Spend per UTC day (all agents, all runs). Once spent, the LLM nodes run "
        "their offline fallbacks with a reason. 0 disables the calls.",
    )
    prices: dict[str, ModelPrice] = Field(
        default_factory=_default_prices,
        description="Model id -> price, used when the server reports no cost for a call.",
    )
    default_price: ModelPrice = Field(
        ModelPrice(input_per_m=5.0, output_per_m=15.0, request_usd=0.005),
        description="Price of a model missing from `prices` (deliberately on the high side).",
    )
    hunter_cache_ttl_h: float = Field(
        4.0,
        gt=0,
        le=24 * 7,
        description="A Hunter list younger than this (by the cycle's as_of) is reused as is.",
    )
    hunter_refresh_h: float = Field(
        12.0,
        gt=0,
        le=24 * 7,
        description="The Hunter's model is asked at most once per this interval (failed "
        "attempts count); in between, the last good list is reused and marked stale.",
    )
    hunter_max_symbols: int = Field(
        5, ge=0, le=50, description="Symbols the Hunter may add beyond the watchlist."
    )
    max_answer_chars: int = Field(
        20_000,
        ge=1000,
        le=1_000_000,
        description="Longer answers are refused before parsing (then repaired once).",
    )
    tape_live_tolerance_h: float = Field(
        2.0,
        ge=0,
        le=48,
        description="A taped answer counts as point-in-time (replayable by a backtest) when it "
        "was given at most this long after its as_of.",
    )
    app_url: str | None = Field(
        None, description="OpenRouter attribution: sent as HTTP-Referer when set."
    )
    app_title: str | None = Field(
        "Sextant", description="OpenRouter attribution: sent as X-Title when set."
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.hunter_cache_ttl_h > self.hunter_refresh_h:
            raise ValueError("hunter_cache_ttl_h must be <= hunter_refresh_h")
        return self

    def price_of(self, model: str) -> ModelPrice:
        return self.prices.get(model, self.default_price)

    def attribution_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.app_url:
            headers["HTTP-Referer"] = self.app_url
        if self.app_title:
            headers["X-Title"] = self.app_title
        return headers
