"""`sextant status [--json]`: equity, open positions, today's PnL, circuit breaker, last cycle.

Read-only: it reads the database (and the loop's heartbeat) and never calls the exchange.
Paper equity is derived from the book; on Bybit it is the last equity the loop observed.
"""

import argparse
import json

from cli.common import EXIT_OK, add_config_arg, settings_from


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="equity, open positions, today's PnL, circuit breaker")
    p.add_argument("--json", action="store_true", help="one JSON document (sextant.status/1)")
    add_config_arg(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from execution.report import status_table
    from runtime.once import book_status

    doc = book_status(settings_from(args))
    print(json.dumps(doc, indent=2) if args.json else status_table(doc))
    return EXIT_OK
