"""The backtester: the live pipeline (Math Engine, Risk Manager, position lifecycle) replayed
over recorded data, vectorised where the work is elementwise over bars.

`run_backtest(settings, BacktestRequest(...)) -> BacktestResult`; `report.document(result)`
is the `sextant.backtest/1` JSON document. CLI: `sextant backtest`, `sextant data download`.
"""

from backtest.engine import Backtest, BacktestRequest, BacktestResult, run_backtest

__all__ = ["Backtest", "BacktestRequest", "BacktestResult", "run_backtest"]
