"""Sextant's own errors: one tree, so an entry point can tell a refusal from a bug.

Every error Sextant raises on purpose derives from `SextantError`; the CLI maps the branches
to its one exit-code table (`cli/common.py`, the same for every command): a `ConfigError` (bad
settings, arguments, a span with no data, a missing data folder: the user can fix it) exits 2,
a `StateError` (the state directory or its database cannot be used) exits 3, any other
`SextantError` exits 1 with its message; anything else is a bug and keeps its traceback.
Adapters translate their libraries' exceptions into these (the exchange seam maps ccxt's, the
LLM service httpx's, tools/db.py SQLite's), so no layer above them catches a library's type.
"""

from pathlib import Path


class SextantError(Exception):
    """Base of every error Sextant raises on purpose."""


class ConfigError(SextantError):
    """Invalid configuration or arguments; the message names every offending field.

    `field` is the setting (`risk.long_threshold`) or argument (`--from`) at fault when there
    is one: `--json` errors carry it (schema sextant.error/1)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class DataError(ConfigError):
    """A data folder cannot serve the request at all (no folder, no symbol with data in the
    span): the user picks another folder or span, so it is a configuration error (exit 2)."""


class StateError(SextantError):
    """The state directory or its database cannot be used: read-only, full, truncated or not a
    database. The message names the path and what is wrong; the CLI exits 3 before any order
    (nothing can be booked, so nothing is sent)."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


class MarketDataError(SextantError):
    """One symbol's data could not be collected; the cycle goes on without it."""

    def __init__(self, symbol: str | None, code: str, message: str) -> None:
        super().__init__(message)
        self.symbol = symbol
        self.code = code  # a reason code (sextant.reasons.Code)
        self.message = message


class ExchangeError(SextantError):
    """The exchange answered a request with an error (see the subclasses)."""


class ExchangeUnavailable(ExchangeError):
    """Transient: network down, timeout, rate limit, 5xx. Worth a retry later."""


class ExchangeRejected(ExchangeError):
    """A certain refusal (invalid order, insufficient funds, bad request, auth): nothing was
    done on the exchange."""


class ExchangeAmbiguous(ExchangeError):
    """An answer that does not say whether the request took effect (10016 "internal error",
    an unmapped error): the caller must ask the exchange before doing anything again."""


class BrokerUnavailable(SextantError):
    """The exchange could not be reached after the retries; nothing was decided."""


class StaleWrite(SextantError):
    """A record changed in the database since it was read (another writer got there)."""


class AlreadyRunning(SextantError):
    """Another process holds the state directory's loop lock."""

    def __init__(self, pid: str) -> None:
        super().__init__(
            f"another sextant loop (or a command trading on Bybit) holds the lock "
            f"(pid {pid or 'unknown'})"
        )
        self.pid = pid


class ExchangeBusy(AlreadyRunning, ConfigError):
    """Another process (the loop) owns the exchange side of this book: the command refuses
    (a ConfigError: exit 2, the message instead of a traceback)."""

    def __init__(self, pid: str, state_dir: object) -> None:
        Exception.__init__(
            self,
            f"a sextant loop (pid {pid or 'unknown'}) is running on {state_dir} and alone "
            "talks to Bybit for this book: stop it first (SIGTERM), or close the position on "
            "Bybit, which the loop then books",
        )
        self.pid = pid
        self.field = None


class PromptError(SextantError, ValueError):
    """A prompt file is missing, unreadable or names unknown variables."""


class DownloadError(SextantError):
    """`sextant data download` cannot proceed (no exchange answer, nothing to write)."""
