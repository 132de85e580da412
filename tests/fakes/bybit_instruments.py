"""Instrument specs served by the fake Bybit v5 server (`tests/fakes/bybit_v5.py`).

The numbers are realistic values for Bybit USDT linear perpetuals as published by
`GET /v5/market/instruments-info?category=linear` in 2024-25, written down from memory
of public responses: good enough for precision/limit/sizing tests, not an authority.
Bybit changes risk limits (max qty, max leverage) from time to time.
Steps, ticks, minimums and max leverage agree with data/bundled/markets.json (the replay
source's trading rules), so the replay and bybit adapters see the same markets.
All values are kept as strings because the wire format encodes numbers as strings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class InstrumentSpec:
    """One linear perpetual, in Bybit's own vocabulary (see `to_wire`)."""

    symbol: str  # Bybit id, e.g. "BTCUSDT"
    base: str
    tick_size: str
    min_price: str
    max_price: str
    price_scale: int
    qty_step: str
    min_qty: str
    max_qty: str
    max_mkt_qty: str
    max_leverage: str
    launch_time: str
    quote: str = "USDT"
    min_notional: str = "5"
    min_leverage: str = "1"
    leverage_step: str = "0.01"
    status: str = "Trading"
    funding_interval_min: int = 480

    @property
    def ccxt_symbol(self) -> str:
        return f"{self.base}/{self.quote}:{self.quote}"

    @property
    def tick(self) -> float:
        return float(self.tick_size)

    @property
    def step(self) -> float:
        return float(self.qty_step)

    @property
    def qty_decimals(self) -> int:
        return _decimals(self.qty_step)

    def to_wire(self) -> dict[str, Any]:
        """The instrument exactly as Bybit's instruments-info lists it."""
        return {
            "symbol": self.symbol,
            "contractType": "LinearPerpetual",
            "status": self.status,
            "baseCoin": self.base,
            "quoteCoin": self.quote,
            "launchTime": self.launch_time,
            "deliveryTime": "0",
            "deliveryFeeRate": "",
            "priceScale": str(self.price_scale),
            "leverageFilter": {
                "minLeverage": self.min_leverage,
                "maxLeverage": self.max_leverage,
                "leverageStep": self.leverage_step,
            },
            "priceFilter": {
                "minPrice": self.min_price,
                "maxPrice": self.max_price,
                "tickSize": self.tick_size,
            },
            "lotSizeFilter": {
                "maxOrderQty": self.max_qty,
                "minOrderQty": self.min_qty,
                "qtyStep": self.qty_step,
                "postOnlyMaxOrderQty": self.max_qty,
                "maxMktOrderQty": self.max_mkt_qty,
                "minNotionalValue": self.min_notional,
            },
            "unifiedMarginTrade": True,
            "fundingInterval": self.funding_interval_min,
            "settleCoin": self.quote,
            "copyTrading": "both",
            "upperFundingRate": "0.005",
            "lowerFundingRate": "-0.005",
            "isPreListing": False,
            "preListingInfo": None,
            "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
            "displayName": "",
        }


def _decimals(step: str) -> int:
    return len(step.split(".")[1]) if "." in step else 0


def _spec(
    base: str,
    tick: str,
    max_price: str,
    step: str,
    max_qty: str,
    max_mkt_qty: str,
    max_lev: str,
    launch: str,
) -> InstrumentSpec:
    return InstrumentSpec(
        symbol=f"{base}USDT",
        base=base,
        tick_size=tick,
        min_price=tick,
        max_price=max_price,
        price_scale=_decimals(tick),
        qty_step=step,
        min_qty=step,
        max_qty=max_qty,
        max_mkt_qty=max_mkt_qty,
        max_leverage=max_lev,
        launch_time=launch,
    )


# The ten watchlist perps plus BNB, a real listed perp for which the test data has no candles.
DEFAULT_INSTRUMENTS: dict[str, InstrumentSpec] = {
    s.symbol: s
    for s in (
        _spec(
            "BTC", "0.10", "1999999.80", "0.001", "1190.000", "119.000", "100.00", "1584230400000"
        ),
        _spec("ETH", "0.01", "199999.98", "0.01", "7240.00", "724.00", "100.00", "1615766400000"),
        _spec("SOL", "0.010", "19999.980", "0.1", "79770.0", "7977.0", "100.00", "1634256000000"),
        _spec("XRP", "0.0001", "199.9998", "1", "1613520", "161352", "75.00", "1620086400000"),
        _spec("DOGE", "0.00001", "19.99998", "1", "27430000", "2743000", "75.00", "1622505600000"),
        _spec("ADA", "0.0001", "199.9998", "1", "3230000", "323000", "75.00", "1620086400000"),
        _spec("LTC", "0.01", "19999.98", "0.1", "17110.0", "1711.0", "50.00", "1620086400000"),
        _spec("LINK", "0.001", "1999.998", "0.1", "49340.0", "4934.0", "75.00", "1620086400000"),
        _spec("AVAX", "0.001", "1999.998", "0.1", "25910.0", "2591.0", "50.00", "1631664000000"),
        _spec("DOT", "0.0001", "199.9998", "0.1", "106330.0", "10633.0", "50.00", "1620086400000"),
        _spec("BNB", "0.01", "19999.98", "0.01", "1980.00", "198.00", "50.00", "1630368000000"),
    )
}


def generic_spec(symbol: str, reference_price: float) -> InstrumentSpec:
    """A plausible spec for a symbol the table lacks (e.g. synthetic benchmark symbols).

    About five significant digits of price and a lot step worth under ~5 USDT.
    """
    base = symbol[: -len("USDT")] if symbol.endswith("USDT") else symbol
    price = reference_price if reference_price > 0 else 1.0
    tick_exp = math.floor(math.log10(price)) - 4
    step_exp = math.ceil(math.log10(5.0 / price)) - 1
    tick = _pow10(tick_exp)
    step = _pow10(step_exp)
    return InstrumentSpec(
        symbol=symbol,
        base=base,
        tick_size=tick,
        min_price=tick,
        max_price=_pow10(math.floor(math.log10(price)) + 3),
        price_scale=_decimals(tick),
        qty_step=step,
        min_qty=step,
        max_qty=_fmt_qty(float(step) * 1_000_000, step),
        max_mkt_qty=_fmt_qty(float(step) * 100_000, step),
        max_leverage="25.00",
        launch_time="1672531200000",
    )


def _pow10(exp: int) -> str:
    return f"{10.0**exp:.{max(-exp, 0)}f}"


def _fmt_qty(value: float, step: str) -> str:
    return f"{value:.{_decimals(step)}f}"
