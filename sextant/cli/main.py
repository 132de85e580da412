"""`sextant` entry point: argument parsing, settings, exit codes."""

import argparse
import asyncio
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from sextant.config import ConfigError, Settings, load_settings, normalise_symbol

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
log = logging.getLogger("sextant")


def parse_time(text: str) -> datetime:
    """ISO 8601; a time without an offset is UTC."""
    ts = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sextant", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the analysis cycle")
    run.add_argument("--once", action="store_true", help="a single cycle, then exit")
    run.add_argument("--json", action="store_true", help="one JSON document on stdout")
    run.add_argument("--symbols", help="comma-separated symbols, overriding the watchlist")
    run.add_argument("--as-of", dest="as_of", help="ISO 8601 time to analyse (replay)")
    run.add_argument("--config", type=Path, help="TOML settings file")
    return p


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "symbols", None):
        overrides["watchlist"] = [normalise_symbol(s) for s in args.symbols.split(",") if s.strip()]
    return load_settings(getattr(args, "config", None), **overrides)


def cmd_run(args: argparse.Namespace) -> int:
    from graph.services import build_services
    from sextant.cli.cycle import run_cycle
    from sextant.cli.output import cycle_document, dumps, table

    if not args.once:
        print("sextant run needs --once (the 24/7 process is `sextant loop`)", file=sys.stderr)
        return EXIT_CONFIG
    settings = settings_from(args)
    try:
        as_of = parse_time(args.as_of) if args.as_of else None
    except ValueError as exc:
        raise ConfigError(f"--as-of: {exc}") from None

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


COMMANDS = {"run": cmd_run}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"sextant: {exc}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
