"""Helpers shared by the subcommands: settings from arguments, time parsing, exit codes."""

import argparse
import textwrap
from datetime import datetime
from pathlib import Path

from sextant.config import ConfigError, Settings, load_settings, normalise_symbol
from sextant.models import parse_utc

# The one exit-code table, the same for every command (README "Exit codes", `sextant --help`).
# cli/main.py maps the sextant.errors tree onto it; commands return EXIT_OK or EXIT_FAILED.
EXIT_OK = 0  # done
EXIT_FAILED = 1  # a runtime failure: the exchange or a download failed, unhealthy, a bug
EXIT_CONFIG = 2  # usage or configuration: bad settings or arguments, unknown symbol, no data
EXIT_STATE = 3  # the state directory or its database cannot be used (read-only, full, corrupt)
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C (SIGINT), as the shell reports it

EXIT_CODES = (
    (EXIT_OK, "done"),
    (EXIT_FAILED, "runtime failure: the exchange or a download failed, the loop is unhealthy, "
     "stdout was closed early (piped into head), a bug (with its traceback)"),
    (EXIT_CONFIG, "usage or configuration: a bad setting or argument, an unknown symbol, "
     "reversed dates, a span or --as-of with no data, a missing data folder"),
    (EXIT_STATE, "broken state: the state directory or its database (sextant.db) is "
     "read-only, full, truncated or not a database; nothing was sent to the exchange"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
)


def exit_codes_help(width: int = 79) -> str:
    """The table for `sextant --help` (the README's "Exit codes" lists the same rows)."""
    lines = ["exit codes (the same for every command):"]
    for code, text in EXIT_CODES:
        lines += textwrap.wrap(
            text, width, initial_indent=f"  {code:<5}", subsequent_indent=" " * 7,
            break_on_hyphens=False,
        )
    return "\n".join(lines)


def parse_time(text: str, flag: str = "--as-of") -> datetime:
    """ISO 8601; a time without an offset is UTC. Bad input is a ConfigError (exit 2)."""
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}", field=flag) from None


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML settings file")
    parser.add_argument(
        "--profile",
        help="strategy profile (sextant profile list); default: SEXTANT_PROFILE, the config "
        "file's `profile`, else the default profile",
    )


def settings_from(args: argparse.Namespace, **extra: object) -> Settings:
    overrides: dict[str, object] = dict(extra)
    if getattr(args, "symbols", None):
        overrides["watchlist"] = [
            normalise_symbol(s) for s in args.symbols.split(",") if s.strip()
        ]
    return load_settings(
        getattr(args, "config", None), profile=getattr(args, "profile", None), **overrides
    )

