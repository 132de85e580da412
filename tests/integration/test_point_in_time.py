"""Point in time: changing replay data after `as_of` changes no snapshot and no signal."""

import asyncio
import gzip
import io
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from runtime.cycle import run_cycle
from runtime.services import build_services
from sextant.config import load_settings

AS_OF = datetime(2025, 4, 7, 15, 0, tzinfo=UTC)  # mid-crash in-sample: plenty happens after it
SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "DOGE/USDT:USDT"]


def rewrite(path: Path, fn) -> None:
    df = pd.read_csv(path)
    df = fn(df)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as g:
        g.write(df.to_csv(index=False).encode())
    path.write_bytes(buf.getvalue())


def perturb_after(data_dir: Path, cutoff_ms: int) -> None:
    for path in (data_dir / "futures").glob("*.csv.gz"):

        def scramble(df: pd.DataFrame) -> pd.DataFrame:
            later = df["timestamp_ms"] >= cutoff_ms
            for col, factor in (("open", 1.7), ("high", 2.5), ("low", 0.3), ("close", 0.4)):
                df.loc[later, col] = df.loc[later, col] * factor
            df.loc[later, "volume"] = df.loc[later, "volume"] * 50
            return df

        rewrite(path, scramble)
    for path in (data_dir / "funding").glob("*.csv.gz"):

        def flip(df: pd.DataFrame) -> pd.DataFrame:
            df.loc[df["timestamp_ms"] > cutoff_ms, "funding_rate"] = 0.05
            return df

        rewrite(path, flip)


def cycle(data_dir: Path) -> dict:
    settings = load_settings(market={"data_dir": data_dir})
    services = build_services(settings)
    state, _ = asyncio.run(run_cycle(services, as_of=AS_OF, symbols=SYMBOLS))
    return {
        "signals": [s.model_dump(mode="json") for s in state["signals"]],
        "universe": [u.model_dump(mode="json") for u in state["universe"].values()],
        "candles": {
            s: {tf: cf.df.to_json() for tf, cf in snap.candles.items()}
            for s, snap in state["snapshots"].items()
        },
    }


def test_data_after_as_of_changes_nothing(bundled_dir: Path, data_copy: Path) -> None:
    # Bars that open at or after as_of close after it: the 1h bar opening at 14:00 closes at
    # as_of and is visible; everything from 15:00 on is scrambled.
    perturb_after(data_copy, int(AS_OF.timestamp() * 1000))
    original, scrambled = cycle(bundled_dir), cycle(data_copy)
    assert original["candles"] == scrambled["candles"]
    assert original["universe"] == scrambled["universe"]
    assert original["signals"] == scrambled["signals"]


def test_the_perturbation_is_visible_once_as_of_moves_past_it(data_copy: Path) -> None:
    # Guard against a vacuous test: the scrambled bars do change a later cycle.
    perturb_after(data_copy, int(AS_OF.timestamp() * 1000))
    settings = load_settings(market={"data_dir": data_copy})
    services = build_services(settings)
    later = AS_OF.replace(hour=18)
    state, _ = asyncio.run(run_cycle(services, as_of=later, symbols=SYMBOLS[:1]))
    last_close = state["snapshots"]["BTC/USDT:USDT"].candles["1h"].df["close"].iloc[-1]
    base = load_settings()
    state0, _ = asyncio.run(run_cycle(build_services(base), as_of=later, symbols=SYMBOLS[:1]))
    assert last_close != state0["snapshots"]["BTC/USDT:USDT"].candles["1h"].df["close"].iloc[-1]
