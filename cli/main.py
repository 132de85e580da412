"""`sextant` entry point: argument parsing, logging, exit codes."""

import argparse
import importlib
import sys

from cli.common import EXIT_CONFIG, EXIT_FAILED
from sextant.errors import ConfigError, SextantError
from sextant.logs import setup_logging

# Subcommand modules under cli.commands, in help order.
COMMANDS = (
    "run", "loop", "status", "close", "dashboard", "health", "prompt", "backtest", "data",
    "profile",
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sextant", description="Autonomous trading system for Bybit USDT perpetuals."
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = p.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"cli.commands.{name}").register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(args.handler(args))
    except ConfigError as exc:  # the user can fix it: settings, arguments, a busy book
        print(f"sextant: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except SextantError as exc:  # a refusal Sextant explains; anything else keeps its traceback
        print(f"sextant: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
