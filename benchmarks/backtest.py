"""Backtest benchmark: 10 symbols x one year of the bundled 1h perps through the full pipeline.

Prints the wall time (data loading, the vectorised Math Engine and final scores, the hour loop
with the Risk Manager and the position lifecycle, and the metrics), the symbol-hours per
second, the ratio against running the single-cycle path (`run_cycle`, the real graph) for every
hour (timed on a sample of hours and extrapolated), and the time of the `sextant backtest`
command end to end (a fresh process: interpreter start and imports included).

The bar: freqtrade on this machine class, same 10 pairs and year, a simple EMA-cross futures
strategy: 7.6 s wall.

    .venv/bin/python benchmarks/backtest.py [--runs 3] [--cycles 12]
"""

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backtest.engine import Backtest, BacktestRequest  # noqa: E402
from backtest.report import document  # noqa: E402
from graph.graph import build_graph  # noqa: E402
from runtime.cycle import run_cycle  # noqa: E402
from runtime.services import build_services  # noqa: E402
from sextant.config import load_settings  # noqa: E402
from tools.market_data import csv_store  # noqa: E402

START = datetime(2025, 6, 1, tzinfo=UTC)
END = datetime(2026, 6, 1, tzinfo=UTC)  # the bundled data ends mid-May 2026
FREQTRADE_S = 7.6


def one_run(settings, symbols) -> tuple[float, dict[str, float], object]:
    csv_store._read.cache_clear()  # every run reads the CSVs: nothing is warm but the imports
    t0 = time.perf_counter()
    engine = Backtest(settings, BacktestRequest(START, END, symbols))
    t1 = time.perf_counter()
    result = engine.run()
    t2 = time.perf_counter()
    document(result)
    t3 = time.perf_counter()
    phases = {"load + vectorised": t1 - t0, "hour loop": t2 - t1, "metrics + document": t3 - t2}
    return t3 - t0, phases, result


def cycle_seconds(settings, symbols, n: int) -> float:
    """Mean wall time of one real cycle (all symbols) over `n` hours spread over the span."""
    services = build_services(settings, quiet=True)
    graph = build_graph().compile()
    hours = int((datetime(2026, 5, 16, tzinfo=UTC) - START) / timedelta(hours=1))
    sample = [START + timedelta(hours=1 + i * hours // n) for i in range(n)]

    async def go() -> list[float]:
        out = []
        await run_cycle(services, as_of=sample[0], symbols=symbols, graph=graph)  # warm-up
        for as_of in sample:
            t = time.perf_counter()
            await run_cycle(services, as_of=as_of, symbols=symbols, graph=graph)
            out.append(time.perf_counter() - t)
        await services.aclose()
        return out

    return statistics.mean(asyncio.run(go()))


def cli_seconds() -> float:
    exe = Path(sys.executable).parent / "sextant"
    t = time.perf_counter()
    subprocess.run(
        [str(exe), "backtest", "--from", START.isoformat(), "--to", END.isoformat(), "--json",
         "--quiet"],
        check=True, stdout=subprocess.DEVNULL, cwd=ROOT,
    )
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=3, help="in-process runs (median reported)")
    p.add_argument("--cycles", type=int, default=12, help="sampled hours for the cycle path")
    args = p.parse_args()
    settings = load_settings()
    symbols = tuple(settings.watchlist)
    runs = [one_run(settings, symbols) for _ in range(args.runs)]
    walls = [w for w, _, _ in runs]
    wall = statistics.median(walls)
    _, phases, result = runs[walls.index(wall)]
    symbol_hours = result.symbol_hours
    per_cycle = cycle_seconds(settings, list(symbols), args.cycles)
    cycle_total = per_cycle * result.hours
    cli = cli_seconds()

    print(f"backtest: {len(result.symbols)} symbols, {START:%Y-%m-%d} .. {END:%Y-%m-%d} "
          f"({result.hours} hours, {symbol_hours} symbol-hours of data)")
    print(f"  wall (median of {args.runs}, in process) {wall:8.3f} s   "
          f"runs: {', '.join(f'{w:.3f}' for w in walls)}")
    for name, secs in phases.items():
        print(f"    {name:<22} {secs:8.3f} s")
    print(f"  symbol-hours per second       {symbol_hours / wall:10,.0f}   "
          f"({wall / symbol_hours * 1e6:.1f} us per symbol-hour)")
    print(f"  risk evaluations (full Risk Manager) {result.decisions}, trades "
          f"{len(result.positions)}")
    print(f"  `sextant backtest` end to end  {cli:8.3f} s   (fresh process, imports included)")
    print(f"  single-cycle path: {per_cycle * 1000:.1f} ms per hour (mean of {args.cycles} "
          f"sampled hours, 10 symbols) -> {cycle_total:,.0f} s for every hour")
    print(f"  ratio cycle-per-hour / backtest  {cycle_total / wall:8.0f}x")
    verdict = "PASS" if cli <= FREQTRADE_S else "FAIL"
    print(f"  target: <= {FREQTRADE_S} s (freqtrade, EMA cross, same data): {verdict} "
          f"(in process {wall:.2f} s, end to end {cli:.2f} s)")


if __name__ == "__main__":
    main()
