"""`sextant run --once`: one analysis cycle, as a table or one JSON document."""

import argparse
import asyncio
import sys
from typing import Any

from cli.common import (
    EXIT_CONFIG,
    EXIT_OK,
    add_config_arg,
    default_as_of,
    parse_time,
    settings_from,
)


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
    from runtime.cycle import run_cycle
    from runtime.services import build_services

    if not args.once:
        print("sextant run needs --once (the 24/7 process is `sextant loop`)", file=sys.stderr)
        return EXIT_CONFIG
    settings = settings_from(args)
    as_of = parse_time(args.as_of) if args.as_of else None

    async def go() -> int:
        services = build_services(settings)
        if args.no_trade:
            try:
                state, total = await run_cycle(
                    services, as_of=as_of, symbols=list(settings.watchlist)
                )
            finally:
                await services.aclose()
            doc = cycle_document(state, settings, total)
        else:
            doc = await trade_once(services, settings, as_of)
        print(dumps(doc) if args.json else table(doc))
        return EXIT_OK

    return asyncio.run(go())


async def trade_once(services: Any, settings: Any, as_of: Any) -> dict[str, Any]:
    """Monitor the book up to as_of, run the cycle, execute it (paper in dry_run)."""
    from cli.output import cycle_document
    from execution.report import latest_orders, order_doc, position_doc
    from runtime.factory import build_engine
    from runtime.hour import trading_hour
    from sextant.clock import SystemClock

    engine = build_engine(settings)
    try:
        await engine.start()
        watch = list(settings.watchlist)
        if as_of is None:
            as_of = await default_as_of(services.market, watch)
        state, total, act = await trading_hour(
            services, engine, as_of=as_of, symbols=watch, wall=SystemClock()
        )
        touched = dict(act.positions)
        for pos in engine.store.open_positions():
            touched[pos.position_id] = pos
    finally:
        await engine.aclose()
        await services.aclose()
        engine.store.close()
    doc = cycle_document(state, settings, total)
    doc["positions"] = [position_doc(p) for p in sorted(
        touched.values(), key=lambda p: (p.opened_at, p.position_id)
    )]
    doc["orders"] = [order_doc(o) for o in latest_orders(act.orders)]
    return doc
