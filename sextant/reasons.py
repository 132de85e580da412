"""Stable, machine-readable reason codes. Scripts match on these; never rename one."""

from enum import StrEnum


class Code(StrEnum):
    # eligibility (Data Collector)
    LOW_VOLUME = "low_volume"
    WIDE_SPREAD = "wide_spread"
    STALE_DATA = "stale_data"
    NO_DATA = "no_data"
    NOT_LISTED = "not_listed"
    DATA_ERROR = "data_error"
    INSUFFICIENT_HISTORY = "insufficient_history"
    # decision
    SCORE_BELOW_THRESHOLD = "score_below_threshold"
    DAILY_VETO = "daily_timeframe_veto"
    FUNDING_AGAINST = "funding_against_trade"
    BTC_DUMP = "btc_down_4h"
    MAX_POSITIONS = "max_open_positions"
    CORRELATION_LIMIT = "correlation_group_limit"
    CIRCUIT_BREAKER = "daily_loss_circuit_breaker"
    POSITION_OPEN = "position_already_open"
    BELOW_MIN_ORDER = "below_min_order_size"
    INSUFFICIENT_MARGIN = "insufficient_margin"
    NO_VOLATILITY = "no_volatility_estimate"
    NEWS_VETO = "news_veto"
    # informational
    COMPONENT_UNAVAILABLE = "component_unavailable"
    NEWS_UNAVAILABLE = "news_unavailable"
    NEWS_DRIVER = "news_driver"
    NEWS_REGIME = "news_regime"
    ASSUMED_DATA = "assumed_data"
    LEVERAGE_CAPPED = "leverage_capped"
    STOP_CLAMPED = "stop_clamped"
    DRIVER = "driver"
