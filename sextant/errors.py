"""Sextant's own errors: one tree, so an entry point can tell a refusal from a bug.

Every error Sextant raises on purpose derives from `SextantError`; the CLI maps the branches
to exit codes (`cli/main.py`): a `ConfigError` (bad settings, arguments or data folder: the
user can fix it) exits 2, any other `SextantError` exits 1 with its message, anything else is
a bug and keeps its traceback. Adapters translate their libraries' exceptions into these
(the exchange seam maps ccxt's, the LLM service httpx's), so no layer above them catches a
library's exception type.
"""


class SextantError(Exception):
    """Base of every error Sextant raises on purpose."""


class ConfigError(SextantError):
    """Invalid configuration or arguments; the message names every offending field."""


class DataError(SextantError):
    """A data folder cannot serve a backtest at all (no folder, no symbol with data)."""


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


class PromptError(SextantError, ValueError):
    """A prompt file is missing, unreadable or names unknown variables."""


class DownloadError(SextantError):
    """`sextant data download` cannot proceed (no exchange answer, nothing to write)."""
