"""Settings: one validated object, built once at start and handed to the graph as context."""

from sextant.config.settings import (
    DEFAULT_WATCHLIST,
    ConfigError,
    Settings,
    load_settings,
    normalise_symbol,
)

__all__ = ["DEFAULT_WATCHLIST", "ConfigError", "Settings", "load_settings", "normalise_symbol"]
