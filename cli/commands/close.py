"""`sextant close SYMBOL` / `sextant close --all`: manual exits through the same path as every
other exit (the broker of SEXTANT_MODE, the store, the broadcaster)."""

import argparse
import asyncio
import json
import sys
from typing import Any

from cli.common import EXIT_FAILED, EXIT_OK, add_config_arg, settings_from
from sextant.config import ConfigError, normalise_symbol
from sextant.models import iso_z


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
    from execution.report import position_doc
    from runtime.factory import build_engine
    from runtime.services import build_services
    from sextant.clock import SystemClock

    engine = build_engine(settings)
    services = build_services(settings)
    try:
        await engine.start()
        held = {p.symbol for p in engine.store.open_positions()}
        if symbols is not None and not held & set(symbols):
            print(f"sextant close: no open position on {symbols[0]}", file=sys.stderr)
            return EXIT_FAILED
        # Replay books live on the data's time; a live market on the wall clock.
        now = SystemClock().now()
        if settings.market.source == "replay":
            now = engine.book_time() or now
        act = await engine.close(symbols, now=now, reason="manual")
        if act.exits:
            try:
                await services.broadcaster.publish_exits(act.exit_events)
            except Exception as exc:  # a failing notifier never undoes a close
                print(f"sextant close: posting failed: {exc}", file=sys.stderr)
    finally:
        await engine.aclose()
        await services.aclose()
        engine.store.close()
    closed = [
        {
            "position_id": f.position_id,
            "symbol": f.symbol,
            "side": f.side,
            "reason": f.reason,
            "quantity": float(f.quantity),
            "price": float(f.price),
            "pnl": float(f.pnl),
            "fee": float(f.fee),
            "time": iso_z(f.time),
        }
        for _, f in act.exits
    ]
    if args.json:
        doc = {
            "schema": "sextant.close/1",
            "closed": closed,
            "positions": [position_doc(p) for p in act.positions.values()],
        }
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
