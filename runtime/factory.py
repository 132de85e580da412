"""Builds the execution engine of SEXTANT_MODE: paper (dry_run) or Bybit (demo, live)."""

import os
from collections.abc import Mapping

from execution.engine import ExecutionEngine
from execution.prices import BybitPriceFeed, PriceFeed, ReplayPriceFeed
from execution.store import Store
from runtime.lock import claim
from sextant.config import ConfigError, Settings
from sextant.ports.broker import Broker


def check_mode(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """Real money needs an explicit `SEXTANT_MODE=live` in the environment (a config file or
    a default never switches it on) and both Bybit keys. Settings already refuse demo/live
    without keys or with the replay market."""
    env = os.environ if environ is None else environ
    if settings.mode == "live":
        if env.get("SEXTANT_MODE", "").strip().lower() != "live":
            raise ConfigError(
                "mode: live trading needs SEXTANT_MODE=live set explicitly in the environment"
            )
        if settings.bybit_api_key is None or settings.bybit_api_secret is None:
            raise ConfigError("mode: live trading needs BYBIT_API_KEY and BYBIT_API_SECRET")


def make_feed(settings: Settings) -> PriceFeed:
    if settings.market.source == "bybit":
        return BybitPriceFeed(settings)
    return ReplayPriceFeed(settings)


def make_broker(settings: Settings, store: Store) -> Broker:
    if settings.mode == "dry_run":
        from execution.paper import PaperBroker

        return PaperBroker(settings, store)
    from execution.bybit import BybitBroker

    return BybitBroker(settings, store)


def build_engine(
    settings: Settings, *, store: Store | None = None, environ: Mapping[str, str] | None = None
) -> ExecutionEngine:
    """The engine of SEXTANT_MODE; on Bybit its start takes the state directory's lock (unless
    this process holds it: the loop), so only one process reconciles with the account."""
    check_mode(settings, environ)
    store = store or Store.open(settings.state_dir)
    return ExecutionEngine(
        settings,
        store,
        make_broker(settings, store),
        make_feed(settings),
        guard=lambda: claim(settings.state_dir),
    )
