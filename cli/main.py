"""`sextant` entry point: argument parsing, logging, the exit-code table, errors on output."""

import argparse
import importlib
import json
import os
import sys
from collections.abc import Iterator

from cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_STATE,
    exit_codes_help,
)
from sextant.errors import ConfigError, SextantError, StateError
from sextant.logs import setup_logging

# Subcommand modules under cli.commands, in help order.
COMMANDS = (
    "run", "loop", "status", "close", "dashboard", "health", "prompt", "backtest", "data",
    "profile",
)
ERROR_SCHEMA = "sextant.error/1"

LOGGING_HELP = (
    "logging (before or after the subcommand):\n"
    "  -v          Sextant's own debug lines on stderr; libraries stay at INFO\n"
    "  -vv, --debug-libs\n"
    "              also the libraries' debug lines (aiosqlite, sqlalchemy, httpx, ccxt,\n"
    "              langchain, langgraph, openai, telegram, ...): very large"
)


class UsageError(ConfigError):
    """argparse refused the command line (exit 2, like every usage error)."""


class Parser(argparse.ArgumentParser):
    """An argparse parser whose refusals go through the exit-code table (and --json)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        where = self.prog.removeprefix("sextant").strip()  # "run", "data download", or ""
        exc = UsageError(f"{where}: {message}" if where else message)
        exc.usage = self.format_usage()  # type: ignore[attr-defined]
        raise exc


def _add_logging_flags(p: argparse.ArgumentParser, dest: str) -> None:
    # SUPPRESS: a subcommand's flags add to the top-level ones instead of resetting them.
    p.add_argument(
        "-v", "--verbose", dest=dest, action="count", default=argparse.SUPPRESS,
        help="debug logging on stderr (-vv: libraries' debug lines too)",
    )
    p.add_argument(
        "--debug-libs", dest=f"{dest}_libs", action="store_true", default=argparse.SUPPRESS,
        help="also the third-party libraries' debug lines (same as -vv)",
    )


def _subparsers(p: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield child
                yield from _subparsers(child)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="sextant",
        description="Autonomous trading system for Bybit USDT perpetuals.",
        epilog=f"{LOGGING_HELP}\n\n{exit_codes_help()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_logging_flags(p, "verbose")
    sub = p.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"cli.commands.{name}").register(sub)
    for child in _subparsers(p):  # `sextant run --once -v` as well as `sextant -v run --once`
        _add_logging_flags(child, "verbose_sub")
    return p


def _verbosity(args: argparse.Namespace) -> tuple[int, bool]:
    level = getattr(args, "verbose", 0) + getattr(args, "verbose_sub", 0)
    libs = bool(getattr(args, "verbose_libs", False) or getattr(args, "verbose_sub_libs", False))
    libs = libs or level >= 2
    return (max(level, 1) if libs else level), libs  # --debug-libs implies -v


def error_document(code: int, exc: BaseException) -> dict[str, object]:
    """One sextant.error/1 document: what `--json` prints on stdout when a command fails."""
    return {
        "schema": ERROR_SCHEMA,
        "code": code,
        "message": str(exc),
        "field": getattr(exc, "field", None),
    }


def _fail(code: int, exc: BaseException, as_json: bool) -> int:
    print(f"sextant: {exc}", file=sys.stderr)
    if as_json:
        print(json.dumps(error_document(code, exc), indent=2))
    return code


def _stdout_gone() -> None:
    """stdout's reader went away (`| head`): the Python docs' way, point stdout at devnull so
    the interpreter's last flush does not raise again, and leave without a traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # a captured stdout has no descriptor
        pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    as_json = "--json" in argv
    try:
        try:
            args = build_parser().parse_args(argv)
        except UsageError as exc:
            if not as_json:
                print(getattr(exc, "usage", "").rstrip(), file=sys.stderr)
            return _fail(EXIT_CONFIG, exc, as_json)
        setup_logging(*_verbosity(args))
        as_json = bool(getattr(args, "json", False))
        try:
            code = int(args.handler(args))
        except ConfigError as exc:  # the user can fix it: settings, arguments, data, a busy book
            return _fail(EXIT_CONFIG, exc, as_json)
        except StateError as exc:  # the state directory or database is unusable
            return _fail(EXIT_STATE, exc, as_json)
        except SextantError as exc:  # a refusal Sextant explains; anything else keeps its traceback
            return _fail(EXIT_FAILED, exc, as_json)
        except KeyboardInterrupt:
            print("sextant: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return code
    except BrokenPipeError:
        _stdout_gone()
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
