"""Paper broker (SEXTANT_MODE=dry_run): simulated fills, Bybit's fees, the same store.

Entries fill at the quote plus slippage (settings) on the tick grid; exits found by the
lifecycle (stops, take-profits, time-based exits) fill at market: the trigger, or the open when
the bar gapped through it, less slippage against the position, on the tick grid, with the taker
fee. On Bybit the take-profits are conditional market orders too, so paper pays what live pays.
Protective orders are recorded as simulated resting conditional orders so the book looks the
same in every mode. Funding is charged by the engine.
No keys, no network.
"""

from datetime import datetime
from decimal import Decimal

from execution import ids
from execution.store import Store, Tx
from sextant.account import fill_entry, fill_exit
from sextant.config import Settings
from sextant.lifecycle import Exit, StepResult, tp1_quantity
from sextant.models import MarketInfo, Signal
from sextant.ports.broker import Applied, OpenResult, SyncReport
from sextant.positions import Fill, OrderRecord, Position

STOP_REASONS = ("stop_loss", "breakeven_stop", "trailing_stop")


def _closing_side(pos: Position) -> str:
    return "sell" if pos.side == "long" else "buy"


class PaperBroker:
    name = "paper"
    exchange_exits = False

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.s = settings.execution

    async def start(self) -> SyncReport:
        return SyncReport()

    async def sync(self, time: datetime) -> SyncReport:
        return SyncReport()

    async def equity(self) -> Decimal | None:
        return None

    async def aclose(self) -> None:
        return None

    # -- entries -----------------------------------------------------------------------------

    def _protective(self, pos: Position, time: datetime) -> list[OrderRecord]:
        side = _closing_side(pos)
        tp1 = tp1_quantity(pos, Decimal(str(self.settings.risk.tp1_close_fraction)))
        common = {
            "position_id": pos.position_id,
            "symbol": pos.symbol,
            "side": side,
            "reduce_only": True,
            "status": "open",
            "mode": pos.mode,
            "created_at": time,
            "updated_at": time,
        }
        orders = [
            OrderRecord(
                client_order_id=ids.stop_id(pos.position_id),
                kind="stop",
                reason="stop_loss",
                order_type="stop_market",
                quantity=pos.quantity,
                trigger_price=pos.stop_loss,
                **common,
            ),
            OrderRecord(
                client_order_id=ids.target_id(pos.position_id, 1),
                kind="tp1",
                reason="tp1",
                order_type="take_profit_market",
                quantity=tp1,
                trigger_price=pos.take_profit_1,
                **common,
            ),
        ]
        if tp1 < pos.quantity:
            orders.append(
                OrderRecord(
                    client_order_id=ids.target_id(pos.position_id, 2),
                    kind="tp2",
                    reason="tp2",
                    order_type="take_profit_market",
                    quantity=pos.quantity - tp1,
                    trigger_price=pos.take_profit_2,
                    **common,
                )
            )
        return orders

    async def open(
        self, signal: Signal, *, market: MarketInfo, price: Decimal, time: datetime
    ) -> OpenResult:
        assert signal.side is not None and signal.quantity is not None
        assert signal.stop_loss is not None and signal.take_profit_1 is not None
        assert signal.take_profit_2 is not None and signal.leverage is not None
        pid = signal.signal_id
        existing = self.store.order(ids.entry_id(pid))
        if existing is not None:
            return OpenResult(status="exists", position=self.store.position(pid))
        pos, fill = fill_entry(
            signal, reference=price, market=market, time=time, s=self.s, mode=self.settings.mode
        )
        qty, fill_price, fee = fill.quantity, fill.price, fill.fee
        fill = fill.model_copy(update={"order_id": ids.entry_id(pid)})
        entry = OrderRecord(
            client_order_id=ids.entry_id(pid),
            position_id=pid,
            symbol=signal.symbol,
            side="buy" if signal.side == "long" else "sell",
            kind="entry",
            order_type="market",
            quantity=qty,
            status="filled",
            filled_quantity=qty,
            average_price=fill_price,
            fee=fee,
            mode=self.settings.mode,
            created_at=time,
            updated_at=time,
        )
        orders = [entry, *self._protective(pos, time)]
        with self.store.tx() as tx:
            tx.insert_position(pos)
            tx.add_fill(fill.order_id, fill)
            for o in orders:
                tx.put_order(o)
        return OpenResult(status="filled", position=pos, orders=orders, fills=[fill])

    # -- a lifecycle step: stop moves and exits, in one transaction ---------------------------

    async def apply(
        self, old: Position, result: StepResult, exits: list[Exit], *, time: datetime
    ) -> Applied:
        pos = result.position
        active = {o.kind: o for o in self.store.orders(old.position_id, active=True)}
        orders: list[OrderRecord] = []
        booked: list[tuple[Position, Fill, OrderRecord]] = []
        for ex in exits:
            pos, fill, order = self._exit(pos, ex, active, time)
            booked.append((pos, fill, order))
            orders.append(order)
        if result.stop_moves and pos.is_open:
            orders += self._move_stop(pos, active, time)
        if not pos.is_open:
            orders += self._cancel_rest(active, {o.client_order_id for o in orders}, time)
        elif old.tp1_done is False and pos.tp1_done and "stop" in active:
            # after TP1 the resting stop covers only what is left
            stop = active["stop"]
            if stop.client_order_id not in {o.client_order_id for o in orders}:
                resized = stop.model_copy(update={"quantity": pos.quantity, "updated_at": time})
                orders.append(resized)
        with self.store.tx() as tx:
            tx.update_position(old, pos)
            self._write(tx, booked, orders)
        return Applied(
            position=pos,
            fills=[f for _, f, _ in booked],
            orders=orders,
            exits=[(p, f) for p, f, _ in booked],
        )

    def _exit(
        self, pos: Position, ex: Exit, active: dict[str, OrderRecord], time: datetime
    ) -> tuple[Position, Fill, OrderRecord]:
        kind = {"tp1": "tp1", "tp2": "tp2"}.get(ex.reason, "")
        if ex.reason in STOP_REASONS:
            kind = "stop"
        resting = active.pop(kind, None) if kind else None
        if resting is not None:
            cid = resting.client_order_id
        else:
            attempt = sum(
                1
                for o in self.store.orders(pos.position_id)
                if o.kind == "exit" and o.reason == ex.reason
            )
            cid = ids.exit_id(pos.position_id, ex.reason, attempt)
        new, fill = fill_exit(pos, ex, time=time, s=self.s, order_id=cid)
        done = {
            "status": "filled",
            "quantity": fill.quantity,
            "filled_quantity": fill.quantity,
            "average_price": fill.price,
            "fee": fill.fee,
            "reason": ex.reason,
            "updated_at": time,
        }
        if resting is not None:
            order = resting.model_copy(update=done)
        else:
            order = OrderRecord(
                client_order_id=cid,
                position_id=pos.position_id,
                symbol=pos.symbol,
                side=_closing_side(pos),  # type: ignore[arg-type]
                kind="exit",
                order_type="market",
                reduce_only=True,
                mode=pos.mode,
                created_at=time,
                **done,
            )
        return new, fill, order

    def _move_stop(
        self, pos: Position, active: dict[str, OrderRecord], time: datetime
    ) -> list[OrderRecord]:
        out = []
        old = active.get("stop")
        if old is not None:
            out.append(old.model_copy(update={"status": "cancelled", "updated_at": time}))
        revision = sum(1 for o in self.store.orders(pos.position_id) if o.kind == "stop")
        new = OrderRecord(
            client_order_id=ids.stop_id(pos.position_id, revision),
            position_id=pos.position_id,
            symbol=pos.symbol,
            side=_closing_side(pos),  # type: ignore[arg-type]
            kind="stop",
            reason="trail" if pos.tp1_done else "breakeven",
            order_type="stop_market",
            quantity=pos.quantity,
            trigger_price=pos.stop_loss,
            reduce_only=True,
            status="open",
            mode=pos.mode,
            created_at=time,
            updated_at=time,
        )
        active["stop"] = new
        out.append(new)
        return out

    @staticmethod
    def _cancel_rest(
        active: dict[str, OrderRecord], touched: set[str], time: datetime
    ) -> list[OrderRecord]:
        return [
            o.model_copy(update={"status": "cancelled", "updated_at": time})
            for o in active.values()
            if o.client_order_id not in touched
        ]

    @staticmethod
    def _write(
        tx: Tx, booked: list[tuple[Position, Fill, OrderRecord]], orders: list[OrderRecord]
    ) -> None:
        for _, fill, _ in booked:
            tx.add_fill(fill.order_id, fill)
        for o in orders:
            tx.put_order(o)
