"""Math Engine benchmark: 100 symbols x 3 timeframes x 500 bars through the per-cycle path.

Run: .venv/bin/python benchmarks/math_engine.py   (not part of the test suite)
"""

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sextant.config import load_settings  # noqa: E402
from sextant.config.market import BUNDLED_DATA_DIR  # noqa: E402
from sextant.math_engine import analyze, analyze_series, resample_ohlcv  # noqa: E402
from tools.market_data import csv_store  # noqa: E402

BASES = ["BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "LTC", "LINK", "AVAX", "DOT"]


def main() -> None:
    settings = load_settings().math
    frames_by_symbol = {}
    for b in BASES:
        h1 = csv_store.read_frame(csv_store.ohlcv_path(BUNDLED_DATA_DIR, f"{b}/USDT:USDT", "1h"))
        frames_by_symbol[b] = {
            "1h": h1,
            "4h": resample_ohlcv(h1, "4h"),
            "1d": resample_ohlcv(h1, "1d"),
        }
    # 100 symbols: each bundled series at 10 different end points, 500 bars per timeframe.
    inputs = []
    for fr in frames_by_symbol.values():
        for k in range(10):
            inputs.append(
                {tf: df.iloc[len(df) - 500 - 7 * k : len(df) - 7 * k] for tf, df in fr.items()}
            )
    analyze("WARM", inputs[0], None, settings)
    start = time.perf_counter()
    for i, frames in enumerate(inputs):
        analyze(f"S{i}", frames, None, settings)
    per_cycle = time.perf_counter() - start
    print(
        f"per-cycle analyze: {len(inputs)} symbols x 3 timeframes x 500 bars "
        f"in {per_cycle:.3f} s ({per_cycle / len(inputs) * 1000:.2f} ms per symbol)"
    )

    year = {
        b: {tf: df.loc["2025-06-01":"2026-05-31"] if tf == "1h" else df for tf, df in fr.items()}
        for b, fr in frames_by_symbol.items()
    }
    start = time.perf_counter()
    rows = sum(len(analyze_series(fr, None, settings)) for fr in year.values())
    series = time.perf_counter() - start
    print(
        f"vectorised analyze_series: {rows} symbol-hours in {series:.3f} s "
        f"({series / rows * 1e6:.1f} us per symbol-hour)"
    )


if __name__ == "__main__":
    main()
