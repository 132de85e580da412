"""Plain-text renderings of signals and cycles, shared by the console and the CLI table."""

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sextant.models import Signal

if TYPE_CHECKING:
    from tools.broadcast.port import ExitEvent


def fmt_price(v: object) -> str:
    return "-" if v is None else f"{v}"


def entry_post(sig: Signal) -> str:
    arrow = "LONG" if sig.decision == "LONG" else "SHORT"
    drivers = [r.message for r in sig.reasons if r.kind == "driver"][:3]
    lines = [
        f"{arrow} {sig.symbol}  score {sig.score:+.2f}  confidence {sig.confidence:.0%}",
        f"  entry {sig.entry}  stop {sig.stop_loss} ({sig.stop_distance_pct:.2f}%)",
        f"  TP1 {sig.take_profit_1} (50%)  TP2 {sig.take_profit_2} (50%)",
        f"  leverage {sig.leverage}x  risk {sig.risk_pct}%  qty {sig.quantity}",
        f"  regime {sig.regime}, news {sig.news_regime}",
    ]
    lines += [f"  - {d}" for d in drivers]
    return "\n".join(lines)


def wait_line(sig: Signal) -> str:
    main = next((r for r in sig.reasons if r.kind in ("veto", "wait", "skip")), None)
    why = f"{main.code}: {main.message}" if main else ""
    return f"WAIT {sig.symbol:<16} score {sig.score:+.2f}  {why}"


def cycle_summary(signals: Sequence[Signal]) -> str:
    longs = sum(s.decision == "LONG" for s in signals)
    shorts = sum(s.decision == "SHORT" for s in signals)
    waits = sum(s.decision == "WAIT" for s in signals)
    return f"cycle: {longs} LONG, {shorts} SHORT, {waits} WAIT"


def exit_post(ev: "ExitEvent") -> str:
    f = ev.fill
    return (
        f"EXIT {f.reason} {f.symbol} ({ev.position.side}) {f.quantity} @ {f.price}  "
        f"PnL {ev.pnl_pct:+.2f}%  {ev.r_multiple:+.2f}R"
    )
