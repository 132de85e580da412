"""`sextant close SYMBOL` / `sextant close --all`: manual exits through the same path as every
other exit (the broker of SEXTANT_MODE, the store, the broadcaster); the dashboard's close
button takes the same path (runtime/once.py: close_positions, close_held)."""

import argparse
import asyncio
import json
import sys
from typing import Any

from cli.common import EXIT_FAILED, EXIT_OK, add_config_arg, settings_from
from sextant.config import ConfigError, normalise_symbol


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("close", help="close a position (or all) at market, reason 'manual'")
    p.add_argument("symbol", nargs="?", help="symbol to close, e.g. BTC or BTC/USDT:USDT")
    p.add_argument("--all", action="store_true", help="close every open position")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    add_config_arg(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if bool(args.symbol) == bool(args.all):
        raise ConfigError("close: give one SYMBOL or --all")
    settings = settings_from(args)
    symbols = None if args.all else [normalise_symbol(args.symbol)]
    return asyncio.run(_close(args, settings, symbols))


async def _close(args: argparse.Namespace, settings: Any, symbols: list[str] | None) -> int:
    from execution.report import close_document
    from runtime.once import close_positions

    result = await close_positions(settings, symbols)
    if result.missing:
        assert symbols is not None
        print(f"sextant close: no open position on {symbols[0]}", file=sys.stderr)
        return EXIT_FAILED
    if result.posting_error is not None:
        print(f"sextant close: posting failed: {result.posting_error}", file=sys.stderr)
    doc = close_document(result.activity)
    closed = doc["closed"]
    if args.json:
        print(json.dumps(doc, indent=2))
    elif not closed:
        print("nothing to close")
    else:
        for c in closed:
            print(
                f"closed {c['side']} {c['symbol']} {c['quantity']} @ {c['price']} "
                f"({c['reason']}), PnL {c['pnl']:+.2f}, fee {c['fee']:.2f}"
            )
    return EXIT_OK
