"""Helpers shared by the subcommands: settings from arguments, time parsing, exit codes."""

import argparse
from datetime import datetime
from pathlib import Path

from sextant.config import ConfigError, Settings, load_settings, normalise_symbol
from sextant.models import parse_utc

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def parse_time(text: str, flag: str = "--as-of") -> datetime:
    """ISO 8601; a time without an offset is UTC. Bad input is a ConfigError (exit 2)."""
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}") from None


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

