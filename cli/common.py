"""Helpers shared by the subcommands: settings from arguments, time parsing, exit codes."""

import argparse
from datetime import UTC, datetime
from pathlib import Path

from sextant.config import ConfigError, Settings, load_settings, normalise_symbol

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def parse_time(text: str, flag: str = "--as-of") -> datetime:
    """ISO 8601; a time without an offset is UTC. Bad input is a ConfigError (exit 2)."""
    try:
        ts = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


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


async def default_as_of(market: object, symbols: list[str]) -> datetime:
    """The market's default time for these symbols; no data for any of them is a usage error."""
    from sextant.ports.market_data import MarketDataError

    try:
        return await market.default_as_of(symbols)  # type: ignore[attr-defined]
    except MarketDataError as exc:
        raise ConfigError(f"--symbols: {exc.message}") from None
