"""Performance figures of a backtest result, and buy-and-hold BTC over the same span.

Conventions (also in the README):
- returns and drawdowns are measured on the hourly, mark-to-market equity curve;
- Sharpe and Sortino use daily returns (equity at each UTC midnight), annualised with sqrt(365)
  (crypto trades every day), risk-free rate 0; Sortino's downside deviation is
  sqrt(mean(min(r, 0)^2)) over all days;
- CAGR annualises over 365.25 days; Calmar = CAGR / |max drawdown|;
- a trade is a closed position (its exit fills summed); win rate, profit factor, expectancy and
  holding time are over closed positions, net of fees and funding; expectancy_r divides each
  position's net PnL by its initial risk (R), expectancy_r_gross uses the price move only.
"""

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from backtest.engine import BacktestResult
from sextant.models import iso_z

HOURS_PER_YEAR = 24 * 365.25


def _r(x: float | Decimal | None, digits: int = 4) -> float | None:
    if x is None:
        return None
    value = float(x)
    return round(value, digits) if np.isfinite(value) else None


def daily_returns(times: list[datetime], values: np.ndarray) -> np.ndarray:
    """Returns between the equity at consecutive UTC midnights (the first point and the last
    point count as day boundaries too)."""
    keep = [0] + [i for i, t in enumerate(times) if t.hour == 0 and 0 < i < len(times) - 1]
    keep.append(len(times) - 1)
    marks = values[sorted(set(keep))]
    return marks[1:] / marks[:-1] - 1 if len(marks) > 1 else np.zeros(0)


def longest_drawdown_hours(times: list[datetime], values: np.ndarray) -> float:
    """The longest time from a peak to the first point back at it (or to the end)."""
    longest = 0.0
    peak, peak_at, under = values[0], times[0], False
    for t, v in zip(times, values.tolist(), strict=True):
        if v >= peak:
            if under:
                longest = max(longest, (t - peak_at).total_seconds() / 3600)
            peak, peak_at, under = v, t, False
        else:
            under = True
    if under:
        longest = max(longest, (times[-1] - peak_at).total_seconds() / 3600)
    return longest


def ratios(times: list[datetime], values: np.ndarray) -> dict[str, Any]:
    """Return, CAGR, Sharpe, Sortino, max drawdown (depth, dates, duration), Calmar."""
    out: dict[str, Any] = {}
    if len(values) < 2 or values[0] <= 0:
        return {
            "total_return_pct": None,
            "cagr_pct": None,
            "sharpe": None,
            "sortino": None,
            "calmar": None,
            "max_drawdown_pct": None,
            "max_drawdown_peak": None,
            "max_drawdown_trough": None,
            "max_drawdown_recovered": None,
            "max_drawdown_duration_hours": None,
            "longest_drawdown_hours": None,
        }
    years = (times[-1] - times[0]).total_seconds() / 3600 / HOURS_PER_YEAR
    growth = values[-1] / values[0]
    out["total_return_pct"] = _r((growth - 1) * 100)
    cagr = growth ** (1 / years) - 1 if years > 0 and growth > 0 else None
    out["cagr_pct"] = _r(cagr * 100) if cagr is not None else None
    daily = daily_returns(times, values)
    sd = float(np.std(daily, ddof=1)) if len(daily) > 1 else 0.0
    out["sharpe"] = _r(float(np.mean(daily)) / sd * np.sqrt(365)) if sd > 0 else None
    downside = float(np.sqrt(np.mean(np.minimum(daily, 0) ** 2))) if len(daily) else 0.0
    out["sortino"] = _r(float(np.mean(daily)) / downside * np.sqrt(365)) if downside > 0 else None
    peak = np.maximum.accumulate(values)
    dd = values / peak - 1
    trough = int(np.argmin(dd))
    depth = float(dd[trough])
    peak_at = int(np.flatnonzero(values[: trough + 1] == peak[trough])[0])
    after = np.flatnonzero(values[trough:] >= peak[trough])
    recovered = bool(len(after)) and depth < 0
    end_at = trough + int(after[0]) if recovered else len(values) - 1
    out["max_drawdown_pct"] = _r(depth * 100)
    out["max_drawdown_peak"] = iso_z(times[peak_at]) if depth < 0 else None
    out["max_drawdown_trough"] = iso_z(times[trough]) if depth < 0 else None
    out["max_drawdown_recovered"] = recovered if depth < 0 else None
    out["max_drawdown_duration_hours"] = (
        _r((times[end_at] - times[peak_at]).total_seconds() / 3600, 2) if depth < 0 else 0.0
    )
    out["longest_drawdown_hours"] = _r(longest_drawdown_hours(times, values), 2)
    out["calmar"] = (
        _r(cagr / abs(depth)) if cagr is not None and depth < 0 else None
    )
    return out


def buy_and_hold(result: BacktestResult) -> dict[str, Any]:
    """The reference symbol bought at the first close of the span and held (1x, no costs)."""
    symbol = result.settings.market.reference_symbol
    if len(result.btc) < 2:
        return {"symbol": symbol, "available": False}
    # bought at the open of the reference's first bar in the span (the span's start unless its
    # data starts later), at that bar's close
    times = [result.btc[0][0] - timedelta(hours=1)] + [t for t, _ in result.btc]
    prices = np.array([result.btc[0][1]] + [p for _, p in result.btc])
    out = {"symbol": symbol, "available": True, "start_price": prices[0], "end_price": prices[-1]}
    figures = ratios(times, prices)
    for key in ("total_return_pct", "cagr_pct", "sharpe", "sortino", "max_drawdown_pct"):
        out[key] = figures[key]
    return out


def _trade_table(result: BacktestResult) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    per_symbol: dict[str, dict[str, Any]] = {
        s: {"trades": 0, "wins": 0, "net_pnl": Decimal(0), "fees": Decimal(0),
            "funding": Decimal(0), "r": []}
        for s in result.symbols
    }
    for p in result.positions:
        row = per_symbol[p.position.symbol]
        row["trades"] += 1
        row["wins"] += int(p.net_pnl > 0)
        row["r"].append(float(p.r_net))
    for t in result.trades:
        row = per_symbol[t.symbol]
        row["net_pnl"] += t.pnl
        row["fees"] += t.fees
        row["funding"] += t.funding
    symbols = []
    for s, row in per_symbol.items():
        n = row["trades"]
        symbols.append(
            {
                "symbol": s,
                "trades": n,
                "win_rate_pct": _r(row["wins"] / n * 100) if n else None,
                "net_pnl": _r(row["net_pnl"]),
                "fees": _r(row["fees"]),
                "funding": _r(row["funding"]),
                "expectancy_r": _r(float(np.mean(row["r"]))) if n else None,
            }
        )
    reasons: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"fills": 0, "pnl": Decimal(0), "r": []}
    )
    for t in result.trades:
        row = reasons[t.exit_reason]
        row["fills"] += 1
        row["pnl"] += t.pnl
        row["r"].append(float(t.r_multiple))
    exits = [
        {
            "exit_reason": reason,
            "fills": row["fills"],
            "pnl": _r(row["pnl"]),
            "avg_r_multiple": _r(float(np.mean(row["r"]))),
        }
        for reason, row in sorted(reasons.items(), key=lambda kv: (-kv[1]["fills"], kv[0]))
    ]
    return symbols, exits


def compute_metrics(result: BacktestResult) -> dict[str, Any]:
    times = [t for t, _ in result.equity]
    values = np.array([float(v) for _, v in result.equity])
    m: dict[str, Any] = {
        "initial_equity": _r(values[0]),
        "final_equity": _r(values[-1]),
    }
    m.update(ratios(times, values))
    closed = result.positions
    pnls = [p.net_pnl for p in closed]
    wins = [x for x in pnls if x > 0]
    losses = [x for x in pnls if x < 0]
    m["trades"] = len(closed)
    m["exit_fills"] = len(result.trades)
    m["open_positions"] = len(result.open_positions)
    m["win_rate_pct"] = _r(len(wins) / len(closed) * 100) if closed else None
    m["profit_factor"] = _r(sum(wins) / -sum(losses)) if losses else None
    m["expectancy_r"] = _r(float(np.mean([float(p.r_net) for p in closed]))) if closed else None
    m["expectancy_r_gross"] = (
        _r(float(np.mean([float(p.r_gross) for p in closed]))) if closed else None
    )
    m["expectancy_usdt"] = _r(sum(pnls) / len(closed)) if closed else None
    m["avg_holding_hours"] = _r(float(np.mean([p.hours for p in closed])), 2) if closed else None
    hours = max(result.hours_done, 1)
    m["exposure_pct"] = _r(result.exposure_hours / hours * 100)
    m["avg_gross_exposure"] = (
        _r(float(np.mean(result.gross_exposure))) if result.gross_exposure else 0.0
    )
    m["fees_paid"] = _r(result.fees)
    m["funding_paid"] = _r(result.funding)
    m["hours"] = result.hours_done
    m["symbol_hours"] = result.symbol_hours
    m["risk_evaluations"] = result.decisions
    m["entries"] = sum(1 for f in result.fills if f.kind == "entry")
    m["per_symbol"], m["exit_reasons"] = _trade_table(result)
    m["buy_and_hold_btc"] = buy_and_hold(result)
    return m
