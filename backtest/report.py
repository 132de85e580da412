"""Backtest outputs: the `sextant.backtest/1` JSON document, the console table, and the report
folder (trades.csv, an equity-and-drawdown PNG, a self-contained HTML page)."""

import base64
import csv
import html
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from backtest.engine import BacktestResult
from backtest.metrics import compute_metrics
from sextant.models import iso_z

SCHEMA = "sextant.backtest/1"
TRADE_FIELDS = (
    "symbol",
    "side",
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "quantity",
    "pnl",
    "fees",
    "funding",
    "exit_reason",
    "r_multiple",
)


def _num(x: Decimal, digits: int = 8) -> float:
    return round(float(x), digits)


def document(result: BacktestResult) -> dict[str, Any]:
    """The whole result as one JSON-ready dict: same inputs, same document, byte for byte."""
    st = result.settings
    es = st.execution
    trades = [
        {
            "symbol": t.symbol,
            "side": t.side,
            "entry_time": iso_z(t.entry_time),
            "entry_price": _num(t.entry_price),
            "exit_time": iso_z(t.exit_time),
            "exit_price": _num(t.exit_price),
            "quantity": _num(t.quantity),
            "pnl": _num(t.pnl, 6),
            "fees": _num(t.fees, 6),
            "funding": _num(t.funding, 6),
            "exit_reason": t.exit_reason,
            "r_multiple": _num(t.r_multiple, 4),
        }
        for t in result.trades
    ]
    open_positions = [
        {
            "symbol": p.symbol,
            "side": p.side,
            "entry_time": iso_z(p.opened_at),
            "entry_price": _num(p.entry_price),
            "quantity": _num(p.quantity),
            "stop_loss": _num(p.stop_loss),
            "take_profit_1": _num(p.take_profit_1),
            "take_profit_2": _num(p.take_profit_2),
            "leverage": p.leverage,
            "tp1_done": p.tp1_done,
        }
        for p in result.open_positions
    ]
    return {
        "schema": SCHEMA,
        "from": iso_z(result.start),
        "to": iso_z(result.end),
        "symbols": result.symbols,
        "data_dir": str(result.data_dir),
        "interrupted": result.interrupted,
        "profile": st.profile,
        "assumptions": {
            "equity": float(st.equity),
            "taker_fee_pct": float(es.taker_fee_pct),
            "maker_fee_pct": float(es.maker_fee_pct),
            "slippage_pct": float(es.slippage_pct),
            "maintenance_margin_pct": float(es.maintenance_margin_pct),
            "funding_interval_hours": es.funding_interval_hours,
            "assumed_spread_pct": st.market.assumed_spread_pct,
            "entries": (
                "the signal's quote + slippage, taker fee (fills=quote: the paper broker's "
                "prices; funding marked at the last close, before the hour's decisions)"
                if result.request.fills == "quote"
                else "next bar open + slippage, taker fee"
            ),
            "exits": "stop first when a bar touches stop and target; every exit (targets are "
            "conditional market orders) pays slippage and the taker fee",
        },
        "news": {
            "source": result.news_source,
            "note": result.news,
            "symbol_hours_with_answers": result.news_symbol_hours,
        },
        "warnings": result.warnings,
        "span_warnings": result.notices,  # the span was clamped to the data (also in warnings)
        "metrics": compute_metrics(result),
        "trades": trades,
        "open_positions": open_positions,
        "equity": [[iso_z(t), round(float(v), 4)] for t, v in result.equity],
    }


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, allow_nan=False)


# -- the console table ------------------------------------------------------------------------


def _f(x: Any, spec: str = ",.2f", none: str = "-") -> str:
    return none if x is None else format(x, spec)


def table(doc: dict[str, Any]) -> str:
    m = doc["metrics"]
    bh = m["buy_and_hold_btc"]
    lines = [
        f"Sextant backtest {doc['from']} .. {doc['to']}  {len(doc['symbols'])} symbols"
        + ("  (INTERRUPTED: partial results)" if doc["interrupted"] else ""),
        *(f"  WARNING: {w}" for w in doc.get("span_warnings", [])),
        "",
        f"  equity          {_f(m['initial_equity'])} -> {_f(m['final_equity'])} USDT",
        f"  total return    {_f(m['total_return_pct'], '+.2f')} %"
        f"   (buy-and-hold {bh['symbol'].split('/')[0]}: "
        f"{_f(bh.get('total_return_pct'), '+.2f')} %)",
        f"  CAGR            {_f(m['cagr_pct'], '+.2f')} %"
        f"   (buy-and-hold: {_f(bh.get('cagr_pct'), '+.2f')} %)",
        f"  Sharpe          {_f(m['sharpe'], '.2f')}"
        f"   (buy-and-hold: {_f(bh.get('sharpe'), '.2f')})",
        f"  Sortino         {_f(m['sortino'], '.2f')}   Calmar {_f(m['calmar'], '.2f')}",
        f"  max drawdown    {_f(m['max_drawdown_pct'], '.2f')} %  over "
        f"{_f(m['max_drawdown_duration_hours'], '.0f')} h"
        f"   (buy-and-hold: {_f(bh.get('max_drawdown_pct'), '.2f')} %)",
        f"  trades          {m['trades']} closed ({m['exit_fills']} exit fills), "
        f"{m['open_positions']} open at the end",
        f"  win rate        {_f(m['win_rate_pct'], '.1f')} %   profit factor "
        f"{_f(m['profit_factor'], '.2f')}",
        f"  expectancy      {_f(m['expectancy_r'], '+.3f')} R net "
        f"({_f(m['expectancy_r_gross'], '+.3f')} R before costs)",
        f"  avg holding     {_f(m['avg_holding_hours'], '.1f')} h   exposure "
        f"{_f(m['exposure_pct'], '.1f')} % of hours",
        f"  fees paid       {_f(m['fees_paid'])} USDT   funding paid {_f(m['funding_paid'])} USDT",
        "",
        f"{'SYMBOL':<16}{'TRADES':>7}{'WIN %':>8}{'NET PNL':>12}{'FEES':>10}{'FUNDING':>10}"
        f"{'EXP R':>8}",
    ]
    for row in m["per_symbol"]:
        lines.append(
            f"{row['symbol']:<16}{row['trades']:>7}{_f(row['win_rate_pct'], '.1f'):>8}"
            f"{_f(row['net_pnl']):>12}{_f(row['fees']):>10}{_f(row['funding']):>10}"
            f"{_f(row['expectancy_r'], '+.2f'):>8}"
        )
    lines += ["", f"{'EXIT REASON':<16}{'FILLS':>7}{'PNL':>12}{'AVG R':>8}"]
    for row in m["exit_reasons"]:
        lines.append(
            f"{row['exit_reason']:<16}{row['fills']:>7}{_f(row['pnl']):>12}"
            f"{_f(row['avg_r_multiple'], '+.2f'):>8}"
        )
    lines += ["", f"News: {doc['news']['note']}"]
    rest = [w for w in doc["warnings"] if w not in doc.get("span_warnings", [])]
    if rest:
        lines += ["", "Warnings:"] + [f"  - {w}" for w in rest]
    return "\n".join(lines)


# -- the report folder ------------------------------------------------------------------------


def write_trades_csv(doc: dict[str, Any], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=TRADE_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(doc["trades"])


def benchmark_curve(result: BacktestResult) -> list[tuple[str, float]]:
    """Buy-and-hold of the reference symbol, scaled to start at the initial equity."""
    if not result.btc:
        return []
    start_equity = float(result.equity[0][1])
    first = result.btc[0][1]
    return [(iso_z(t), start_equity * p / first) for t, p in result.btc]


def equity_png(doc: dict[str, Any], bench: list[tuple[str, float]] | None = None) -> bytes:
    """Equity (with buy-and-hold BTC scaled to the same start) and drawdown, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    times = pd.to_datetime([t for t, _ in doc["equity"]], utc=True)
    equity = np.array([v for _, v in doc["equity"]], dtype=float)
    drawdown = (equity / np.maximum.accumulate(equity) - 1) * 100 if len(equity) else equity
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot(times, equity, color="#1f5fa8", lw=1.2, label="Sextant")
    if bench:
        bt = pd.to_datetime([t for t, _ in bench], utc=True)
        top.plot(bt, [v for _, v in bench], color="#999999", lw=1, label="buy-and-hold BTC")
    top.set_ylabel("equity (USDT)")
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    top.set_title(f"Backtest {doc['from'][:10]} .. {doc['to'][:10]}")
    bottom.fill_between(times, drawdown, 0, color="#c0392b", alpha=0.5, lw=0)
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _html_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.4f}".rstrip("0").rstrip(".") if abs(v) < 1e6 else f"{v:,.2f}"
    return str(v)


def report_html(doc: dict[str, Any], png: bytes) -> str:
    m = doc["metrics"]
    scalars = [
        {"metric": k, "value": v}
        for k, v in m.items()
        if not isinstance(v, list | dict)
    ]
    bh = [{"metric": k, "value": v} for k, v in m["buy_and_hold_btc"].items()]
    image = base64.b64encode(png).decode()
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in doc["warnings"]) or "<li>none</li>"
    css = (
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
        "h1{font-size:20px}h2{font-size:16px;margin-top:1.5em}"
    )
    title = f"Sextant backtest {doc['from']} .. {doc['to']}"
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{css}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        + ("<p><b>Interrupted: partial results.</b></p>" if doc["interrupted"] else "")
        + f"<p>Symbols: {html.escape(', '.join(doc['symbols']))}<br>"
        f"News: {html.escape(doc['news']['note'])}</p>"
        f"<img alt='equity and drawdown' src='data:image/png;base64,{image}'>"
        "<h2>Metrics</h2>" + _html_table(scalars, ["metric", "value"])
        + "<h2>Buy-and-hold BTC, same span</h2>" + _html_table(bh, ["metric", "value"])
        + "<h2>Per symbol</h2>"
        + _html_table(m["per_symbol"], list(m["per_symbol"][0]) if m["per_symbol"] else [])
        + "<h2>Exit reasons</h2>"
        + _html_table(m["exit_reasons"], ["exit_reason", "fills", "pnl", "avg_r_multiple"])
        + f"<h2>Warnings</h2><ul>{warnings}</ul>"
        + f"<h2>Trades ({len(doc['trades'])} exit fills)</h2>"
        + _html_table(doc["trades"], list(TRADE_FIELDS))
        + "<h2>Assumptions</h2>"
        + _html_table(
            [{"assumption": k, "value": v} for k, v in doc["assumptions"].items()],
            ["assumption", "value"],
        )
        + "</body></html>"
    )


def write_report(
    doc: dict[str, Any], folder: Path, bench: list[tuple[str, float]] | None = None
) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "trades": folder / "trades.csv",
        "png": folder / "equity.png",
        "html": folder / "report.html",
        "json": folder / "backtest.json",
    }
    write_trades_csv(doc, paths["trades"])
    png = equity_png(doc, bench)
    paths["png"].write_bytes(png)
    paths["html"].write_text(report_html(doc, png), encoding="utf-8")
    paths["json"].write_text(dumps(doc) + "\n", encoding="utf-8")
    return paths
