"""Vetoes: each a small function of data and settings that returns a Reason or None."""

from datetime import datetime

from sextant.config.risk import RiskSettings
from sextant.models import FundingInfo, NewsAssessment, PortfolioState, Reason, Side
from sextant.reasons import Code


def funding_veto(side: Side, funding: FundingInfo | None, s: RiskSettings) -> Reason | None:
    """Paying more than max_funding_rate_pct per 8h to hold the trade is not worth it."""
    if funding is None:
        return None
    rate = funding.rate_pct_8h
    against = rate if side == "long" else -rate  # longs pay positive funding, shorts negative
    if against > s.max_funding_rate_pct:
        return Reason(
            code=Code.FUNDING_AGAINST,
            kind="veto",
            message=f"funding {rate:+.4f}%/8h against a {side} exceeds {s.max_funding_rate_pct}%",
            data={"funding_pct_8h": rate, "limit_pct": s.max_funding_rate_pct},
        )
    return None


def btc_dump_veto(side: Side, btc_change_4h_pct: float | None, s: RiskSettings) -> Reason | None:
    if side != "long" or btc_change_4h_pct is None:
        return None
    if btc_change_4h_pct < -s.btc_drop_pct:
        return Reason(
            code=Code.BTC_DUMP,
            kind="veto",
            message=f"BTC {btc_change_4h_pct:+.2f}% over 4h "
            f"(limit -{s.btc_drop_pct}%) blocks longs",
            data={"btc_change_4h_pct": btc_change_4h_pct, "limit_pct": -s.btc_drop_pct},
        )
    return None


def daily_veto(side: Side, vetoed: str | None, why: str | None) -> Reason | None:
    if vetoed == side:
        return Reason(
            code=Code.DAILY_VETO,
            kind="veto",
            message=why or f"daily timeframe vetoes {side}",
        )
    return None


def news_veto(side: Side, news: NewsAssessment | None) -> Reason | None:
    if news is None:
        return None
    if (side == "long" and news.veto_long) or (side == "short" and news.veto_short):
        # Only the headlines that cut against this side (a long is vetoed by bad news).
        against = (lambda e: e.impact < 0) if side == "long" else (lambda e: e.impact > 0)
        events = [e.title for e in news.events if e.critical and against(e)][:2]
        return Reason(
            code=Code.NEWS_VETO,
            kind="veto",
            message=f"critical news against a {side}: " + "; ".join(events),
            data={"events": events},
        )
    return None


def circuit_breaker_veto(
    portfolio: PortfolioState, as_of: datetime, s: RiskSettings
) -> Reason | None:
    until = portfolio.circuit_breaker_until
    if until is not None and as_of < until:
        return Reason(
            code=Code.CIRCUIT_BREAKER,
            kind="veto",
            message=f"daily loss circuit breaker tripped: no new entries until "
            f"{until:%F %H:%M} UTC",
            data={"until": until.isoformat()},
        )
    pct = portfolio.day_pnl_pct
    if pct <= -s.daily_loss_limit_pct:
        return Reason(
            code=Code.CIRCUIT_BREAKER,
            kind="veto",
            message=f"today's PnL {pct:.2f}% reached the -{s.daily_loss_limit_pct}% limit",
            data={"day_pnl_pct": pct, "limit_pct": -s.daily_loss_limit_pct},
        )
    return None


def max_positions_veto(open_count: int, s: RiskSettings) -> Reason | None:
    """No new position once `open_count` (open or taken this cycle) reaches the maximum."""
    if open_count >= s.max_open_positions:
        return Reason(
            code=Code.MAX_POSITIONS,
            kind="veto",
            message=f"{open_count} positions open or taken this cycle "
            f"(max {s.max_open_positions})",
            data={"open": open_count, "max": s.max_open_positions},
        )
    return None


def position_open_veto(symbol: str, portfolio: PortfolioState) -> Reason | None:
    if symbol in portfolio.open_symbols:
        return Reason(
            code=Code.POSITION_OPEN,
            kind="veto",
            message=f"a {symbol} position is already open",
        )
    return None


def side_veto(side: Side, s: RiskSettings) -> Reason | None:
    """`trade_sides`: a profile may trade one side only."""
    if s.trade_sides in ("both", side):
        return None
    return Reason(
        code=Code.SIDE_DISABLED,
        kind="veto",
        message=f"{side}s are off in this profile (risk.trade_sides = {s.trade_sides})",
        data={"trade_sides": s.trade_sides},
    )


def history_veto(daily_bars: int, need: int | None) -> Reason | None:
    """The history guard: no entry before the daily indicators have their bars (need None =
    the guard is off)."""
    if need is None or daily_bars >= need:
        return None
    return Reason(
        code=Code.HISTORY_GUARD,
        kind="veto",
        message=f"{daily_bars} completed daily bars, the daily indicators need {need}",
        data={"daily_bars": daily_bars, "need": need},
    )
