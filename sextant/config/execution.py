"""Execution settings: position management rules, paper-trading costs, the loop's timing."""

from decimal import Decimal

from pydantic import Field, model_validator

from sextant.config.base import Section


class ExecutionSettings(Section):
    # -- position lifecycle (shared by paper, demo, live and the backtester) --
    breakeven_trigger_pct: Decimal = Field(
        Decimal("2.5"), gt=0, description="At this favourable move the stop goes to breakeven."
    )
    breakeven_offset_pct: Decimal = Field(
        Decimal("0.15"), ge=0, description="Breakeven stop = entry +/- this, in the trade's favour."
    )
    trail_after_tp1_pct: Decimal = Field(
        Decimal("2.0"), gt=0, le=50, description="After TP1 the stop trails the best price by this."
    )
    stale_after_hours: float = Field(48, gt=0, description="Close a position open this long...")
    stale_min_profit_pct: Decimal = Field(
        Decimal("1.0"), description="...if its profit is below this percent."
    )
    close_all_on_circuit_breaker: bool = Field(
        False, description="When the daily loss limit trips, also close every open position."
    )
    # -- paper broker and backtest costs (Bybit's standard non-VIP rates) --
    taker_fee_pct: Decimal = Field(Decimal("0.055"), ge=0, le=1, description="Taker fee, %.")
    maker_fee_pct: Decimal = Field(
        Decimal("0.02"),
        ge=-1,
        le=1,
        description=(
            "Maker fee, %. Only for limit (non-market) exits, which the lifecycle does not "
            "produce: targets are conditional market orders and pay the taker fee."
        ),
    )
    slippage_pct: Decimal = Field(
        Decimal("0.05"), ge=0, le=5, description="Paper/backtest market-order slippage, %."
    )
    maintenance_margin_pct: Decimal = Field(
        Decimal("0.5"), gt=0, lt=50, description="Isolated-margin maintenance rate (liquidation)."
    )
    funding_interval_hours: int = Field(8, ge=1, le=24, description="Funding settles this often.")
    # -- the loop --
    monitor_interval_s: float = Field(30, gt=0, description="Position monitor period.")
    cycle_delay_s: float = Field(
        20, ge=0, le=600, description="Wait after each hour so the closed 1h candle is published."
    )
    resume_window_s: float = Field(
        900,
        ge=0,
        description="Live loop: an interrupted cycle younger than this resumes from its "
        "checkpoint; an older one is abandoned (its signals are stale). Replays always resume.",
    )
    checkpoint_keep_cycles: int = Field(
        2, ge=1, le=10_000, description="Graph checkpoints kept for the most recent cycles."
    )
    # -- orders on Bybit (demo / live) --
    order_retries: int = Field(
        3, ge=0, le=10, description="Retries of an order call after a timeout or network error."
    )
    order_retry_backoff_s: float = Field(
        0.5, ge=0, le=30, description="First wait before an order retry; doubles each time."
    )
    order_lookup_passes: int = Field(
        5,
        ge=1,
        le=1000,
        description="Monitor passes an order Bybit does not show is looked up again (by its "
        "orderLinkId; Bybit's order views lag behind its matching engine) before it is taken "
        "as never arrived; also the passes a position flat on Bybit with no execution to show "
        "for it waits before it is booked at its last price.",
    )
    adopt_stop_pct: Decimal = Field(
        Decimal("5"),
        gt=0,
        lt=50,
        description="A position found on the exchange without a stop gets one this far away, %.",
    )

    @model_validator(mode="after")
    def _check(self) -> "ExecutionSettings":
        if self.breakeven_offset_pct >= self.breakeven_trigger_pct:
            raise ValueError("breakeven_offset_pct must be below breakeven_trigger_pct")
        return self
