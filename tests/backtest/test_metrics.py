"""Performance figures on small hand-made equity curves."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from backtest.metrics import daily_returns, ratios

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def curve(values: list[float], step_hours: int = 12) -> tuple[list[datetime], np.ndarray]:
    return [T0 + timedelta(hours=step_hours * i) for i in range(len(values))], np.array(values)


def test_daily_returns_use_utc_midnights_and_the_ends() -> None:
    times, values = curve([100, 90, 110, 121, 99])  # 00:00, 12:00, 00:00, 12:00, 00:00
    r = daily_returns(times, values)
    assert r == pytest.approx([110 / 100 - 1, 99 / 110 - 1])


def test_drawdown_depth_dates_and_duration() -> None:
    # peak 120 at 12:00 day 1, trough 90 at 12:00 day 2 (-25 %), back to 120 at 00:00 day 4
    times, values = curve([100, 120, 100, 90, 110, 115, 120, 130])
    m = ratios(times, values)
    assert m["max_drawdown_pct"] == pytest.approx(-25.0)
    assert m["max_drawdown_peak"] == "2025-01-01T12:00:00Z"
    assert m["max_drawdown_trough"] == "2025-01-02T12:00:00Z"
    assert m["max_drawdown_recovered"] is True
    assert m["max_drawdown_duration_hours"] == 60.0  # 12:00 day 1 -> 00:00 day 4
    assert m["longest_drawdown_hours"] == 60.0
    assert m["total_return_pct"] == pytest.approx(30.0)


def test_sharpe_sortino_cagr_calmar_by_hand() -> None:
    values = [100, 110, 99, 108.9]  # daily: +10 %, -10 %, +10 %
    times, arr = curve(values, step_hours=24)
    m = ratios(times, arr)
    r = np.array([0.1, -0.1, 0.1])
    sharpe = r.mean() / r.std(ddof=1) * math.sqrt(365)
    sortino = r.mean() / math.sqrt((0.1**2) / 3) * math.sqrt(365)
    assert m["sharpe"] == pytest.approx(sharpe, abs=1e-4)
    assert m["sortino"] == pytest.approx(sortino, abs=1e-4)
    years = 3 / 365.25
    cagr = 1.089 ** (1 / years) - 1
    assert m["cagr_pct"] == pytest.approx(cagr * 100, rel=1e-6)
    assert m["calmar"] == pytest.approx(cagr / 0.1, rel=1e-4)
    assert m["max_drawdown_recovered"] is False  # 108.9 < 110 at the end


def test_flat_curve_has_no_ratios() -> None:
    times, values = curve([100, 100, 100])
    m = ratios(times, values)
    assert m["total_return_pct"] == 0.0
    assert m["sharpe"] is None and m["sortino"] is None and m["calmar"] is None
    assert m["max_drawdown_pct"] == 0.0 and m["max_drawdown_duration_hours"] == 0.0
