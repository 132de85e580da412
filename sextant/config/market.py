"""Market-data settings: which source, where its data lives, and how hard we may hit Bybit."""

from pathlib import Path
from typing import Literal

from pydantic import Field

from sextant.config.base import Section

BUNDLED_DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "bundled"
# The in-sample history (2020-01 .. 2025-05) of BTC, ETH, XRP, ADA and LTC: `--data-dir` it.
HISTORY_DATA_DIR = BUNDLED_DATA_DIR.parent / "history"
REFERENCE_SYMBOL = "BTC/USDT:USDT"


class HistoryBars(Section):
    """How many closed bars of each timeframe a snapshot carries (enough for MA200 on 1d)."""

    h1: int = Field(
        1000, ge=250, le=5000, alias="1h", description="1h bars (30-day ATR needs 720+)."
    )
    h4: int = Field(500, ge=250, le=5000, alias="4h", description="4h bars.")
    d1: int = Field(300, ge=210, le=5000, alias="1d", description="1d bars (MA200 + slope).")

    model_config = Section.model_config | {"populate_by_name": True}

    def for_timeframe(self, timeframe: str) -> int:
        return {"1h": self.h1, "4h": self.h4, "1d": self.d1}[timeframe]


class MarketSettings(Section):
    source: Literal["replay", "bybit"] = Field(
        "replay", description="replay = bundled/CSV data at a point in time; bybit = live REST."
    )
    data_dir: Path = Field(BUNDLED_DATA_DIR, description="Replay data folder (CSV layout).")
    base_url: str | None = Field(
        None, description="Bybit REST base URL override (testnet, proxy, local test server)."
    )
    demo: bool = Field(False, description="Use Bybit's demo-trading host for REST.")
    reference_symbol: str = Field(
        REFERENCE_SYMBOL, description="Collected every cycle for the BTC-dump veto."
    )
    history: HistoryBars = Field(default_factory=HistoryBars)
    assumed_spread_pct: float = Field(
        0.02,
        ge=0,
        le=5,
        description="Replay only: bid/ask spread in percent that the candle data lacks (assumed).",
    )
    stale_after_hours: float = Field(
        3, gt=0, description="A symbol whose last closed 1h bar is older than this is skipped."
    )
    oi_interval: Literal["1h", "4h", "1d"] = Field("1h", description="Open-interest history step.")
    oi_limit: int = Field(200, ge=10, le=200, description="Open-interest points fetched.")
    funding_history_limit: int = Field(200, ge=1, le=200, description="Funding points fetched.")
    # Bybit documents 600 requests per 5 s per IP for all traffic; keep headroom for orders.
    rate_limit_requests: int = Field(
        500, ge=1, le=600, description="Max requests in any rate_limit_window_s window."
    )
    rate_limit_window_s: float = Field(5.0, gt=0, description="Bybit's rate-limit window.")
    max_in_flight: int = Field(16, ge=1, le=100, description="Concurrent requests at most.")
    request_timeout_s: float = Field(10.0, gt=0, le=120, description="Per-request timeout.")
    max_retries: int = Field(3, ge=0, le=10, description="Retries on network errors, 429, 5xx.")
    retry_backoff_s: float = Field(0.5, ge=0, le=30, description="First backoff; doubles.")


class FilterSettings(Section):
    """Eligibility filters applied by the Data Collector before any analysis."""

    min_quote_volume_24h: float = Field(
        10_000_000, ge=0, description="Minimum 24h quote volume in USDT."
    )
    max_spread_pct: float = Field(0.2, gt=0, le=10, description="Maximum bid/ask spread, percent.")
