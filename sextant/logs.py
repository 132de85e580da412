"""Logging set-up: everything on stderr, and secret values never reach a log line.

Every handler installed here redacts the registered secrets (API keys, bot token) from the
formatted record, traceback included, whichever library logged it (httpx and
python-telegram-bot put the bot token in request URLs).
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


def setup_logging(verbose: bool) -> None:
    register_secrets(os.environ.get(name) for name in SECRET_ENV_NAMES)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.sextant = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in list(root.handlers):  # ours from an earlier call (tests call main() repeatedly)
        if getattr(old, "sextant", False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
