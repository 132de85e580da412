"""Build `data/history/`: the in-sample 1h history of the five long-lived perpetuals.

    python scripts/bundle_history.py /path/to/shared/data

Cuts BTC, ETH, XRP, ADA and LTC (1h candles and funding) from the project's shared data set to
the in-sample span [2020-01-01, 2025-06-01) and writes them xz-compressed (CSV rows
byte-identical to the source rows; xz because it is about 25 % smaller than gzip here and
pandas reads it natively). MANIFEST.csv records, per file, its rows, first/last time, the
SHA-256 of the uncompressed CSV written and of the shared file it was cut from, and the
shared file's own provenance (repository, path, commit, license) from the shared MANIFEST.
Running it again on the same input gives byte-identical files.
"""

import csv
import hashlib
import lzma
import sys
from datetime import UTC, datetime
from pathlib import Path

SYMBOLS = ("BTC", "ETH", "XRP", "ADA", "LTC")
START_MS = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp() * 1000)
END_MS = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp() * 1000)  # exclusive: OOS starts here
OUT = Path(__file__).resolve().parents[1] / "data" / "history"
FIELDS = ("file", "source_file", "kind", "symbol", "timeframe", "rows", "first", "last",
          "sha256_csv", "source_sha256", "source_repo", "source_path", "source_commit",
          "source_license")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def cut(source: Path) -> tuple[bytes, int, int, int]:
    lines = source.read_text(encoding="utf-8").splitlines()
    keep = [ln for ln in lines[1:] if START_MS <= int(ln.split(",", 1)[0]) < END_MS]
    if not keep:
        raise SystemExit(f"{source}: no rows in the span")
    text = (lines[0] + "\n" + "\n".join(keep) + "\n").encode()
    first, last = int(keep[0].split(",", 1)[0]), int(keep[-1].split(",", 1)[0])
    return text, len(keep), first, last


def main(shared: Path) -> None:
    with (shared / "MANIFEST.csv").open(encoding="utf-8") as fh:
        origin = {row["file"]: row for row in csv.DictReader(fh)}
    rows = []
    for base in SYMBOLS:
        for kind, sub, name, tf in (
            ("ohlcv", "futures", f"{base}_USDT-1h.csv", "1h"),
            ("funding", "funding", f"{base}_USDT-funding.csv", "8h"),
        ):
            rel = f"{sub}/{name}"
            src = shared / rel
            text, n, first, last = cut(src)
            target = OUT / f"{rel}.xz"
            target.parent.mkdir(parents=True, exist_ok=True)
            # No timestamps in the xz container: the same input gives the same bytes.
            target.write_bytes(lzma.compress(text, preset=9 | lzma.PRESET_EXTREME))
            o = origin.get(rel, {})
            rows.append({
                "file": f"{rel}.xz", "source_file": rel, "kind": kind,
                "symbol": f"{base}/USDT:USDT", "timeframe": tf, "rows": n,
                "first": _iso(first), "last": _iso(last),
                "sha256_csv": hashlib.sha256(text).hexdigest(),
                "source_sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
                "source_repo": o.get("source_repo", ""), "source_path": o.get("source_path", ""),
                "source_commit": o.get("source_commit", ""),
                "source_license": o.get("source_license", ""),
            })
    with (OUT / "MANIFEST.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"{len(rows)} files, {total / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
