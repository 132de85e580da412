"""The entry chart: candles of the signal timeframe with entry, stop and target lines, as PNG.

Headless matplotlib (the Agg canvas on a Figure; pyplot's global state is never touched, so
rendering in a worker thread is safe).
"""

import io
from decimal import Decimal

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sextant.models import TIMEFRAME_DELTA

WIDTH_PX, HEIGHT_PX, DPI = 1000, 560, 100
UP, DOWN = "#26a69a", "#ef5350"
BG, GRID, TEXT = "#ffffff", "#e6e6e6", "#333333"


def render_chart(
    candles: pd.DataFrame,
    *,
    symbol: str,
    timeframe: str,
    side: str,
    entry: Decimal | float,
    stop_loss: Decimal | float,
    take_profit_1: Decimal | float,
    take_profit_2: Decimal | float,
    bars: int = 96,
) -> bytes:
    """PNG bytes of the last `bars` candles (OHLC columns, UTC DatetimeIndex) with the levels."""
    df = candles[["open", "high", "low", "close"]].tail(bars)
    if df.empty:
        raise ValueError(f"no candles to chart for {symbol}")
    o, h, lo, c = (df[k].to_numpy(dtype=float) for k in ("open", "high", "low", "close"))
    x = np.arange(len(df))
    rising = c >= o

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, facecolor=BG)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.06, 0.1, 0.8, 0.8))
    ax.set_facecolor(BG)
    colours = np.where(rising, UP, DOWN)
    ax.vlines(x, lo, h, colors=colours, linewidth=1)
    body_low = np.minimum(o, c)
    body_h = np.maximum(np.abs(c - o), (h.max() - lo.min()) * 0.001)
    ax.bar(x, body_h, bottom=body_low, width=0.7, color=colours, edgecolor=colours, linewidth=0.5)

    levels = [
        ("Entry", float(entry), "#1e88e5", "-"),
        ("Stop", float(stop_loss), "#e53935", "--"),
        ("TP1", float(take_profit_1), "#43a047", "--"),
        ("TP2", float(take_profit_2), "#2e7d32", "-."),
    ]
    for label, y, colour, style in levels:
        ax.axhline(y, color=colour, linestyle=style, linewidth=1.3)
        ax.annotate(
            f"{label} {y:g}",
            xy=(1.0, y),
            xycoords=("axes fraction", "data"),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
            color="white",
            bbox={"boxstyle": "round,pad=0.25", "fc": colour, "ec": colour},
        )
    ys = [y for _, y, _, _ in levels]
    top, bottom = max(h.max(), *ys), min(lo.min(), *ys)
    pad = (top - bottom) * 0.04 or top * 0.01
    ax.set_ylim(bottom - pad, top + pad)
    ax.set_xlim(-1, len(df))

    step = max(1, len(df) // 8)
    ticks = x[::step]
    ax.set_xticks(ticks)
    ax.set_xticklabels([df.index[i].strftime("%m-%d %H:%M") for i in ticks], fontsize=8)
    ax.tick_params(colors=TEXT, labelsize=8)
    ax.grid(True, color=GRID, linewidth=0.6)
    for spine in ax.spines.values():
        spine.set_color(GRID)
    pair = symbol.split(":", 1)[0]
    closed = df.index[-1] + TIMEFRAME_DELTA.get(timeframe, pd.Timedelta(0))
    ax.set_title(
        f"{side.upper()} {pair} · {timeframe} candles to {closed:%Y-%m-%d %H:%M} UTC",
        loc="left",
        fontsize=11,
        color=TEXT,
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor=BG)
    return buf.getvalue()
