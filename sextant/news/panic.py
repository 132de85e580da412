"""News-panic exits: which open positions a cycle's news closes. Pure (no I/O, no clock).

One model answer must not be able to flatten the book. A hallucinated or injected "exchange
hacked" story, or one poisoned search result, can come back for every coin in the same hour;
closing everything at market on it pays the spread, the slippage and the fees on the whole book
and throws away every position, while each of those positions already has a stop resting on
the exchange that caps its loss. So the rule splits the flagged positions in two:

* **confirmed by the market**: the coin is in the PANIC news regime, i.e. the critical news
  comes with the coin's *own* volatility at `news.panic_volatility_ratio` (2.5x) normal or more,
  measured from its candles, which no model answer can move. Closed, and not counted against
  the cap (`news.confirmed_closes_uncapped`; false makes the cap hold for these too).
* **on the news alone**: at most `news.max_panic_closes_per_cycle` (1) per cycle. The worst news
  goes first (lowest news score), then the position losing most, then by id, so the choice is
  deterministic. The others stay open, with `news_panic_capped`: their stops stay in place and
  the next cycle (an hour later) looks at the news again.

A genuine event on one coin is exactly one close on the news alone: it goes through at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from sextant.config.news import NewsSettings
from sextant.models import NewsAssessment, NewsClose, Reason
from sextant.positions import Position
from sextant.reasons import Code


def flagged(pos: Position, news: NewsAssessment | None) -> bool:
    """The coin's news asks to close this side (critical negative news closes longs)."""
    if news is None or not pos.is_open:
        return False
    return news.close_longs if pos.side == "long" else news.close_shorts


def pnl_fraction(pos: Position) -> Decimal:
    """Open PnL at the last price as a fraction of the entry notional (< 0: losing)."""
    notional = pos.entry_price * pos.quantity
    return pos.unrealized_pnl() / notional if notional > 0 else Decimal(0)


def _headlines(news: NewsAssessment) -> list[str]:
    return [e.title for e in news.events if e.critical and e.impact < 0][:3]


def _vol(news: NewsAssessment) -> str:
    v = news.volatility_ratio
    return "unknown" if v is None else f"{v:.2f}x"


def plan_news_closes(
    positions: Sequence[Position],
    news: Mapping[str, NewsAssessment],
    settings: NewsSettings,
) -> list[NewsClose]:
    """A decision for every open position the news flags: close, or skip (capped)."""
    hits = [(p, news[p.symbol]) for p in positions if flagged(p, news.get(p.symbol))]
    confirmed = [(p, n) for p, n in hits if n.regime == "PANIC"]
    alone = [(p, n) for p, n in hits if n.regime != "PANIC"]
    alone.sort(
        key=lambda pn: (
            pn[1].score if pn[1].score is not None else 0.0,
            pnl_fraction(pn[0]),
            pn[0].position_id,
        )
    )
    cap = settings.max_panic_closes_per_cycle
    ranked = alone if settings.confirmed_closes_uncapped else [*confirmed, *alone]
    allowed = {p.position_id for p, _ in ranked[:cap]}
    if settings.confirmed_closes_uncapped:
        allowed |= {p.position_id for p, _ in confirmed}

    out: list[NewsClose] = []
    used = 0
    for pos, n in [*confirmed, *alone]:
        is_confirmed = n.regime == "PANIC"
        data = {
            "volatility_ratio": n.volatility_ratio,
            "panic_volatility_ratio": settings.panic_volatility_ratio,
            "news_score": n.score,
            "events": _headlines(n),
            "max_per_cycle": cap,
        }
        what = f"critical news against the {pos.side} ({'; '.join(_headlines(n)) or 'flagged'})"
        if pos.position_id in allowed:
            counted = not (is_confirmed and settings.confirmed_closes_uncapped)
            used += counted
            if is_confirmed:
                why = (
                    f"{what}, confirmed by the market (PANIC: volatility {_vol(n)} normal >= "
                    f"{settings.panic_volatility_ratio:g}x): closed"
                )
            else:
                why = (
                    f"{what}, not confirmed by the market (volatility {_vol(n)} normal): closed "
                    f"on the news alone, {used} of at most {cap} this cycle"
                )
            if is_confirmed and counted:
                why += f" ({used} of at most {cap} this cycle)"
            reason = Reason(
                code=Code.NEWS_PANIC_CLOSE,
                kind="info",
                message=why,
                data={**data, "confirmed": is_confirmed, "counted": counted},
            )
            out.append(_decision(pos, "close", is_confirmed, reason))
            continue
        market = (
            "confirmed by the market (PANIC), but confirmed closes count too"
            if is_confirmed
            else f"not confirmed by the market (volatility {_vol(n)} normal, PANIC needs "
            f"{settings.panic_volatility_ratio:g}x)"
        )
        reason = Reason(
            code=Code.NEWS_PANIC_CAPPED,
            kind="skip",
            message=f"{what}, {market}: kept open, the cap of {cap} news-panic close(s) per "
            "cycle is reached; its stop stays in place and the next cycle reads the news again",
            data={**data, "confirmed": is_confirmed},
        )
        out.append(_decision(pos, "skip", is_confirmed, reason))
    return out


def _decision(pos: Position, action: str, confirmed: bool, reason: Reason) -> NewsClose:
    return NewsClose(
        position_id=pos.position_id,
        symbol=pos.symbol,
        side=pos.side,
        action=action,  # type: ignore[arg-type]
        confirmed=confirmed,
        reasons=[reason],
    )
