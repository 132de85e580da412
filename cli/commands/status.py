"""`sextant status [--json]`: equity, open positions, today's PnL, circuit breaker, last cycle.

Read-only: it reads the database (and the loop's heartbeat) and never calls the exchange.
Paper equity is derived from the book; on Bybit it is the last equity the loop observed.
"""

import argparse
import json
from decimal import Decimal

from cli.common import EXIT_OK, add_config_arg, settings_from


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="equity, open positions, today's PnL, circuit breaker")
    p.add_argument("--json", action="store_true", help="one JSON document (sextant.status/1)")
    add_config_arg(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from execution.engine import book_equity
    from execution.report import status_document, status_table
    from execution.store import Store, parse_time

    settings = settings_from(args)
    store = Store.open(settings.state_dir)
    try:
        start = Decimal(store.get("starting_equity") or settings.equity)
        now = parse_time(store.get("book_time"))
        if settings.mode == "dry_run":
            equity = book_equity(store, start)
        else:
            day = store.latest_day()
            equity = day.last_equity if day is not None else start
        doc = status_document(
            store, mode=settings.mode, equity=equity, now=now, state_dir=settings.state_dir
        )
    finally:
        store.close()
    print(json.dumps(doc, indent=2) if args.json else status_table(doc))
    return EXIT_OK
