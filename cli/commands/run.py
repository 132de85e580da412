"""`sextant run --once`: one analysis cycle, as a table or one JSON document."""

import argparse
import asyncio

from cli.common import EXIT_OK, add_config_arg, parse_time, settings_from
from sextant.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run the analysis cycle")
    run.add_argument("--once", action="store_true", help="a single cycle, then exit")
    run.add_argument("--json", action="store_true", help="one JSON document on stdout")
    run.add_argument("--symbols", help="comma-separated symbols, overriding the watchlist")
    run.add_argument("--as-of", dest="as_of", help="ISO 8601 time to analyse (replay)")
    run.add_argument(
        "--no-trade",
        dest="no_trade",
        action="store_true",
        help="analyse only: record intents, open and manage no position",
    )
    add_config_arg(run)
    run.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from cli.output import cycle_document, dumps, table
    from execution.report import latest_orders, order_doc, position_doc
    from runtime.once import analyse_once, trade_once

    if not args.once:
        raise ConfigError("run needs --once (the 24/7 process is `sextant loop`)", field="--once")
    settings = settings_from(args)
    as_of = parse_time(args.as_of) if args.as_of else None
    if args.no_trade:
        result = asyncio.run(analyse_once(settings, as_of))
        doc = cycle_document(result.state, settings, result.total_ms)
    else:
        result = asyncio.run(trade_once(settings, as_of))
        doc = cycle_document(result.state, settings, result.total_ms)
        # widened to everything the run did, monitor included, and every open position
        doc["positions"] = [position_doc(p) for p in result.positions]
        doc["orders"] = [order_doc(o) for o in latest_orders(result.activity.orders)]
    print(dumps(doc) if args.json else table(doc))
    return EXIT_OK
