"""Settings: defaults, environment, .env, TOML, validation errors, secrets, CLI exit code."""

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from sextant.config import DEFAULT_WATCHLIST, ConfigError, Settings, load_settings
from sextant.config.market import BUNDLED_DATA_DIR

REPO = Path(__file__).resolve().parents[1]
KEY_VARS = ("OPENROUTER_API_KEY", "BYBIT_API_KEY", "BYBIT_API_SECRET", "TELEGRAM_BOT_TOKEN",
            "TELEGRAM_CHAT_ID")
SECRETS = {
    "OPENROUTER_API_KEY": "sk-or-v1-topsecret-openrouter",
    "BYBIT_API_KEY": "bybit-key-topsecret",
    "BYBIT_API_SECRET": "bybit-secret-topsecret",
    "TELEGRAM_BOT_TOKEN": "123456:telegram-topsecret",
}
FULL_WEIGHTS = ("TREND", "MOMENTUM", "VOLUME", "OPEN_INTEREST", "NEWS")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SEXTANT_* or key variables from the caller, and a working directory without .env."""
    for name in list(os.environ):
        if name.upper().startswith(("SEXTANT_", *KEY_VARS)):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def config_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as info:
        load_settings()
    return str(info.value)


def set_weights(monkeypatch: pytest.MonkeyPatch, regime: str, values: tuple[float, ...]) -> None:
    for name, v in zip(FULL_WEIGHTS, values, strict=True):
        monkeypatch.setenv(f"SEXTANT_RISK__WEIGHTS__{regime}__{name}", str(v))


# --- defaults ----------------------------------------------------------------------------------


def test_defaults_match_the_spec() -> None:
    s = load_settings()
    r = s.risk
    assert (r.long_threshold, r.short_threshold) == (0.45, -0.45)
    assert (r.stop_min_pct, r.stop_max_pct) == (1.5, 5.0)
    assert (r.tp1_r, r.tp2_r) == (1.5, 2.5)
    assert r.tp1_close_fraction == 0.5
    assert r.risk_per_trade_pct == Decimal("1.5")
    assert (r.max_leverage, r.calm_leverage) == (10, 10)
    assert [(b.min_atr_pct, b.leverage) for b in r.leverage_bands] == [(4.0, 3), (3.0, 5),
                                                                        (2.0, 7)]
    assert r.max_funding_rate_pct == 0.25
    assert r.btc_drop_pct == 2.0
    assert r.max_open_positions == 3
    assert r.daily_loss_limit_pct == 5.0
    assert r.max_per_group == 1
    assert {"btc", "layer1", "memecoins"} <= set(r.correlation_groups)
    assert s.filters.min_quote_volume_24h == 10_000_000
    assert s.filters.max_spread_pct == 0.2
    assert s.mode == "dry_run"
    assert s.equity == Decimal("10000")
    assert s.market.source == "replay"
    assert s.market.data_dir == BUNDLED_DATA_DIR and BUNDLED_DATA_DIR.is_dir()
    assert s.market.base_url is None
    assert s.watchlist == DEFAULT_WATCHLIST and len(s.watchlist) == 10
    assert s.news.panic.stop == 1.5 and s.news.panic.leverage == 0.5
    assert s.news.digesting.stop == 1.2
    assert s.math.timeframe_weights == {"1h": 0.3, "4h": 0.5, "1d": 0.2}
    assert s.openrouter_api_key is None and not s.has_llm_key
    assert s.bybit_api_key is None and s.telegram_bot_token is None


def test_settings_are_frozen() -> None:
    s = load_settings()
    with pytest.raises(ValidationError):
        s.risk.long_threshold = 0.1  # type: ignore[misc]


# --- watchlist ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("btc, ETHUSDT, SOL/USDT", ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")),
        ("BTC/USDT:USDT", ("BTC/USDT:USDT",)),
        ("doge-usdt,xrp_usdt", ("DOGE/USDT:USDT", "XRP/USDT:USDT")),
        ("1000PEPEUSDT", ("1000PEPE/USDT:USDT",)),
        ("btc,BTCUSDT,BTC/USDT:USDT", ("BTC/USDT:USDT",)),  # duplicates collapse
        ("btc,,  ,eth,", ("BTC/USDT:USDT", "ETH/USDT:USDT")),  # empty entries skipped
    ],
)
def test_watchlist_parsing(monkeypatch: pytest.MonkeyPatch, raw: str,
                           expected: tuple[str, ...]) -> None:
    monkeypatch.setenv("SEXTANT_WATCHLIST", raw)
    assert load_settings().watchlist == expected


@pytest.mark.parametrize("raw", ["BTC/EUR", "ETH/BTC", "btc,b@d", "BTC USDT", "", " , ",
                                 "BTC/USDC:USDC", "A" * 25])
def test_watchlist_junk_is_rejected(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    msg = config_error(monkeypatch, SEXTANT_WATCHLIST=raw)
    assert "watchlist" in msg and "SEXTANT_WATCHLIST" in msg


def test_watchlist_quote_as_base_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    msg = config_error(monkeypatch, SEXTANT_WATCHLIST="btc,USDT")
    assert "SEXTANT_WATCHLIST" in msg


def test_overrides_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEXTANT_WATCHLIST", "btc")
    assert load_settings(watchlist=["ETH/USDT:USDT"]).watchlist == ("ETH/USDT:USDT",)


# --- environment -------------------------------------------------------------------------------


def test_nested_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEXTANT_RISK__LONG_THRESHOLD", "0.5")
    monkeypatch.setenv("SEXTANT_RISK__MAX_OPEN_POSITIONS", "5")
    monkeypatch.setenv("SEXTANT_MARKET__SOURCE", "bybit")
    monkeypatch.setenv("SEXTANT_MARKET__BASE_URL", "http://127.0.0.1:8999")
    monkeypatch.setenv("SEXTANT_FILTERS__MAX_SPREAD_PCT", "0.1")
    monkeypatch.setenv("SEXTANT_EQUITY", "2500.5")
    s = load_settings()
    assert s.risk.long_threshold == 0.5
    assert s.risk.short_threshold == -0.45  # siblings keep their defaults
    assert s.risk.max_open_positions == 5
    assert s.market.source == "bybit" and s.market.base_url == "http://127.0.0.1:8999"
    assert s.filters.max_spread_pct == 0.1
    assert s.equity == Decimal("2500.5")


def test_full_weight_set_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    set_weights(monkeypatch, "TRENDING", (0.40, 0.20, 0.10, 0.15, 0.15))
    w = load_settings().risk.weights
    assert w.trending.as_dict() == {"trend": 0.40, "momentum": 0.20, "volume": 0.10,
                                    "open_interest": 0.15, "news": 0.15}
    assert w.ranging.trend == 0.35  # other regimes untouched


@pytest.mark.parametrize(
    ("env", "must_contain"),
    [
        ({"SEXTANT_RISK__STOP_MIN_PCT": "9"},
         ["risk", "SEXTANT_RISK", "stop_min_pct must be <= stop_max_pct"]),
        ({"SEXTANT_MODE": "yolo"}, ["mode", "SEXTANT_MODE", "dry_run"]),
        ({"SEXTANT_EQUITY": "-1"}, ["equity", "SEXTANT_EQUITY", "greater than 0"]),
        ({"SEXTANT_EQUITY": "lots"}, ["equity", "SEXTANT_EQUITY"]),
        ({"SEXTANT_RISK__LONG_THRESHOLD": "2"},
         ["risk.long_threshold", "SEXTANT_RISK__LONG_THRESHOLD"]),
        ({"SEXTANT_RISK__SHORT_THRESHOLD": "0.3"},
         ["risk.short_threshold", "SEXTANT_RISK__SHORT_THRESHOLD"]),
        ({"SEXTANT_RISK__MAX_LEVERAGE": "0"}, ["risk.max_leverage", "SEXTANT_RISK__MAX_LEVERAGE"]),
        ({"SEXTANT_RISK__TP1_R": "3"}, ["risk", "tp1_r must be < tp2_r"]),
        ({"SEXTANT_RISK__RISK_PER_TRADE_PCT": "0"}, ["risk.risk_per_trade_pct"]),
        ({"SEXTANT_RISK__MAX_OPEN_POSITIONS": "0"}, ["risk.max_open_positions"]),
        ({"SEXTANT_MARKET__SOURCE": "binance"}, ["market.source", "SEXTANT_MARKET__SOURCE"]),
        ({"SEXTANT_MARKET__RATE_LIMIT_REQUESTS": "601"}, ["market.rate_limit_requests"]),
        ({"SEXTANT_FILTERS__MAX_SPREAD_PCT": "-1"}, ["filters.max_spread_pct"]),
        ({"SEXTANT_NEWS__DRIVER_WEIGHT": "0.3"}, ["news.driver_weight"]),
        ({"SEXTANT_EXECUTION__ORDER_LOOKUP_PASSES": "0"},
         ["execution.order_lookup_passes", "SEXTANT_EXECUTION__ORDER_LOOKUP_PASSES"]),
        ({"SEXTANT_EXECUTION__ORDER_LOOKUP_PASSES": "many"}, ["execution.order_lookup_passes"]),
        # a typo in a section field is refused, not silently ignored
        ({"SEXTANT_RISK__LONG_THRESHHOLD": "0.5"}, ["risk.long_threshhold"]),
    ],
)
def test_invalid_values_name_the_field(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                       must_contain: list[str]) -> None:
    msg = config_error(monkeypatch, **env)
    for text in must_contain:
        assert text in msg, msg


def test_every_bad_field_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    msg = config_error(monkeypatch, SEXTANT_MODE="yolo", SEXTANT_EQUITY="-1")
    assert "SEXTANT_MODE" in msg and "SEXTANT_EQUITY" in msg


@pytest.mark.parametrize(
    ("values", "must_contain"),
    [
        # trend 0.50 > 0.45 (sums to 1: only the range is wrong)
        ((0.50, 0.10, 0.10, 0.15, 0.15), "trend weight 0.5 outside the allowed range"),
        # momentum 0.40 > 0.35
        ((0.35, 0.40, 0.05, 0.15, 0.05), "momentum weight 0.4 outside"),
        # volume 0.01 < 0.05
        ((0.45, 0.24, 0.01, 0.15, 0.15), "volume weight 0.01 outside"),
        # open interest is fixed at 0.15
        ((0.40, 0.20, 0.05, 0.20, 0.15), "open_interest weight 0.2 outside"),
        # news 0.25 > 0.20
        ((0.35, 0.20, 0.05, 0.15, 0.25), "news weight 0.25 outside"),
        # every weight in range but 0.45 + 0.35 + 0.10 + 0.15 + 0.20 = 1.25
        ((0.45, 0.35, 0.10, 0.15, 0.20), "must sum to 1"),
    ],
)
def test_weights_outside_the_spec(monkeypatch: pytest.MonkeyPatch, values: tuple[float, ...],
                                  must_contain: str) -> None:
    set_weights(monkeypatch, "VOLATILE", values)
    msg = config_error(monkeypatch)
    assert "risk.weights.volatile" in msg and "SEXTANT_RISK__WEIGHTS__VOLATILE" in msg
    assert must_contain in msg, msg


def test_single_news_multiplier_can_be_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEXTANT_NEWS__PANIC__STOP", "2")
    s = load_settings()
    assert s.news.panic.stop == 2.0 and s.news.panic.leverage == 0.5


def test_two_weights_can_be_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0.45 -> 0.40 trend, 0.15 -> 0.20 momentum: still sums to 1 and inside the ranges
    monkeypatch.setenv("SEXTANT_RISK__WEIGHTS__TRENDING__TREND", "0.40")
    monkeypatch.setenv("SEXTANT_RISK__WEIGHTS__TRENDING__MOMENTUM", "0.20")
    t = load_settings().risk.weights.trending
    assert (t.trend, t.momentum, t.volume) == (0.40, 0.20, 0.10)


# --- TOML file ---------------------------------------------------------------------------------

TOML = """
equity = 5000
watchlist = ["btc", "ETHUSDT"]

[risk]
long_threshold = 0.6
max_open_positions = 2

[market]
assumed_spread_pct = 0.05

[market.history]
"1h" = 800
"""


def test_toml_file_sets_values(tmp_path: Path) -> None:
    f = tmp_path / "sextant.toml"
    f.write_text(TOML)
    s = load_settings(f)
    assert s.equity == Decimal("5000")
    assert s.watchlist == ("BTC/USDT:USDT", "ETH/USDT:USDT")
    assert s.risk.long_threshold == 0.6 and s.risk.max_open_positions == 2
    assert s.risk.short_threshold == -0.45
    assert s.market.assumed_spread_pct == 0.05 and s.market.history.h1 == 800
    # the file applies to that load only
    assert load_settings().risk.long_threshold == 0.45


def test_environment_overrides_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    f = tmp_path / "sextant.toml"
    f.write_text(TOML)
    monkeypatch.setenv("SEXTANT_RISK__LONG_THRESHOLD", "0.7")
    monkeypatch.setenv("SEXTANT_EQUITY", "750")
    s = load_settings(f)
    assert s.risk.long_threshold == 0.7 and s.equity == Decimal("750")
    assert s.risk.max_open_positions == 2  # the rest of the file's [risk] still applies


def test_dotenv_overrides_toml(tmp_path: Path) -> None:
    f = tmp_path / "sextant.toml"
    f.write_text(TOML)
    (tmp_path / ".env").write_text("SEXTANT_RISK__LONG_THRESHOLD=0.65\n")
    s = load_settings(f)
    assert s.risk.long_threshold == 0.65 and s.risk.max_open_positions == 2


def test_invalid_toml_value_names_the_field(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[risk]\nstop_max_pct = 80\n")
    with pytest.raises(ConfigError, match=r"risk\.stop_max_pct"):
        load_settings(f)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")


# --- secrets -----------------------------------------------------------------------------------


def assert_hidden(s: Settings) -> None:
    for text in (repr(s), str(s), s.model_dump_json(), str(s.model_dump()), repr(s.model_dump())):
        for secret in SECRETS.values():
            assert secret not in text


def test_keys_from_unprefixed_names_are_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "-100123")
    s = load_settings()
    assert isinstance(s.openrouter_api_key, SecretStr)
    assert isinstance(s.bybit_api_key, SecretStr) and isinstance(s.bybit_api_secret, SecretStr)
    assert isinstance(s.telegram_bot_token, SecretStr)
    assert s.openrouter_api_key.get_secret_value() == SECRETS["OPENROUTER_API_KEY"]
    assert s.bybit_api_secret.get_secret_value() == SECRETS["BYBIT_API_SECRET"]
    assert s.telegram_bot_token.get_secret_value() == SECRETS["TELEGRAM_BOT_TOKEN"]
    assert s.telegram_chat_id == "-100123"
    assert s.has_llm_key
    assert_hidden(s)


def test_blank_keys_are_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "  ")
    monkeypatch.setenv("BYBIT_API_KEY", "")
    s = load_settings()
    assert s.openrouter_api_key is None and s.bybit_api_key is None and not s.has_llm_key


def test_blank_chat_id_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "")
    assert load_settings().telegram_chat_id is None


def test_keys_from_dotenv_are_secret(clean_env: Path) -> None:
    (clean_env / ".env").write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items()))
    s = load_settings()
    assert s.bybit_api_key is not None
    assert s.bybit_api_key.get_secret_value() == SECRETS["BYBIT_API_KEY"]
    assert_hidden(s)


# --- mode --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["live", "demo"])
def test_trading_modes_need_keys(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    msg = config_error(monkeypatch, SEXTANT_MODE=mode, SEXTANT_MARKET__SOURCE="bybit")
    assert "BYBIT_API_KEY" in msg and "BYBIT_API_SECRET" in msg
    # a key without its secret is not enough
    msg = config_error(monkeypatch, BYBIT_API_KEY=SECRETS["BYBIT_API_KEY"])
    assert "BYBIT_API_SECRET" in msg
    assert SECRETS["BYBIT_API_KEY"] not in msg


@pytest.mark.parametrize("mode", ["live", "demo"])
def test_trading_modes_need_the_bybit_source(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    msg = config_error(monkeypatch, SEXTANT_MODE=mode, BYBIT_API_KEY=SECRETS["BYBIT_API_KEY"],
                       BYBIT_API_SECRET=SECRETS["BYBIT_API_SECRET"])
    assert "SEXTANT_MARKET__SOURCE=bybit" in msg
    assert SECRETS["BYBIT_API_SECRET"] not in msg


def test_live_with_keys_and_bybit_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEXTANT_MODE", "live")
    monkeypatch.setenv("SEXTANT_MARKET__SOURCE", "bybit")
    monkeypatch.setenv("BYBIT_API_KEY", SECRETS["BYBIT_API_KEY"])
    monkeypatch.setenv("BYBIT_API_SECRET", SECRETS["BYBIT_API_SECRET"])
    s = load_settings()
    assert s.mode == "live"
    assert_hidden(s)


# --- .env --------------------------------------------------------------------------------------


def test_dotenv_in_working_directory_is_read(clean_env: Path) -> None:
    (clean_env / ".env").write_text(
        "SEXTANT_EQUITY=2500\nSEXTANT_RISK__MAX_OPEN_POSITIONS=2\nSEXTANT_WATCHLIST=sol,xrp\n"
    )
    s = load_settings()
    assert s.equity == Decimal("2500") and s.risk.max_open_positions == 2
    assert s.watchlist == ("SOL/USDT:USDT", "XRP/USDT:USDT")


def test_environment_beats_dotenv(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    (clean_env / ".env").write_text("SEXTANT_EQUITY=2500\n")
    monkeypatch.setenv("SEXTANT_EQUITY", "3000")
    assert load_settings().equity == Decimal("3000")


def test_invalid_dotenv_value_is_a_config_error(clean_env: Path) -> None:
    (clean_env / ".env").write_text("SEXTANT_MODE=yolo\n")
    with pytest.raises(ConfigError, match="SEXTANT_MODE"):
        load_settings()


def test_env_example_as_dotenv_gives_the_defaults(clean_env: Path) -> None:
    defaults = load_settings()
    (clean_env / ".env").write_text((REPO / ".env.example").read_text())
    s = load_settings()
    # TELEGRAM_CHAT_ID= is compared in test_blank_chat_id_is_none
    assert s.model_dump(exclude={"telegram_chat_id"}) == defaults.model_dump(
        exclude={"telegram_chat_id"})
    assert s.mode == "dry_run" and s.market.source == "replay"
    assert s.equity == Decimal("10000") and s.watchlist == DEFAULT_WATCHLIST
    assert s.openrouter_api_key is None and s.bybit_api_key is None


# --- CLI ---------------------------------------------------------------------------------------


def test_cli_exits_2_naming_the_field(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main

    monkeypatch.setenv("SEXTANT_RISK__LONG_THRESHOLD", "2")
    assert main(["run", "--once", "--json"]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out)["schema"] == "sextant.error/1"  # --json: one error document
    assert "risk.long_threshold" in err and "SEXTANT_RISK__LONG_THRESHOLD" in err


def test_cli_missing_config_file_exits_2(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main

    assert main(["run", "--once", "--json", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err
