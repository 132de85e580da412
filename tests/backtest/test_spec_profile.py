"""The `spec` profile trades exactly as Sextant did before profiles and the new rules existed.

The golden values are those of `sextant backtest --from 2025-06-01 --json` on the bundled data,
captured on main before any of this was built (commit 7605e5b): the same trades, the same
equity curve, the same open positions, byte for byte (a SHA-256 of their JSON), and the same
headline figures.
"""

import hashlib
import json
from datetime import UTC, datetime

from backtest.engine import Backtest, BacktestRequest
from backtest.report import document
from sextant.config import DEFAULT_WATCHLIST, load_settings
from tools.market_data.replay import ReplayMarketData

GOLDEN_SHA256 = "d4b369d82de2152c0be4ccda4b395596f1ee1e69ee431233e0e0efb185dc6b43"
GOLDEN = {
    "total_return_pct": -18.9364, "sharpe": -0.2727, "sortino": -0.4119,
    "max_drawdown_pct": -37.3319, "trades": 530, "exit_fills": 637, "fees_paid": 1923.4098,
    "funding_paid": 154.5211, "final_equity": 8106.3612, "win_rate_pct": 28.1132,
    "profit_factor": 0.9191, "expectancy_r": -0.017,
}


def test_spec_profile_reproduces_the_pre_profile_backtest() -> None:
    settings = load_settings(profile="spec")
    start = datetime(2025, 6, 1, tzinfo=UTC)
    end = ReplayMarketData(settings).data_end(DEFAULT_WATCHLIST)
    doc = document(Backtest(settings, BacktestRequest(start, end, DEFAULT_WATCHLIST)).run())
    assert (doc["from"], doc["to"]) == ("2025-06-01T00:00:00Z", "2026-05-16T11:00:00Z")
    assert doc["profile"] == "spec"
    m = doc["metrics"]
    assert {k: m[k] for k in GOLDEN} == GOLDEN
    blob = json.dumps([doc["trades"], doc["equity"], doc["open_positions"]], sort_keys=True)
    assert hashlib.sha256(blob.encode()).hexdigest() == GOLDEN_SHA256
