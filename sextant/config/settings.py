"""The one settings object: environment (SEXTANT_*), .env, a TOML file, a profile, defaults."""

import contextvars
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from sextant.config.dashboard import DashboardSettings
from sextant.config.execution import ExecutionSettings
from sextant.config.llm import LLMSettings
from sextant.config.market import FilterSettings, MarketSettings
from sextant.config.math import MathSettings
from sextant.config.news import NewsSettings
from sextant.config.risk import RiskSettings
from sextant.config.service import ServiceSettings
from sextant.config.telegram import TelegramSettings
from sextant.errors import ConfigError
from sextant.logs import register_secrets
from sextant.profiles import DEFAULT_PROFILE, available_profiles, profile_path

DEFAULT_WATCHLIST = (
    "BTC/USDT:USDT",
    "ETH/USDT:USDT",
    "SOL/USDT:USDT",
    "XRP/USDT:USDT",
    "DOGE/USDT:USDT",
    "ADA/USDT:USDT",
    "LTC/USDT:USDT",
    "LINK/USDT:USDT",
    "AVAX/USDT:USDT",
    "DOT/USDT:USDT",
)
SYMBOL_RE = re.compile(r"^[A-Z0-9]{1,20}/USDT:USDT$")

# The TOML file chosen with --config and the profile's file; context variables so tests can
# load several in parallel.
_toml_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar("toml_file", default=None)
_profile_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "profile_file", default=None
)


def normalise_symbol(raw: str) -> str:
    """'btc', 'BTCUSDT', 'BTC/USDT' and 'BTC/USDT:USDT' all mean the USDT perpetual."""
    s = raw.strip().upper().replace("-", "/").replace("_", "/")
    if s.endswith(":USDT") and "/" in s:
        return s
    if "/" in s:
        base, quote = s.split("/", 1)
        return f"{base}/{quote}:{quote}" if quote == "USDT" else s
    if s.endswith("USDT") and len(s) > 4:
        return f"{s[:-4]}/USDT:USDT"
    return f"{s}/USDT:USDT"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SEXTANT_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        validate_default=True,
    )

    profile: str = Field(
        DEFAULT_PROFILE,
        description="Strategy profile (a TOML preset shipped in sextant/profiles, see "
        "docs/strategy/profiles): layered over the defaults, under --config and the environment.",
    )
    mode: Literal["dry_run", "demo", "live"] = Field(
        "dry_run", description="dry_run = paper; demo = Bybit demo trading; live = real money."
    )
    equity: Decimal = Field(
        Decimal("10000"),
        gt=0,
        description="Paper equity in USDT used when no account is connected.",
    )
    watchlist: Annotated[tuple[str, ...], NoDecode] = Field(
        DEFAULT_WATCHLIST, min_length=1, description="Core symbols, ccxt form BTC/USDT:USDT."
    )
    state_dir: Path = Field(Path("state"), description="Databases and caches live here.")
    market: MarketSettings = Field(default_factory=MarketSettings)
    filters: FilterSettings = Field(default_factory=FilterSettings)
    math: MathSettings = Field(default_factory=MathSettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    news: NewsSettings = Field(default_factory=NewsSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)

    # Secrets: the usual unprefixed names. SecretStr keeps them out of reprs and logs.
    openrouter_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("OPENROUTER_API_KEY", "SEXTANT_OPENROUTER_API_KEY")
    )
    bybit_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("BYBIT_API_KEY", "SEXTANT_BYBIT_API_KEY")
    )
    bybit_api_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("BYBIT_API_SECRET", "SEXTANT_BYBIT_API_SECRET")
    )
    telegram_bot_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "SEXTANT_TELEGRAM_BOT_TOKEN")
    )
    telegram_chat_id: str | None = Field(
        None, validation_alias=AliasChoices("TELEGRAM_CHAT_ID", "SEXTANT_TELEGRAM_CHAT_ID")
    )

    @field_validator("watchlist", mode="before")
    @classmethod
    def _split_watchlist(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if isinstance(value, list | tuple):
            out: list[str] = []
            for raw in value:
                sym = normalise_symbol(str(raw))
                if not SYMBOL_RE.match(sym) or sym.startswith("USDT/"):
                    raise ValueError(f"{raw!r} is not a USDT perpetual symbol like BTC/USDT:USDT")
                if sym not in out:
                    out.append(sym)
            return tuple(out)
        return value

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        if value not in available_profiles():
            known = ", ".join(available_profiles())
            raise ValueError(f"unknown profile {value!r} (known: {known})")
        return value

    @field_validator(
        "openrouter_api_key",
        "bybit_api_key",
        "bybit_api_secret",
        "telegram_bot_token",
        "telegram_chat_id",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _check_history(self) -> "Settings":
        from sextant.config.math import required_daily_bars

        rs, hist = self.risk, self.market.history
        if rs.history_guard:
            need = rs.history_guard_daily_bars or required_daily_bars(self.math)
            if need > hist.d1:
                raise ValueError(
                    f"risk.history_guard needs {need} daily bars but a snapshot carries "
                    f"market.history.1d = {hist.d1}: raise it or lower history_guard_daily_bars"
                )
        window = self.math.excursion_lookback_hours + self.math.excursion_horizon_hours
        if rs.stop_method == "quantile" and window > hist.h1:
            raise ValueError(
                f"risk.stop_method = quantile needs {window} 1h bars (excursion lookback + "
                f"horizon) but a snapshot carries market.history.1h = {hist.h1}"
            )
        return self

    @model_validator(mode="after")
    def _check_mode(self) -> "Settings":
        if self.mode in ("demo", "live"):
            if self.bybit_api_key is None or self.bybit_api_secret is None:
                raise ValueError(
                    f"mode={self.mode} needs BYBIT_API_KEY and BYBIT_API_SECRET in the environment"
                )
            if self.market.source != "bybit":
                raise ValueError(
                    f"mode={self.mode} trades on Bybit: set SEXTANT_MARKET__SOURCE=bybit"
                )
        return self

    @property
    def has_llm_key(self) -> bool:
        return self.openrouter_api_key is not None

    @property
    def llm_active(self) -> bool:
        """The LLM agents run: a key is set and `llm.enabled` is true."""
        return self.has_llm_key and self.llm.enabled

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments (CLI) > environment > .env > TOML file > profile >
        # defaults (nested sections merge key by key).
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        for chosen in (_toml_file.get(), _profile_file.get()):
            if chosen is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=chosen))
        return tuple(sources)


class _ProfileChoice(BaseSettings):
    """SEXTANT_PROFILE from the environment or .env, read the way Settings reads them."""

    model_config = SettingsConfigDict(
        env_prefix="SEXTANT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    profile: str | None = None


def resolve_profile(explicit: str | None, config_file: Path | None) -> str:
    """The profile in force: --profile, else SEXTANT_PROFILE (environment, then .env), else the
    config file's `profile` key, else the default profile."""
    if explicit and explicit.strip():
        return explicit.strip()
    chosen = (_ProfileChoice().profile or "").strip()
    if chosen:
        return chosen
    if config_file is not None:
        value = _read_toml(Path(config_file)).get("profile")
        if value is not None:
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{config_file}: profile must be the name of a profile")
            return value.strip()
    return DEFAULT_PROFILE


def load_settings(
    config_file: Path | None = None, profile: str | None = None, **overrides: Any
) -> Settings:
    """Build Settings or raise ConfigError naming each bad field and its environment variable.

    Layers, lowest first: the code's defaults, the profile (`profile`, SEXTANT_PROFILE, the
    config file's `profile` key or the default profile), the config file, .env, the
    environment, `overrides`.
    """
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    if config_file is not None:
        check_toml_keys(Path(config_file))
    name = resolve_profile(profile, config_file)
    try:
        path = profile_path(name)
    except ValueError as exc:
        raise ConfigError(
            f"invalid configuration:\n  profile (env SEXTANT_PROFILE): {exc}"
        ) from None
    check_toml_keys(path)
    token = _toml_file.set(Path(config_file) if config_file else None)
    ptoken = _profile_file.set(path)
    try:
        settings = Settings(**{**overrides, "profile": name})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
    except SettingsError as exc:  # e.g. a complex variable that is not valid JSON
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise ConfigError(f"invalid configuration: {exc}{cause}") from None
    finally:
        _toml_file.reset(token)
        _profile_file.reset(ptoken)
    # Keys read from .env or a file are masked in every log line from now on.
    register_secrets(
        v.get_secret_value()
        for v in (settings.openrouter_api_key, settings.bybit_api_key,
                  settings.bybit_api_secret, settings.telegram_bot_token,
                  settings.dashboard.token)
        if v is not None
    )
    # LangSmith reads its own variables; never let it trace without a key (sextant.tracing).
    from sextant.tracing import configure_tracing

    configure_tracing()
    return settings


def check_toml_keys(path: Path) -> None:
    """A config file must parse and name only known settings: a typo is an error, not a no-op.

    (Sections refuse unknown keys themselves; the root ignores unknown *environment* names,
    which belong to other programs, so its file keys are checked here.)
    """
    data = _read_toml(path)
    known = set(Settings.model_fields)
    unknown = sorted(k for k in data if k not in known)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}")


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def format_validation_error(exc: Any) -> str:
    lines = ["invalid configuration:"]
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        field = ".".join(loc) or "settings"
        env = "SEXTANT_" + "__".join(p.upper() for p in loc) if loc else ""
        hint = f" (env {env})" if env else ""
        lines.append(f"  {field}{hint}: {err.get('msg')}")
    return "\n".join(lines)
