"""Posts as Telegram HTML (parse_mode HTML) and their plain-text twins for the console.

The rule that keeps a post from ever failing because of a character in it: every dynamic value
(symbols, numbers, model text, settings text) goes through `esc()`, which also drops what no
chat, terminal or database should get (lone surrogates, control characters: `printable()`);
the only markup is the handful of tags written literally here (<b>, <i>, <code>), never across
a line break. Model text is also cut to a sane length before escaping, so no entity is ever
split; a body with a list that would exceed Telegram's 4096 characters (measured like Telegram,
after entity parsing, with room left for the disclaimer) keeps the items that fit and says
"…and N more" (`fit_items`); `finish()` cuts any other body at a line break as a last resort.
"""

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sextant.events import EntryEvent, ExitEvent, MarketPulse, printable
from sextant.models import NewsAssessment
from tools.broadcast.stats import Stats

CAPTION_LIMIT = 1024  # Telegram, measured on the text after entity parsing, in UTF-16 units
TEXT_LIMIT = 4096
MODEL_TEXT_MAX = 280  # characters of one reason or headline (LLM text) shown in a post
RESEND_ROOM = 100  # room kept for the "re-sent" line of on_uncertain=resend_marked
TEXT_ROOM = TEXT_LIMIT - RESEND_ROOM  # what a text post (disclaimer included) may use

_TAG = re.compile(r"<[^>]*>")

EXIT_LABELS: dict[str, tuple[str, str]] = {
    "tp1": ("✅", "Take-profit 1 hit"),
    "tp2": ("🎯", "Take-profit 2 hit"),
    "stop_loss": ("🛑", "Stop-loss hit"),
    "breakeven_stop": ("⚖️", "Breakeven stop hit"),
    "trailing_stop": ("🔒", "Trailing stop hit"),
    "stale_exit": ("⏳", "Stale exit (no progress)"),
    "news_panic": ("📰", "News panic exit"),
    "manual": ("✋", "Closed manually"),
    "liquidation": ("💥", "Liquidated"),
    "circuit_breaker": ("🧯", "Daily loss limit: closed"),
    "signal_reversal": ("🔄", "Signal reversed: closed"),
}

_DRIVER_WORDS = {
    "trend": (
        "Uptrend: price above rising moving averages",
        "Downtrend: price below falling moving averages",
    ),
    "momentum": ("Bullish momentum (RSI)", "Bearish momentum (RSI)"),
    "volume": ("Buyers dominate the volume", "Sellers dominate the volume"),
    "open_interest": ("Open-interest flows favour longs", "Open-interest flows favour shorts"),
    "news": ("Positive news flow", "Negative news flow"),
}


@dataclass(frozen=True)
class Post:
    """One message to send: `html` is the text (or the photo's caption) in Telegram HTML."""

    key: str  # deterministic dedup key, unique per destination
    kind: str  # entry | entry_text | exit | stats | pulse
    html: str
    photo: bytes | None = None
    reply_to_key: str | None = None

    @property
    def text(self) -> str:
        return plain(self.html)


# ---------------------------------------------------------------------------- primitives


def esc(value: object) -> str:
    """Escape dynamic text for Telegram HTML (&, <, >); quotes are fine outside attributes.
    Lone surrogates and control characters (but newlines and tabs) are dropped."""
    return html.escape(printable(str(value)), quote=False)


def clip(text: str, limit: int = MODEL_TEXT_MAX) -> str:
    """One line of at most `limit` characters, printable (see `esc`)."""
    text = " ".join(printable(str(text)).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def plain(markup: str) -> str:
    """What a reader sees: tags dropped, entities decoded (the console prints this)."""
    return html.unescape(_TAG.sub("", markup))


def visible_len(markup: str) -> int:
    """Length as Telegram counts it for its limits: UTF-16 units of the parsed text."""
    return len(plain(markup).encode("utf-16-le", "surrogatepass")) // 2


def price(value: Any) -> str:
    """A price as the exchange gives it: no exponent, no float noise."""
    if value is None:
        return "-"
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    return format(d.normalize() if d == d.to_integral_value() else d, "f")


def money(value: Any) -> str:
    return "-" if value is None else f"{float(value):,.2f}"


def signed(value: Any, suffix: str = "", places: int = 2) -> str:
    if value is None:
        return "-"
    v = float(value)
    text = f"{abs(v):,.{places}f}"
    sign = "+" if v > 0 else "−" if v < 0 else "±"
    if text.strip("0.,") == "":
        sign = "±"
    return f"{sign}{text}{suffix}"


def when(ts: datetime | str | None) -> str:
    if ts is None:
        return "-"
    if isinstance(ts, str):
        try:
            ts = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        except ValueError:
            return esc(ts)
    return f"{ts:%Y-%m-%d %H:%M} UTC"


def pair(symbol: str) -> str:
    """'ETH/USDT:USDT' -> 'ETH/USDT'."""
    return symbol.split(":", 1)[0]


def hashtag(symbol: str) -> str:
    return "#" + re.sub(r"[^A-Za-z0-9_]", "", pair(symbol))


def _ending(disclaimer: str) -> str:
    return f"\n\n<i>{esc(disclaimer)}</i>"


def text_budget(disclaimer: str, limit: int = TEXT_ROOM) -> int:
    """The visible length a body may have for `finish(body, disclaimer)` to fit in `limit`."""
    return limit - visible_len(_ending(disclaimer))


def more_line(n: int) -> str:
    return f"…and {n} more"


def fit_items(head: Sequence[str], items: Sequence[str], tail: Sequence[str], budget: int) -> str:
    """head, then as many items as fit, then "…and N more" when some did not, then tail, joined
    by line breaks, in at most `budget` visible characters (as Telegram counts them).

    An item is one line or a block of lines, and no tag spans a line break, so dropping whole
    items never breaks the markup (and visible lengths simply add up)."""
    parts = [*head, *items, *tail]
    if visible_len("\n".join(parts)) <= budget:
        return "\n".join(parts)
    fixed = sum(visible_len(x) + 1 for x in (*head, *tail))  # each with its line break
    used = fixed
    kept: list[str] = []
    for item in items:
        size = visible_len(item) + 1
        more = len(items) - len(kept) - 1
        room = budget + 1 - (visible_len(more_line(more)) + 1 if more else 0)
        if used + size > room:
            break
        kept.append(item)
        used += size
    return "\n".join([*head, *kept, more_line(len(items) - len(kept)), *tail])


def cut_lines(body: str, budget: int) -> str:
    """The last resort for a body too long however its lists are cut: whole lines, then
    "…and N more lines"."""
    if visible_len(body) <= budget:
        return body
    lines = body.split("\n")
    kept: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        rest = len(lines) - i
        note = visible_len(f"…and {rest} more lines") + 1
        if used + visible_len(line) + 1 + note > budget + 1:
            break
        kept.append(line)
        used += visible_len(line) + 1
    return "\n".join([*kept, f"…and {len(lines) - len(kept)} more lines"])


def finish(body: str, disclaimer: str, limit: int = TEXT_ROOM) -> str:
    """Every post ends with the disclaimer (settings text: escaped like any other); the whole
    stays within `limit` visible characters and carries no unprintable character."""
    body = cut_lines(body.rstrip(), text_budget(disclaimer, limit))
    return printable(body) + _ending(disclaimer)


def move_pct(level: Decimal | None, entry: Decimal | None) -> str:
    if level is None or entry is None or entry == 0:
        return ""
    return f" ({signed((level - entry) / entry * 100, '%')})"


# ---------------------------------------------------------------------------- entry


def driver_lines(event: EntryEvent, limit: int = 3) -> list[str]:
    """The two or three strongest reasons, in plain words (model text escaped and clipped)."""
    sig = event.signal
    scored: list[tuple[float, str]] = []
    for r in sig.reasons:
        if r.kind != "driver":
            continue
        comp = r.data.get("component")
        value = r.data.get("value")
        weight = r.data.get("weight", 1.0)
        if comp in _DRIVER_WORDS and isinstance(value, int | float):
            up, down = _DRIVER_WORDS[comp]
            strength = "strong" if abs(value) >= 0.6 else "clear" if abs(value) >= 0.3 else "mild"
            words = f"{up if value > 0 else down} — {strength} ({signed(value)})"
            scored.append((abs(value * float(weight or 0)), esc(words)))
        else:
            scored.append((1.0, esc(clip(r.message))))  # e.g. a news driver: always relevant
    scored.sort(key=lambda t: -t[0])
    lines = [text for _, text in scored[:limit]]
    top = headline(event.news)
    if top:
        lines.append(f"📰 {esc(clip(top))}")
    return lines


def headline(news: NewsAssessment | None) -> str | None:
    """The news item that matters most: critical first, then by (decayed) impact; else the
    first key event (scheduled: unlock, upgrade, ...)."""
    if news is None or not news.available:
        return None
    if news.events:
        top = max(
            news.events,
            key=lambda e: (
                e.critical,
                abs(e.decayed_impact if e.decayed_impact is not None else e.impact),
            ),
        )
        return top.title
    if news.key_events:
        k = news.key_events[0]
        return k.title + (f" ({k.date:%Y-%m-%d})" if k.date else "")
    return None


def entry_body(event: EntryEvent) -> str:
    sig = event.signal
    pos = event.position
    long = sig.decision == "LONG"
    entry = pos.entry_price if pos is not None else sig.entry
    stop = pos.stop_loss if pos is not None else sig.stop_loss
    tp1 = pos.take_profit_1 if pos is not None else sig.take_profit_1
    tp2 = pos.take_profit_2 if pos is not None else sig.take_profit_2
    lev = pos.leverage if pos is not None else sig.leverage
    lines = [
        f"{'🟢' if long else '🔴'} <b>{esc(sig.decision)} {esc(pair(sig.symbol))}</b> · perpetual",
        f"Confidence <b>{sig.confidence:.0%}</b> · score {signed(sig.score)}",
        "",
        f"Entry: <code>{esc(price(entry))}</code>",
        f"Stop-loss: <code>{esc(price(stop))}</code>{move_pct(stop, entry)}",
        f"TP1 (50%): <code>{esc(price(tp1))}</code>{move_pct(tp1, entry)}",
        f"TP2 (50%): <code>{esc(price(tp2))}</code>{move_pct(tp2, entry)}",
        f"Leverage: {esc(lev)}x · Risk: {signed(sig.risk_pct, '%').lstrip('+')} of equity",
    ]
    drivers = driver_lines(event)
    if drivers:
        lines += ["", "<b>Why</b>", *[f"• {d}" for d in drivers]]
    lines += [
        "",
        f"Regime: {esc(sig.regime.replace('_', ' '))} · News: {esc(sig.news_regime)}",
        f"{esc(hashtag(sig.symbol))} · <code>{esc(sig.signal_id)}</code>",
    ]
    return "\n".join(lines)


def entry_headline(event: EntryEvent) -> str:
    sig, pos = event.signal, event.position
    entry = pos.entry_price if pos is not None else sig.entry
    stop = pos.stop_loss if pos is not None else sig.stop_loss
    return (
        f"{'🟢' if sig.decision == 'LONG' else '🔴'} <b>{esc(sig.decision)} "
        f"{esc(pair(sig.symbol))}</b> · entry <code>{esc(price(entry))}</code> · "
        f"stop <code>{esc(price(stop))}</code>\n{esc(hashtag(sig.symbol))}"
    )


def entry_key(signal_id: str) -> str:
    return f"entry:{signal_id}"


def entry_posts(event: EntryEvent, disclaimer: str, chart: bytes | None) -> list[Post]:
    """The entry: a photo with the text as caption, or (caption too long) a photo with a
    headline and the text as a reply to it. Without a chart, one text message."""
    key = entry_key(event.signal.signal_id)
    text = finish(entry_body(event), disclaimer)
    if chart is None:
        return [Post(key, "entry", text)]
    if visible_len(text) <= CAPTION_LIMIT - RESEND_ROOM:
        return [Post(key, "entry", text, photo=chart)]
    headline = finish(entry_headline(event), disclaimer)
    return [
        Post(key, "entry", headline, photo=chart),
        Post(f"{key}:text", "entry_text", text, reply_to_key=key),
    ]


# ---------------------------------------------------------------------------- exit


def exit_key(event: ExitEvent) -> str:
    f = event.fill
    return f"exit:{f.position_id}:{f.reason}:{f.time:%Y%m%dT%H%M%S}"


def exit_body(event: ExitEvent, trade_total: tuple[float, float] | None = None) -> str:
    """`trade_total` = (R, PnL %) of the whole trade when this fill closes it."""
    pos, f = event.position, event.fill
    icon, label = EXIT_LABELS.get(str(f.reason), ("ℹ️", str(f.reason).replace("_", " ")))
    share = f.quantity / pos.initial_quantity * 100 if pos.initial_quantity else Decimal(0)
    lines = [
        f"{icon} <b>{esc(label)} · {esc(pair(f.symbol))} {esc(pos.side.upper())}</b>",
        f"Closed {share:.0f}% at <code>{esc(price(f.price))}</code> "
        f"(entry <code>{esc(price(pos.entry_price))}</code>)",
        f"Result: <b>{signed(event.pnl_pct, '%')}</b> · <b>{signed(event.r_multiple, 'R')}</b>",
    ]
    if pos.is_open:
        left = pos.quantity / pos.initial_quantity * 100 if pos.initial_quantity else Decimal(0)
        lines.append(f"Still open: {left:.0f}% · stop now <code>{esc(price(pos.stop_loss))}</code>")
    elif trade_total is not None:
        r, pnl = trade_total
        lines.append(f"Trade closed · total <b>{signed(r, 'R')}</b> · {signed(pnl, '%')}")
    else:
        lines.append("Trade closed")
    lines.append(esc(hashtag(f.symbol)))
    return "\n".join(lines)


# ---------------------------------------------------------------------------- stats


def stats_body(title: str, stats: Stats) -> str:
    lines = [
        f"📊 <b>{esc(title)}</b> · {when(stats.start)} → {when(stats.end)}",
    ]
    if not stats.trades:
        lines.append("No trades closed.")
    else:
        lines += [
            f"Trades closed: <b>{len(stats.trades)}</b> · win rate <b>{stats.win_rate:.0%}</b>",
            f"Total <b>{signed(stats.total_r, 'R')}</b> · average {signed(stats.avg_r, 'R')}",
            f"PnL: {signed(stats.pnl_pct, '%')} (sum of trade returns, unlevered)"
            + (
                f" · ≈ {signed(stats.equity_pct, '%')} of equity"
                if stats.equity_pct is not None
                else ""
            ),
        ]
        best, worst = stats.best, stats.worst
        if best is not None and worst is not None:
            lines.append(
                f"Best: {esc(pair(best.symbol))} {esc(best.side.upper())} {signed(best.r, 'R')}"
                f" · Worst: {esc(pair(worst.symbol))} {esc(worst.side.upper())} "
                f"{signed(worst.r, 'R')}"
            )
    if stats.open_positions is not None:
        lines.append(f"Open positions: {stats.open_positions}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- pulse


def pulse_body(p: MarketPulse, budget: int = TEXT_ROOM) -> str:
    """The Market Pulse; the WAIT list is cut to fit `budget` (see `text_budget`)."""
    lines = [f"🧭 <b>Market Pulse</b> · {when(p.as_of)}"]
    btc = [f"<b>{esc(pair(p.btc_symbol).split('/')[0])}</b>"]
    if p.btc_price is not None:
        btc[0] += f" <code>{esc(price(round(p.btc_price, 2)))}</code>"
    if p.btc_change_4h_pct is not None:
        btc.append(f"4h {signed(p.btc_change_4h_pct, '%')}")
    if p.btc_change_24h_pct is not None:
        btc.append(f"24h {signed(p.btc_change_24h_pct, '%')}")
    lines.append(" · ".join(btc))
    trend = []
    if p.btc_trend:
        trend.append(f"trend {esc(p.btc_trend)}")
    if p.btc_regime:
        trend.append(f"regime {esc(p.btc_regime.replace('_', ' '))}")
    if trend:
        lines.append(" · ".join(trend))
    news = f"News regime: <b>{esc(p.news_regime)}</b>"
    if not p.news_available:
        news += " (no news source: news unavailable)"
    lines.append(news)
    lines += [f"• {esc(clip(n))}" for n in p.news_notes[:5]]
    if p.movers:
        lines += ["", "<b>Top movers (24h)</b>"]
        lines += [
            f"• {esc(pair(m.symbol))} {signed(m.change_24h_pct, '%')} "
            f"(<code>{esc(price(m.price))}</code>)"
            for m in p.movers
        ]
    waits: list[str] = []
    if p.waits:
        lines += ["", f"<b>On WAIT</b> ({p.signals.get('WAIT', len(p.waits))})"]
        waits = [f"• {esc(pair(w.symbol))}: {esc(clip(w.message, 140))}" for w in p.waits]
    tail: list[str] = []
    if p.signals:
        counts = " · ".join(f"{p.signals.get(k, 0)} {k}" for k in ("LONG", "SHORT", "WAIT"))
        tail = ["", f"Signals this cycle: {counts}"]
    return fit_items(lines, waits, tail, budget)


# ---------------------------------------------------------------------------- commands


def status_body(doc: dict[str, Any]) -> str:
    cb = doc.get("circuit_breaker") or {}
    breaker = (
        f"<b>tripped</b> until {when(cb.get('until'))}" if cb.get("tripped") else "not tripped"
    )
    positions = doc.get("positions") or []
    return "\n".join(
        [
            f"📟 <b>Status</b> · mode {esc(doc.get('mode', '-'))}",
            f"Equity: <b>{money(doc.get('equity'))}</b> USDT",
            f"Today's PnL: {signed(doc.get('today_pnl'), ' USDT')}",
            f"Circuit breaker: {breaker}",
            f"Last cycle: {when(doc.get('last_cycle_as_of'))}",
            f"Open positions: {len(positions)}",
        ]
    )


def positions_body(doc: dict[str, Any], budget: int = TEXT_ROOM) -> str:
    """Open positions, as many as fit `budget` (see `text_budget`), then "…and N more"."""
    positions = doc.get("positions") or []
    if not positions:
        return "📂 <b>Open positions</b>\nNo open positions."
    head = [f"📂 <b>Open positions</b> ({len(positions)})"]
    blocks: list[str] = []
    for p in positions:
        tp1 = " ✓" if p.get("tp1_done") else ""
        lines = [
            "",
            f"<b>{esc(pair(str(p.get('symbol', '?'))))} {esc(str(p.get('side', '')).upper())}</b>"
            f" {esc(p.get('leverage', '-'))}x · qty {esc(price(p.get('quantity')))}",
            f"entry <code>{esc(price(p.get('entry')))}</code> · stop "
            f"<code>{esc(price(p.get('stop_loss')))}</code>",
            f"TP1 <code>{esc(price(p.get('take_profit_1')))}</code>{tp1} · TP2 "
            f"<code>{esc(price(p.get('take_profit_2')))}</code>",
            f"uPnL {signed(p.get('unrealized_pnl'), ' USDT')} · since {when(p.get('opened_at'))}",
        ]
        blocks.append("\n".join(lines))
    return fit_items(head, blocks, [], budget)


def help_body(commands: Sequence[tuple[str, str]]) -> str:
    return "\n".join(["<b>Commands</b>", *[f"/{esc(c)} — {esc(d)}" for c, d in commands]])
