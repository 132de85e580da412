"""Bybit broker (SEXTANT_MODE=demo: Bybit demo trading; live: real money), through ccxt.

Entry: isolated margin and the signal's leverage, a market order, then the stop-loss, TP1 and
TP2 as reduce-only conditional market orders resting on the exchange: a crash of Sextant never
leaves a position unprotected. The exchange fills stops and targets itself; `sync()` books
those fills (and funding) into the store.

Exactly once: every order's client id (Bybit `orderLinkId`) derives from the signal id and is
written to the store as `pending` before it is sent. A timeout or network error on creation is
answered by asking Bybit for that orderLinkId, never by sending blindly again; Bybit refuses a
duplicate orderLinkId anyway (110072). On start (and every monitor pass) `sync()` settles
pending orders, books what filled while Sextant was down, re-places a missing stop or target,
and adopts a position the database does not know (it gets a stop and is reported).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt

from execution import ids
from execution.broker import Applied, BrokerUnavailable, OpenResult, SyncReport
from execution.lifecycle import (
    Exit,
    StepResult,
    apply_exit,
    liquidation_price,
    open_position,
    stop_reason,
    tp1_quantity,
)
from execution.store import FundingPayment, Store
from sextant.config import Settings
from sextant.models import MarketInfo, Signal
from sextant.positions import ExitReason, Fill, OrderRecord, Position

log = logging.getLogger("sextant.execution.bybit")
Sleep = Callable[[float], Awaitable[None]]
CROSSED = ("110092", "110093")  # a trigger already on the wrong side of the price
FINAL = {"Filled", "PartiallyFilledCanceled", "Cancelled", "Rejected", "Deactivated"}


def _ms(ts: Any) -> datetime:
    return datetime.fromtimestamp(int(ts) / 1000, UTC)


def _d(x: Any, default: str = "0") -> Decimal:
    if x is None or x == "":
        return Decimal(default)
    return Decimal(str(x))


def _status(row: dict[str, Any]) -> str:
    st = row.get("orderStatus", "")
    filled = _d(row.get("cumExecQty"))
    if st in ("New", "Untriggered", "Triggered", "Active"):
        return "open"
    if st == "PartiallyFilled":
        return "open"
    if st == "Filled":
        return "filled"
    if st in ("PartiallyFilledCanceled", "Cancelled", "Deactivated"):
        return "partially_filled" if filled > 0 else "cancelled"
    if st == "Rejected":
        return "rejected"
    return "pending"


class BybitBroker:
    name = "bybit"
    exchange_exits = True

    def __init__(
        self,
        settings: Settings,
        store: Store,
        exchange: Any | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        from tools.exchange import make_bybit

        self.settings = settings
        self.store = store
        self.s = settings.execution
        self.exchange = exchange or make_bybit(settings, private=True)
        self._sleep = sleep or asyncio.sleep
        self._unified: bool | None = None
        self._margin_error = ""

    # -- plumbing -----------------------------------------------------------------------------

    async def _retry(self, what: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Reads and idempotent calls: retried on network errors with backoff."""
        delay = self.s.order_retry_backoff_s
        for attempt in range(self.s.order_retries + 1):
            try:
                return await fn()
            except ccxt.NetworkError as exc:
                if attempt == self.s.order_retries:
                    raise BrokerUnavailable(f"{what}: {exc}") from exc
                log.warning("%s: %s; retry in %.2fs", what, type(exc).__name__, delay)
                await self._sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _market(self, symbol: str) -> dict[str, Any]:
        return self.exchange.market(symbol)

    def _amount(self, symbol: str, qty: Decimal) -> Decimal:
        return Decimal(self.exchange.amount_to_precision(symbol, float(qty)))

    def _price(self, symbol: str, price: Decimal) -> Decimal:
        return Decimal(self.exchange.price_to_precision(symbol, float(price)))

    def _tick_lot(self, symbol: str) -> tuple[Decimal, Decimal]:
        prec = self._market(symbol)["precision"]
        return Decimal(str(prec["price"])), Decimal(str(prec["amount"]))

    async def _server_time(self) -> datetime:
        ms = await self._retry("fetch_time", self.exchange.fetch_time)
        return _ms(ms)

    async def query(self, client_order_id: str) -> dict[str, Any] | None:
        """An order by its orderLinkId: open and recent ones, then the history."""
        for method in (
            self.exchange.private_get_v5_order_realtime,
            self.exchange.private_get_v5_order_history,
        ):
            params = {"category": "linear", "orderLinkId": client_order_id}
            res = await self._retry(
                f"query {client_order_id}", lambda m=method, p=params: m(p)  # type: ignore[misc]
            )
            rows = (res.get("result") or {}).get("list") or []
            if rows:
                return rows[0]
        return None

    def _update(self, order: OrderRecord, row: dict[str, Any] | None) -> OrderRecord:
        if row is None:
            return order
        upd: dict[str, Any] = {
            "status": _status(row),
            "exchange_order_id": row.get("orderId", order.exchange_order_id),
            "filled_quantity": _d(row.get("cumExecQty")),
            "fee": _d(row.get("cumExecFee")),
        }
        avg = row.get("avgPrice")
        if avg not in (None, "", "0"):
            upd["average_price"] = _d(avg)
        if row.get("updatedTime"):
            upd["updated_at"] = max(order.created_at, _ms(row["updatedTime"]))
        if row.get("orderStatus") == "Rejected":
            upd["error"] = row.get("rejectReason", "")
        return order.model_copy(update=upd)

    async def _submit(self, order: OrderRecord, params: dict[str, Any]) -> OrderRecord:
        """Write-ahead, send, and settle one order; never sends the same orderLinkId twice
        without first asking Bybit whether the first one arrived."""
        with self.store.tx() as tx:
            tx.put_order(order)
        symbol, cid = order.symbol, order.client_order_id
        full = {**params, "clientOrderId": cid}
        if order.reduce_only:
            full["reduceOnly"] = True
        delay = self.s.order_retry_backoff_s
        row: dict[str, Any] | None = None
        for attempt in range(self.s.order_retries + 1):
            try:
                await self.exchange.create_order(
                    symbol, "market", order.side, float(order.quantity), None, full
                )
                row = await self.query(cid)
                break
            except ccxt.NetworkError as exc:
                log.warning("create %s: %s: asking Bybit whether it arrived", cid,
                            type(exc).__name__)
                row = await self.query(cid)
                if row is not None:
                    break
                if attempt == self.s.order_retries:
                    raise BrokerUnavailable(f"create {cid}: {exc}") from exc
                await self._sleep(delay)
                delay *= 2
            except ccxt.ExchangeError as exc:
                if "110072" in str(exc):  # duplicate orderLinkId: the first one arrived
                    row = await self.query(cid)
                    if row is not None:
                        break
                rejected = order.model_copy(update={"status": "rejected", "error": str(exc)[:500]})
                with self.store.tx() as tx:
                    tx.put_order(rejected)
                log.warning("order %s rejected: %s", cid, exc)
                return rejected
        settled = self._update(order, row)
        if row is None:
            settled = settled.model_copy(update={"status": "pending"})
        with self.store.tx() as tx:
            tx.put_order(settled)
        return settled

    # -- start, margin, leverage ------------------------------------------------------------

    async def start(self) -> SyncReport:
        await self._retry("load_markets", self.exchange.load_markets)
        info = await self._retry(
            "account info", lambda: self.exchange.private_get_v5_account_info({})
        )
        result = info.get("result") or {}
        self._unified = int(result.get("unifiedMarginStatus", 1) or 1) >= 3
        if self._unified and result.get("marginMode") != "ISOLATED_MARGIN":
            try:
                await self.exchange.set_margin_mode("isolated")
            except ccxt.ExchangeError as exc:
                self._margin_error = f"cannot switch the account to isolated margin: {exc}"
                log.error(self._margin_error)
        return await self.sync(await self._server_time())

    async def _prepare(self, symbol: str, leverage: int) -> str:
        """Isolated margin and the leverage for `symbol`; an error text when impossible."""
        if self._margin_error:
            return self._margin_error
        if not self._unified:
            try:
                await self.exchange.set_margin_mode("isolated", symbol, {"leverage": leverage})
            except ccxt.MarginModeAlreadySet:
                pass
            except ccxt.ExchangeError as exc:
                return f"isolated margin: {exc}"
        try:
            await self.exchange.set_leverage(leverage, symbol)
        except ccxt.ExchangeError as exc:
            if "110043" not in str(exc):  # "leverage not modified" is fine
                return f"leverage: {exc}"
        return ""

    async def equity(self) -> Decimal | None:
        bal = await self._retry("balance", self.exchange.fetch_balance)
        try:
            return _d(bal["info"]["result"]["list"][0]["totalEquity"])
        except (KeyError, IndexError, TypeError):
            return _d((bal.get("USDT") or {}).get("total"))

    async def aclose(self) -> None:
        await self.exchange.close()

    # -- entries ------------------------------------------------------------------------------

    async def open(
        self, signal: Signal, *, market: MarketInfo, price: Decimal, time: datetime
    ) -> OpenResult:
        assert signal.side is not None and signal.quantity is not None
        assert signal.leverage is not None
        pid = signal.signal_id
        cid = ids.entry_id(pid)
        existing = self.store.order(cid)
        if existing is not None and existing.status in ("filled", "partially_filled"):
            pos = self.store.position(pid)
            if pos is None:  # filled, then the process died before booking it
                pos = await self._book_entry(signal, existing, time)
            return OpenResult(status="exists", position=pos)
        if existing is not None and existing.status == "rejected":
            return OpenResult(status="rejected", error=existing.error)
        side = "buy" if signal.side == "long" else "sell"
        if existing is not None:  # pending: ask before anything else
            order = self._update(existing, await self.query(cid))
            if order.status == "pending":
                order = await self._submit(existing, {})
        else:
            error = await self._prepare(signal.symbol, signal.leverage)
            if error:
                return OpenResult(status="rejected", error=error)
            qty = self._amount(signal.symbol, signal.quantity)
            order = await self._submit(
                OrderRecord(
                    client_order_id=cid, position_id=pid, symbol=signal.symbol,
                    side=side, kind="entry", order_type="market",  # type: ignore[arg-type]
                    quantity=qty, mode=self.settings.mode, created_at=time, updated_at=time,
                ),
                {},
            )
        if order.status == "rejected" or (
            order.status in ("cancelled", "filled", "partially_filled")
            and order.filled_quantity <= 0
        ):
            return OpenResult(status="rejected", orders=[order], error=order.error or "not filled")
        if order.status in ("pending", "open"):
            return OpenResult(status="rejected", orders=[order], error="entry not settled yet")
        pos = await self._book_entry(signal, order, time)
        orders = [order, *self.store.orders(pid, active=True)]
        fills = [f for f in self.store.fills(pid) if f.kind == "entry"]
        status = "filled" if order.filled_quantity >= order.quantity else "partially_filled"
        return OpenResult(status=status, position=pos, orders=orders, fills=fills)  # type: ignore[arg-type]

    async def _book_entry(self, signal: Signal, order: OrderRecord, time: datetime) -> Position:
        assert signal.side is not None and signal.leverage is not None
        assert signal.stop_loss is not None and signal.take_profit_1 is not None
        assert signal.take_profit_2 is not None
        tick, lot = self._tick_lot(signal.symbol)
        pos, fill = open_position(
            position_id=signal.signal_id, symbol=signal.symbol, side=signal.side,
            fill_price=order.average_price or signal.entry or Decimal(0),
            quantity=order.filled_quantity, fee=order.fee,
            stop_loss=signal.stop_loss, take_profit_1=signal.take_profit_1,
            take_profit_2=signal.take_profit_2, leverage=signal.leverage, time=time,
            tick=tick, lot=lot, s=self.s, mode=self.settings.mode,
        )
        fill = fill.model_copy(update={"order_id": order.client_order_id})
        known = self.store.position(pos.position_id) is not None
        with self.store.tx() as tx:  # (no reads inside a write transaction)
            if not known:
                tx.insert_position(pos)
            tx.add_fill(order.client_order_id, fill)
            tx.put_order(order)
        await self._protect(pos, time)
        return self.store.position(pos.position_id) or pos

    async def _place(
        self, pos: Position, kind: str, trigger: Decimal, qty: Decimal, time: datetime
    ) -> OrderRecord:
        """A reduce-only conditional market order: the stop or a take-profit."""
        prior = [o for o in self.store.orders(pos.position_id) if o.kind == kind]
        if kind == "stop":
            cid = ids.stop_id(pos.position_id, len(prior))
            param = "stopLossPrice"
            extra: dict[str, Any] = {"closeOnTrigger": True}
        else:
            cid = ids.target_id(pos.position_id, 1 if kind == "tp1" else 2, len(prior))
            param = "takeProfitPrice"
            extra = {}
        order = OrderRecord(
            client_order_id=cid, position_id=pos.position_id, symbol=pos.symbol,
            side="sell" if pos.side == "long" else "buy", kind=kind,  # type: ignore[arg-type]
            reason={"stop": "stop_loss"}.get(kind, kind),
            order_type="stop_market" if kind == "stop" else "take_profit_market",
            quantity=self._amount(pos.symbol, qty),
            trigger_price=self._price(pos.symbol, trigger), reduce_only=True,
            mode=self.settings.mode, created_at=time, updated_at=time,
        )
        return await self._submit(order, {param: float(order.trigger_price or 0), **extra})

    async def _protect(self, pos: Position, time: datetime) -> list[OrderRecord]:
        """Place whatever of stop / TP1 / TP2 is not resting yet for the open position."""
        if not pos.is_open:
            return []
        active = {o.kind for o in self.store.orders(pos.position_id, active=True)}
        placed: list[OrderRecord] = []
        if "stop" not in active:
            order = await self._place(pos, "stop", pos.stop_loss, pos.quantity, time)
            placed.append(order)
            if order.status == "rejected" and any(c in order.error for c in CROSSED):
                # the price is already through the stop: close at market now
                closed, fill, exit_order = await self._market_exit(pos, stop_reason(pos), time)
                with self.store.tx() as tx:
                    if fill is not None:
                        tx.update_position(pos, closed)
                        tx.add_fill(fill.order_id, fill)
                    tx.put_order(exit_order)
                placed.append(exit_order)
                return placed
        tp1 = tp1_quantity(pos, Decimal(str(self.settings.risk.tp1_close_fraction)))
        if not pos.tp1_done and "tp1" not in active:
            placed.append(await self._place(pos, "tp1", pos.take_profit_1, tp1, time))
        rest = pos.quantity - (0 if pos.tp1_done else tp1)
        if rest > 0 and "tp2" not in active:
            placed.append(await self._place(pos, "tp2", pos.take_profit_2, rest, time))
        return placed

    # -- exits and stop moves -----------------------------------------------------------------

    async def _market_exit(
        self, pos: Position, reason: ExitReason, time: datetime, qty: Decimal | None = None
    ) -> tuple[Position, Fill | None, OrderRecord]:
        attempt = sum(
            1 for o in self.store.orders(pos.position_id) if o.kind == "exit" and o.reason == reason
        )
        quantity = self._amount(pos.symbol, qty if qty is not None else pos.quantity)
        order = await self._submit(
            OrderRecord(
                client_order_id=ids.exit_id(pos.position_id, reason, attempt),
                position_id=pos.position_id, symbol=pos.symbol,
                side="sell" if pos.side == "long" else "buy",  # type: ignore[arg-type]
                kind="exit", reason=reason, order_type="market", quantity=quantity,
                reduce_only=True, mode=self.settings.mode, created_at=time, updated_at=time,
            ),
            {},
        )
        if order.filled_quantity <= 0 or order.average_price is None:
            return pos, None, order
        new, fill = apply_exit(
            pos, reason=reason, quantity=min(order.filled_quantity, pos.quantity),
            price=order.average_price, fee=order.fee, time=time, order_id=order.client_order_id,
        )
        return new, fill, order

    async def _cancel(self, order: OrderRecord, time: datetime) -> OrderRecord:
        try:
            await self.exchange.cancel_order(
                order.exchange_order_id or None, order.symbol,
                {} if order.exchange_order_id else {"orderLinkId": order.client_order_id},
            )
        except ccxt.OrderNotFound:
            pass
        except ccxt.NetworkError as exc:
            raise BrokerUnavailable(f"cancel {order.client_order_id}: {exc}") from exc
        row = await self.query(order.client_order_id)
        out = self._update(order, row)
        if out.status in ("open", "pending"):
            out = out.model_copy(update={"status": "cancelled"})
        return out.model_copy(update={"updated_at": max(time, out.updated_at)})

    async def apply(
        self, old: Position, result: StepResult, exits: list[Exit], *, time: datetime
    ) -> Applied:
        pos = result.position
        orders: list[OrderRecord] = []
        booked: list[tuple[Position, Fill]] = []
        for ex in exits:
            if not pos.is_open:
                break
            pos, fill, order = await self._market_exit(pos, ex.reason, time, ex.quantity)
            orders.append(order)
            if fill is not None:
                booked.append((pos, fill))
        if result.stop_moves and pos.is_open:
            moved, closed = await self._move_stop(pos, time)
            orders += moved
            if closed is not None:
                pos = closed[0]
                booked.append(closed)
        if not pos.is_open:
            for o in self.store.orders(pos.position_id, active=True):
                if o.client_order_id not in {x.client_order_id for x in orders}:
                    orders.append(await self._cancel(o, time))
        with self.store.tx() as tx:
            tx.update_position(old, pos)
            for _, fill in booked:
                tx.add_fill(fill.order_id, fill)
            for o in orders:
                tx.put_order(o)
        return Applied(position=pos, fills=[f for _, f in booked], orders=orders, exits=booked)

    async def _move_stop(
        self, pos: Position, time: datetime
    ) -> tuple[list[OrderRecord], tuple[Position, Fill] | None]:
        """New stop first, then cancel the old one: never a moment without a stop. When the
        price is already through the new level, close at market with the stop's reason."""
        olds = [o for o in self.store.orders(pos.position_id, active=True) if o.kind == "stop"]
        new = await self._place(pos, "stop", pos.stop_loss, pos.quantity, time)
        out = [new]
        closed: tuple[Position, Fill] | None = None
        if new.status == "rejected":
            if not any(c in new.error for c in CROSSED):
                return out, None  # the old stop keeps resting; the next pass tries again
            log.info("%s: price already through the new stop: closing", pos.position_id)
            after, fill, order = await self._market_exit(pos, stop_reason(pos), time)
            out.append(order)
            if fill is not None:
                closed = (after, fill)
            return out, closed
        for o in olds:
            out.append(await self._cancel(o, time))
        return out, closed

    # -- sync: what the exchange did while we were not looking ---------------------------------

    async def sync(self, time: datetime) -> SyncReport:
        report = SyncReport()
        await self._retry("load_markets", self.exchange.load_markets)
        for o in self.store.orders(active=True):
            if o.status == "pending":
                settled = self._update(o, await self.query(o.client_order_id))
                if settled.status == "pending":  # never reached Bybit
                    settled = settled.model_copy(
                        update={"status": "cancelled", "error": "not found on the exchange"}
                    )
                with self.store.tx() as tx:
                    tx.put_order(settled)
                report.resolved.append(settled)
                if settled.kind == "entry" and settled.filled_quantity > 0:
                    await self._book_pending_entry(settled, report, time)
        rows = await self._retry(
            "positions", lambda: self.exchange.fetch_positions(None, {"settleCoin": "USDT"})
        )
        live = {r["symbol"]: r for r in rows if float(r.get("contracts") or 0) > 0}
        for pos in self.store.open_positions():
            pos = await self._book_resting(pos, report)
            ex = live.get(pos.symbol)
            if not pos.is_open:
                continue
            if ex is None:
                pos = await self._closed_outside(pos, report, time)
                continue
            size = _d(ex.get("contracts"))
            if size != pos.quantity:
                report.notes.append(
                    f"{pos.position_id}: exchange size {size} != book {pos.quantity}"
                )
            placed = await self._protect(pos, time)
            report.replaced += [o for o in placed if o.status != "rejected"]
            await self._book_funding(pos, report)
        held = {p.symbol for p in self.store.open_positions()}
        for symbol, ex in sorted(live.items()):
            if symbol not in held:
                report.adopted.append(await self._adopt(symbol, ex, time))
        return report

    async def _book_pending_entry(
        self, order: OrderRecord, report: SyncReport, time: datetime
    ) -> None:
        if self.store.position(order.position_id) is not None:
            return
        rows = self.store.signals()
        sig = next((s for s, _, _ in rows if s.signal_id == order.position_id), None)
        if sig is None:
            report.notes.append(f"{order.client_order_id} filled but its signal is unknown")
            return
        pos = await self._book_entry(sig, order, time)
        report.booked.append((pos, self.store.fills(pos.position_id)[0]))

    async def _book_resting(self, pos: Position, report: SyncReport) -> Position:
        """Book the stop / targets the exchange filled (in the order they filled)."""
        rows: list[tuple[OrderRecord, dict[str, Any]]] = []
        for o in self.store.orders(pos.position_id, active=True):
            if o.kind not in ("stop", "tp1", "tp2"):
                continue
            row = await self.query(o.client_order_id)
            if row is not None and row.get("orderStatus") in FINAL:
                rows.append((o, row))
        rows.sort(key=lambda r: int(r[1].get("updatedTime") or 0))
        for o, row in rows:
            settled = self._update(o, row)
            fill = None
            old = pos
            if settled.filled_quantity > 0 and pos.is_open and settled.average_price:
                reason: ExitReason = (
                    stop_reason(pos) if o.kind == "stop" else o.kind  # type: ignore[assignment]
                )
                pos, fill = apply_exit(
                    pos, reason=reason, quantity=min(settled.filled_quantity, pos.quantity),
                    price=settled.average_price, fee=settled.fee,
                    time=_ms(row.get("updatedTime") or 0), order_id=o.client_order_id,
                )
            with self.store.tx() as tx:
                if fill is not None:
                    tx.update_position(old, pos)
                    tx.add_fill(o.client_order_id, fill)
                tx.put_order(settled)
            if fill is not None:
                report.booked.append((pos, fill))
        if not pos.is_open:
            for o in self.store.orders(pos.position_id, active=True):
                with self.store.tx() as tx:
                    tx.put_order(o.model_copy(update={"status": "cancelled"}))
        return pos

    async def _closed_outside(self, pos: Position, report: SyncReport, time: datetime) -> Position:
        """Flat on the exchange, open in the book, and no order of ours explains it."""
        price = pos.last_price or pos.entry_price
        new, fill = apply_exit(
            pos, reason="manual", quantity=pos.quantity, price=price, fee=Decimal(0), time=time,
            order_id="",
        )
        active = self.store.orders(pos.position_id, active=True)
        with self.store.tx() as tx:
            tx.update_position(pos, new)
            tx.add_fill(f"{pos.position_id}-outside", fill)
            for o in active:
                tx.put_order(o.model_copy(update={"status": "cancelled"}))
        report.notes.append(
            f"{pos.position_id} was closed outside Sextant; booked at its last price {price}"
        )
        report.booked.append((new, fill))
        return new

    async def _book_funding(self, pos: Position, report: SyncReport) -> None:
        params = {
            "category": "linear",
            "symbol": self._market(pos.symbol)["id"],
            "execType": "Funding",
            "startTime": int(pos.opened_at.timestamp() * 1000),
        }
        res = await self._retry(
            "funding", lambda: self.exchange.private_get_v5_execution_list(params)
        )
        for row in (res.get("result") or {}).get("list") or []:
            t = _ms(row["execTime"])
            paid = _d(row.get("execFee"))
            rate = _d(row.get("feeRate"))
            mark = _d(row.get("execPrice"))
            current = self.store.position(pos.position_id) or pos
            new = current.model_copy(update={"funding_paid": current.funding_paid + paid})
            with self.store.tx() as tx:
                if tx.add_funding(FundingPayment(pos.position_id, pos.symbol, t, rate, mark, paid)):
                    tx.update_position(current, new)
                    report.funding += 1

    async def _adopt(self, symbol: str, ex: dict[str, Any], time: datetime) -> Position:
        """A position on the exchange the database does not know: book it, protect it."""
        side = ex.get("side") or "long"
        entry = _d(ex.get("entryPrice"))
        qty = _d(ex.get("contracts"))
        leverage = int(float(ex.get("leverage") or 1))
        tick, lot = self._tick_lot(symbol)
        sign = 1 if side == "long" else -1
        orders = await self._retry("open orders", lambda: self.exchange.fetch_open_orders(symbol))
        # a stop someone already set is kept as the level (we place our own order at it)
        resting = [o for o in orders if o.get("reduceOnly") and o.get("stopLossPrice")]
        if resting:
            stop = _d(resting[0]["stopLossPrice"])
        else:
            stop = self._price(symbol, entry * (1 - sign * self.s.adopt_stop_pct / 100))
        r = abs(entry - stop)
        rs = self.settings.risk
        tp1 = self._price(symbol, entry + sign * r * Decimal(str(rs.tp1_r)))
        tp2 = self._price(symbol, entry + sign * r * Decimal(str(rs.tp2_r)))
        base = symbol.split("/")[0][:12]
        pid = f"ad-{time:%y%m%d%H%M}-{base}"
        pos = Position(
            position_id=pid, symbol=symbol, side=side, entry_price=entry,  # type: ignore[arg-type]
            initial_quantity=qty, quantity=qty, initial_stop=stop, stop_loss=stop,
            take_profit_1=tp1, take_profit_2=tp2, leverage=max(1, leverage), opened_at=time,
            mode=self.settings.mode, best_price=entry, tick=tick, lot=lot,
            liquidation_price=liquidation_price(
                side, entry, max(1, leverage), self.s.maintenance_margin_pct
            ),
            last_price=entry, last_step_at=time, origin="adopted",
        )
        fill = Fill(
            position_id=pid, symbol=symbol, side=side, kind="entry",  # type: ignore[arg-type]
            reason="entry", quantity=qty, price=entry, fee=Decimal(0), time=time,
            order_id="",
        )
        with self.store.tx() as tx:
            tx.insert_position(pos)
            tx.add_fill(f"{pid}-adopted", fill)
        log.warning("adopted unknown %s position %s %s @ %s (stop %s)", side, symbol, qty,
                    entry, stop)
        await self._protect(pos, time)
        return self.store.position(pid) or pos
