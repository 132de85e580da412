"""`sextant data download`: Bybit 1h klines and funding history into the replay CSV layout."""

import argparse
import asyncio
import sys
from pathlib import Path

from cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_config_arg,
    parse_time,
    settings_from,
)
from sextant.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="market data for backtests")
    actions = data.add_subparsers(dest="data_command", required=True)
    dl = actions.add_parser(
        "download",
        help="fetch Bybit 1h klines and funding history (needs network)",
        description="Fetches closed 1h klines and the funding history of USDT perpetuals from "
        "Bybit through ccxt into DIR/futures/BASE_USDT-1h.csv and DIR/funding/"
        "BASE_USDT-funding.csv (merged with what is there), plus the trading rules in "
        "DIR/markets.json. `sextant backtest --data-dir DIR` reads them.",
    )
    dl.add_argument("--symbols", required=True, help="comma-separated symbols (BTC,ETH,...)")
    dl.add_argument("--since", required=True, help="ISO 8601 start (UTC)")
    dl.add_argument("--until", help="ISO 8601 end (UTC); default: now")
    dl.add_argument(
        "--data-dir",
        dest="data_dir",
        type=Path,
        help="target folder; default: <SEXTANT_STATE_DIR>/data",
    )
    add_config_arg(dl)
    dl.set_defaults(handler=handle_download)


def handle_download(args: argparse.Namespace) -> int:
    from backtest.download import Downloader, DownloadError, SymbolDownload, check_target
    from sextant.clock import SystemClock

    settings = settings_from(args)
    symbols = list(settings.watchlist)
    # Dates first: a wrong span never reaches the exchange.
    since = parse_time(args.since, "--since")
    until = parse_time(args.until, "--until") if args.until else None
    if until is not None and until <= since:
        raise ConfigError(f"--until: {args.until} is not after --since {args.since}",
                          field="--until")
    if since >= SystemClock().now():
        raise ConfigError(f"--since: {args.since} is in the future", field="--since")
    data_dir = args.data_dir or settings.state_dir / "data"
    try:
        check_target(data_dir)
    except DownloadError as exc:
        raise ConfigError(str(exc), field="--data-dir") from None

    def report(item: SymbolDownload) -> None:
        if item.error:
            print(f"{item.symbol}: FAILED: {item.error}", file=sys.stderr)
        else:
            span = (
                f"{item.first:%Y-%m-%d %H:%M} .. {item.last:%Y-%m-%d %H:%M}" if item.bars else "-"
            )
            print(
                f"{item.symbol}: {item.bars} 1h bars ({span}), {item.funding} funding rates",
                file=sys.stderr,
            )

    async def go() -> int:
        downloader = Downloader(settings)
        try:  # a DownloadError goes up to the exit-code table (1, its message)
            summary = await downloader.run(symbols, since, until, data_dir, report)
        finally:
            await downloader.aclose()
        print(
            f"sextant: {summary.requests} requests; data up to {summary.until:%Y-%m-%d %H:%M} "
            f"UTC in {data_dir}",
            file=sys.stderr,
        )
        return EXIT_FAILED if any(s.error for s in summary.symbols) else EXIT_OK

    return asyncio.run(go())
