"""Eligibility filters of the Data Collector: liquidity, spread, freshness. Pure."""

from datetime import datetime, timedelta

from sextant.config import Settings
from sextant.models import MarketSnapshot, Reason
from sextant.reasons import Code


def eligibility_reasons(snap: MarketSnapshot, as_of: datetime, settings: Settings) -> list[Reason]:
    """Why this symbol may not be traded now; empty means eligible."""
    reasons: list[Reason] = []
    f = settings.filters
    qv = snap.ticker.quote_volume_24h
    if qv < f.min_quote_volume_24h:
        reasons.append(
            Reason(
                code=Code.LOW_VOLUME,
                kind="skip",
                message=f"24h volume ${qv:,.0f} < ${f.min_quote_volume_24h:,.0f}",
                data={"quote_volume_24h": qv, "min": f.min_quote_volume_24h},
            )
        )
    spread = snap.ticker.spread_pct
    if spread > f.max_spread_pct:
        reasons.append(
            Reason(
                code=Code.WIDE_SPREAD,
                kind="skip",
                message=f"spread {spread:.3f}% > {f.max_spread_pct}%",
                data={"spread_pct": spread, "max": f.max_spread_pct},
            )
        )
    last_close = snap.candles["1h"].last_close_time
    max_age = timedelta(hours=settings.market.stale_after_hours)
    if last_close is None or as_of - last_close > max_age:
        reasons.append(
            Reason(
                code=Code.STALE_DATA,
                kind="skip",
                message=f"last closed 1h bar at {last_close} is older than {max_age} before as_of",
                data={"last_close": last_close.isoformat() if last_close else None},
            )
        )
    return reasons
