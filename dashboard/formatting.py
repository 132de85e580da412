"""How the pages write numbers and times (Jinja filters). The API sends raw numbers; a page
writes money with two decimals, prices as stored, percentages with two decimals."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment

DASH = "–"


def escape(text: str) -> str:
    return html.escape(text)


def money(v: float | None, signed: bool = False) -> str:
    if v is None:
        return DASH
    return f"{v:+,.2f}" if signed else f"{v:,.2f}"


def number(v: float | int | None, digits: int = 2, signed: bool = False) -> str:
    if v is None:
        return DASH
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def price(v: float | None) -> str:
    """A price or size as the book holds it: no rounding, no exponent."""
    if v is None:
        return DASH
    text = f"{v:.10f}".rstrip("0").rstrip(".")
    return text or "0"


def pct(v: float | None, signed: bool = True) -> str:
    return DASH if v is None else (f"{v:+.2f} %" if signed else f"{v:.2f} %")


def usd(v: float | None) -> str:
    return DASH if v is None else f"${v:,.4f}"


def when(v: str | None) -> str:
    """ISO time as 'YYYY-MM-DD HH:MM' UTC."""
    if not v:
        return DASH
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return v
    return t.strftime("%Y-%m-%d %H:%M")


def sign_class(v: float | None) -> str:
    if v is None or v == 0:
        return "flat"
    return "up" if v > 0 else "down"


def share(v: float | None, scale: float = 1.0) -> str:
    """A CSS width for a bar of |v| / scale (0..100 %)."""
    if v is None or scale <= 0:
        return "0%"
    return f"{min(100.0, abs(v) / scale * 100):.1f}%"


def install(env: Environment) -> None:
    filters: dict[str, Any] = {
        "money": money,
        "number": number,
        "price": price,
        "pct": pct,
        "usd": usd,
        "when": when,
        "sign_class": sign_class,
        "share": share,
    }
    env.filters.update(filters)
