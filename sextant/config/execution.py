"""Execution settings: position management rules, paper-trading costs, the loop's timing."""

from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from sextant.config.base import Section


class ExecutionSettings(Section):
    # -- position lifecycle (shared by paper, demo, live and the backtester) --
    # Distances come in three units: pct (of the entry price), r (multiples of the initial stop
    # distance, R) and atr (multiples of the 30-day daily ATR at entry; a position without one,
    # e.g. adopted from the exchange, uses R). The spec's rules are the pct ones.
    breakeven_trigger_unit: Literal["pct", "r", "atr", "off"] = Field(
        "pct",
        description="Unit of the breakeven trigger (off = no breakeven move).",
    )
    breakeven_trigger_pct: Decimal = Field(
        Decimal("2.5"), gt=0, description="At this favourable move the stop goes to breakeven."
    )
    breakeven_trigger_r: Decimal = Field(
        Decimal("1.0"), gt=0, le=50, description="Breakeven trigger in R (unit r)."
    )
    breakeven_trigger_atr: Decimal = Field(
        Decimal("1.0"), gt=0, le=50, description="Breakeven trigger in daily ATRs (unit atr)."
    )
    breakeven_offset_pct: Decimal = Field(
        Decimal("0.15"), ge=0, description="Breakeven stop = entry +/- this, in the trade's favour."
    )
    breakeven_offset_covers_costs: bool = Field(
        False,
        description="Add the round trip's costs to the breakeven offset: the exit's slippage and "
        "both taker fees (2 x taker_fee_pct + slippage_pct; the entry's slippage is already in "
        "the entry price), so a breakeven exit loses nothing net.",
    )
    trail_unit: Literal["pct", "r", "atr"] = Field(
        "pct", description="Unit of the trailing distance."
    )
    trail_after_tp1_pct: Decimal = Field(
        Decimal("2.0"),
        gt=0,
        le=50,
        description="The stop trails the best price by this, % (unit pct; from TP1 in the spec).",
    )
    trail_r: Decimal = Field(Decimal("1.0"), gt=0, le=50, description="Trailing distance in R.")
    trail_atr: Decimal = Field(
        Decimal("3.0"), gt=0, le=50, description="Trailing distance in daily ATRs."
    )
    trail_start: Literal["tp1", "breakeven", "entry"] = Field(
        "tp1",
        description="When trailing starts: after TP1 (the spec), once the breakeven trigger is "
        "reached, or from the entry (a chandelier stop).",
    )
    stale_exit: bool = Field(True, description="Close stale positions (the two settings below).")
    stale_after_hours: float = Field(48, gt=0, description="Close a position open this long...")
    stale_min_profit_pct: Decimal = Field(
        Decimal("1.0"), description="...if its profit is below this percent."
    )
    reversal_exit_score: float | None = Field(
        None,
        ge=-1,
        le=1,
        description="Signal-reversal exit: at a cycle, a long whose final score is at or below "
        "this is closed at market, a short whose score is at or above minus this; 0 = when the "
        "score changes sign, -0.45 = when it would be an opposite signal. Empty = off (spec).",
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
        if self.breakeven_trigger_unit == "pct" and (
            self.breakeven_offset_pct >= self.breakeven_trigger_pct
        ):
            raise ValueError("breakeven_offset_pct must be below breakeven_trigger_pct")
        if self.trail_start == "breakeven" and self.breakeven_trigger_unit == "off":
            raise ValueError("trail_start = breakeven needs a breakeven trigger (unit not off)")
        return self
