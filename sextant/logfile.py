"""The log file of a long-running process: the lines it logs on stderr, also written to a file
that rotates by size (logging.handlers.RotatingFileHandler), secrets redacted the same way."""

import logging
import logging.handlers
from pathlib import Path

from sextant.config import ConfigError
from sextant.logs import LibraryLevel, RedactingFormatter

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def add_log_file(path: Path, max_bytes: int, backups: int) -> logging.Handler:
    """Attach a rotating file handler to the root logger (once per path); returns it.
    A path that cannot be written is a configuration error naming the setting."""
    path = Path(path).expanduser()
    root = logging.getLogger()
    for old in root.handlers:
        if getattr(old, "sextant_file", None) == str(path.resolve()):
            return old
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
    except OSError as exc:
        raise ConfigError(f"service.log_file (env SEXTANT_SERVICE__LOG_FILE): {exc}") from None
    handler.setFormatter(RedactingFormatter(FORMAT))
    handler.addFilter(LibraryLevel())  # the same -v / --debug-libs split as stderr
    handler.sextant_file = str(path.resolve())  # type: ignore[attr-defined]
    root.addHandler(handler)
    return handler


def remove_log_file(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)
    handler.close()
