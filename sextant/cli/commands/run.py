"""`sextant run --once`: one analysis cycle, as a table or one JSON document."""

import argparse
import asyncio
import sys

from sextant.cli.common import EXIT_CONFIG, EXIT_OK, add_config_arg, parse_time, settings_from


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run the analysis cycle")
    run.add_argument("--once", action="store_true", help="a single cycle, then exit")
    run.add_argument("--json", action="store_true", help="one JSON document on stdout")
    run.add_argument("--symbols", help="comma-separated symbols, overriding the watchlist")
    run.add_argument("--as-of", dest="as_of", help="ISO 8601 time to analyse (replay)")
    add_config_arg(run)
    run.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from graph.services import build_services
    from sextant.cli.cycle import run_cycle
    from sextant.cli.output import cycle_document, dumps, table

    if not args.once:
        print("sextant run needs --once (the 24/7 process is `sextant loop`)", file=sys.stderr)
        return EXIT_CONFIG
    settings = settings_from(args)
    as_of = parse_time(args.as_of) if args.as_of else None

    async def go() -> int:
        services = build_services(settings)
        try:
            state, total = await run_cycle(services, as_of=as_of, symbols=list(settings.watchlist))
        finally:
            await services.aclose()
        doc = cycle_document(state, settings, total)
        print(dumps(doc) if args.json else table(doc))
        return EXIT_OK

    return asyncio.run(go())
