"""Collector benchmark: 30 symbols from a local Bybit v5 server with 50 ms latency per request.

Prints wall times concurrent vs one-at-a-time, their ratio, and the floor that latency and
Bybit's public rate limit (600 requests per 5 s per IP) allow:
    floor = max(requests / (600 / 5 s), latency x dependent steps)
and checks that no 5-second window ever held more requests than the configured budget.

Run: .venv/bin/python benchmarks/collector.py   (not part of the test suite)
"""

import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sextant.clock import FixedClock  # noqa: E402
from sextant.config import load_settings  # noqa: E402
from sextant.config.market import BUNDLED_DATA_DIR  # noqa: E402
from tests.fakes.bybit_v5 import FakeBybit, load_bundled_frames  # noqa: E402
from tools.market_data.bybit import BybitMarketData  # noqa: E402

LATENCY_S = 0.05
BYBIT_LIMIT, BYBIT_WINDOW_S = 600, 5.0
NOW = datetime(2026, 5, 16, 11, tzinfo=UTC)
BASES = ["BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "LTC", "LINK", "AVAX", "DOT"]
# Dependent round trips before the last data request can start: instruments-info,
# instruments-info(PreLaunch), tickers, then the per-symbol requests.
DEPENDENT_STEPS = 4


def thirty_symbols():  # type: ignore[no-untyped-def]
    """30 distinct symbols: the 10 bundled series, each also served under two aliases."""
    real = [f"{b}/USDT:USDT" for b in BASES]
    frames = load_bundled_frames(BUNDLED_DATA_DIR, real, start="2025-05-01")
    candles, funding = dict(frames.candles), dict(frames.funding)
    for b in BASES:
        for alias in (f"{b}X", f"{b}Y"):
            candles[f"{alias}/USDT:USDT"] = frames.candles[f"{b}/USDT:USDT"]
            funding[f"{alias}/USDT:USDT"] = frames.funding[f"{b}/USDT:USDT"]
    return candles, funding, dict(frames.open_interest)


async def run(fake: FakeBybit, symbols: list[str], max_in_flight: int) -> tuple[float, int, int]:
    settings = load_settings(
        market={
            "source": "bybit",
            "base_url": fake.base_url,
            "max_in_flight": max_in_flight,
        }
    )
    md = BybitMarketData(settings, clock=FixedClock(NOW))
    md.exchange.timeout_on_exit = 0
    fake.requests.clear()
    start = time.perf_counter()
    result = await md.collect(symbols, NOW)
    wall = time.perf_counter() - start
    await md.close()
    assert not result.errors, result.errors[:3]
    return wall, len(fake.requests), len(result.snapshots)


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def main() -> None:
    candles, funding, oi = thirty_symbols()
    symbols = sorted(candles)
    with FakeBybit(candles, funding, oi, now_ms=NOW, latency_s=LATENCY_S) as fake:
        asyncio.run(run(fake, symbols[:2], 16))  # warm-up (imports, first connections)
        serial, n_serial, _ = asyncio.run(run(fake, symbols, 1))
        conc, n_conc, got = asyncio.run(run(fake, symbols, 16))
        peak_window = max_in_window([r[0] for r in fake.requests], BYBIT_WINDOW_S)
        peak_in_flight = fake.max_in_flight
    rate = BYBIT_LIMIT / BYBIT_WINDOW_S
    floor = max(n_conc / rate, LATENCY_S * DEPENDENT_STEPS)
    print(f"symbols collected          {got}")
    print(f"requests per collection    {n_conc}")
    print(f"one at a time              {serial:7.3f} s")
    print(f"concurrent (16 in flight)  {conc:7.3f} s   speed-up {serial / conc:5.1f}x")
    print(
        f"floor max(req/rate, lat x steps) = max({n_conc}/{rate:.0f}/s, "
        f"{LATENCY_S}s x {DEPENDENT_STEPS}) = {floor:.3f} s"
    )
    print(f"concurrent / floor         {conc / floor:5.2f}x   (target <= 1.5x)")
    window = f"{BYBIT_WINDOW_S:.0f}s"
    print(f"peak requests in any {window} window: {peak_window} (Bybit limit {BYBIT_LIMIT})")
    print(f"peak requests in flight    {peak_in_flight}")
    assert n_serial == n_conc
    assert peak_window <= BYBIT_LIMIT


if __name__ == "__main__":
    main()
