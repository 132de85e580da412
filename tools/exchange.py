"""The one seam around ccxt: the Bybit client is created here and nowhere else."""

from typing import Any

import ccxt.async_support as ccxt_async

from sextant.config import Settings


def make_bybit(settings: Settings, *, private: bool = False) -> Any:
    """An async ccxt bybit client for USDT linear perpetuals.

    ccxt's own throttle is off: callers go through our limiter, set to Bybit's documented
    window. Keys are attached only for private use and never logged.
    """
    config: dict[str, Any] = {
        "enableRateLimit": False,
        "timeout": int(settings.market.request_timeout_s * 1000),
        "options": {
            "defaultType": "swap",
            "defaultSubType": "linear",
            "fetchMarkets": {"types": ["linear"]},
            "adjustForTimeDifference": False,
        },
    }
    if private:
        if settings.bybit_api_key is None or settings.bybit_api_secret is None:
            raise ValueError("private Bybit access needs BYBIT_API_KEY and BYBIT_API_SECRET")
        config["apiKey"] = settings.bybit_api_key.get_secret_value()
        config["secret"] = settings.bybit_api_secret.get_secret_value()
    exchange = ccxt_async.bybit(config)
    if settings.market.demo or settings.mode == "demo":
        exchange.enable_demo_trading(True)
    if settings.market.base_url:
        base = settings.market.base_url.rstrip("/")
        exchange.urls["api"] = {key: base for key in exchange.urls["api"]}
    return exchange
