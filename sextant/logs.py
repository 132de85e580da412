"""Logging set-up: everything on stderr, and secret values never reach a log line.

Every handler installed here redacts the registered secrets (API keys, bot token) from the
formatted record, traceback included, whichever library logged it (httpx and
python-telegram-bot put the bot token in request URLs).

`-v` is Sextant's own debug lines: the libraries' loggers (aiosqlite logs every checkpoint
blob it writes, sqlalchemy every statement, httpx every request) stay at INFO, so a long
replay's stderr stays bounded; `-vv` / `--debug-libs` lets their DEBUG through too.
"""

import logging
import os
import sys
from collections.abc import Iterable
from urllib.parse import quote

SECRET_ENV_NAMES = ("OPENROUTER_API_KEY", "BYBIT_API_KEY", "BYBIT_API_SECRET", "TELEGRAM_BOT_TOKEN")
MASK = "***"
_secrets: set[str] = set()


def register_secrets(values: Iterable[str | None]) -> None:
    """Add secret values to redact; very short values are ignored (they would mask noise)."""
    for value in values:
        if value and len(value) >= 6:
            _secrets.add(value)
            _secrets.add(quote(value, safe=""))  # URL-encoded, as in request logs


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


# Sextant's own top-level packages: their loggers follow -v; every other logger is a library's.
OWN_PACKAGES = frozenset(
    {"sextant", "cli", "runtime", "graph", "agents", "execution", "tools", "backtest", "dashboard"}
)


class LibraryLevel(logging.Filter):
    """Lets a library's record through only at `level` or above (Sextant's own: all)."""

    level = logging.INFO  # class-wide: the stderr and log-file handlers share the setting

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= LibraryLevel.level:
            return True
        return record.name.split(".", 1)[0] in OWN_PACKAGES


def setup_logging(verbose: int | bool, debug_libs: bool = False) -> None:
    """verbose 0: warnings; 1 (-v): Sextant's debug lines, libraries at INFO; debug_libs (or
    verbose >= 2): the libraries' debug lines too."""
    register_secrets(os.environ.get(name) for name in SECRET_ENV_NAMES)
    LibraryLevel.level = logging.DEBUG if debug_libs or int(verbose) >= 2 else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(LibraryLevel())
    handler.sextant = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in list(root.handlers):  # ours from an earlier call (tests call main() repeatedly)
        if getattr(old, "sextant", False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    # `sextant loop` raises the sextant logger to INFO for its run; a later call (tests call
    # main() repeatedly) starts from the root's level again.
    logging.getLogger("sextant").setLevel(logging.NOTSET)
