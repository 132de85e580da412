"""Plain one-liners shared by the CLI table and the broadcasters' logs.

The posts themselves (entry, exit, stats, Market Pulse) are in tools/broadcast/formatting.py:
Telegram HTML, printed as plain text by the console.
"""

from collections.abc import Sequence

from sextant.models import Signal


def fmt_price(v: object) -> str:
    return "-" if v is None else f"{v}"


def cycle_summary(signals: Sequence[Signal]) -> str:
    longs = sum(s.decision == "LONG" for s in signals)
    shorts = sum(s.decision == "SHORT" for s in signals)
    waits = sum(s.decision == "WAIT" for s in signals)
    return f"cycle: {longs} LONG, {shorts} SHORT, {waits} WAIT"
