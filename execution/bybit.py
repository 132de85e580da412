"""Bybit broker (SEXTANT_MODE=demo: Bybit demo trading; live: real money), through ccxt.

Entry: isolated margin and the signal's leverage, a market order, then the stop-loss, TP1 and
TP2 as reduce-only conditional market orders resting on the exchange: a crash of Sextant never
leaves a position unprotected. The exchange fills stops and targets itself; `sync()` books
those fills (and funding) into the store.

Exactly once: every order's client id (Bybit `orderLinkId`) derives from the signal id and is
written to the store as `pending` before it is sent. A timeout, a network error or an ambiguous
answer (10016 "internal error", an unmapped error) on creation is answered by asking Bybit for
that orderLinkId, never by sending blindly again; Bybit refuses a duplicate orderLinkId anyway
(110072). Bybit processes orders asynchronously: a market order is looked up until it reaches a
final state (a few short polls); one still unsettled stays `pending` and the next `sync()`
settles it. Bybit's order views also lag behind its matching engine: an order it does not show
stays `pending` for `order_lookup_passes` passes; a stop, target or exit in that state is
re-sent under its own orderLinkId (`_confirm`: a duplicate for Bybit if it holds it), never
placed anew beside it. Any fill of an order of ours, whatever the store says of it, is booked
from Bybit's executions with the reason of the order that filled.

On start (and every monitor pass) `sync()` settles pending orders and our entries (booking a
filled one with its signal's stop and targets), takes back (or cancels) stops and targets of
ours that Bybit's list shows resting while the store had them otherwise, books what filled
while Sextant was down (resting stops/targets, our own market exits, funding), books a position
closed outside Sextant from Bybit's executions, re-places a missing stop or target (one of each
kind: an extra one is cancelled), cancels what still rests for a closed position, and adopts
a position the database does not know (it gets a stop, TP1 and TP2 and is reported) - but
never one an entry of ours explains.

An exit fill is written (position and fill, one transaction) as soon as Bybit confirms it,
before anything else is sent: an outage while cancelling the resting orders afterwards cannot
lose it.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt

from execution import ids
from execution.store import FundingPayment, Store
from sextant.config import Settings
from sextant.lifecycle import (
    Exit,
    StepResult,
    apply_exit,
    liquidation_price,
    open_position,
    stop_reason,
    tp1_quantity,
)
from sextant.models import MarketInfo, Signal
from sextant.ports.broker import Applied, BrokerUnavailable, OpenResult, SyncReport
from sextant.positions import EXIT_REASONS, ExitReason, Fill, OrderRecord, Position

log = logging.getLogger("sextant.execution.bybit")
Sleep = Callable[[float], Awaitable[None]]
CROSSED = ("110092", "110093")  # a trigger already on the wrong side of the price
FINAL = {"Filled", "PartiallyFilledCanceled", "Cancelled", "Rejected", "Deactivated"}
NOT_FOUND = "not found on the exchange"
DAY_MS = 86_400_000
EXECUTION_WINDOW_MS = 7 * DAY_MS  # Bybit serves /v5/execution/list 7 days per request
MAX_PAGES = 1000
# Refusals that are certain: nothing was created. Any other ExchangeError (10016 "internal
# error", 10000 "server timeout", an unmapped code) is ambiguous: the order may exist.
DEFINITIVE = (
    ccxt.InvalidOrder,
    ccxt.InsufficientFunds,
    ccxt.BadRequest,
    ccxt.AuthenticationError,
    ccxt.PermissionDenied,
    ccxt.AccountSuspended,
    ccxt.NotSupported,
)
DONE = ("filled", "partially_filled")
PROTECTIVE = ("stop", "tp1", "tp2")


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
    # Waits between look-ups of a market order Bybit has not settled yet (then: `pending`).
    fill_poll_delays_s: tuple[float, ...] = (0.1, 0.2, 0.4, 0.8, 1.5)

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
            "missed_lookups": 0,
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
        exists = False  # Bybit refused the orderLinkId as a duplicate: it holds the order
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
                    exists = row is None
                    if exists:
                        log.warning("order %s: a duplicate for Bybit, not visible yet (the next "
                                    "sync asks again)", cid)
                    break
                if not isinstance(exc, DEFINITIVE):
                    # an ambiguous answer: the order may exist; ask, never mark it rejected
                    log.error("order %s: ambiguous answer from Bybit (%s): asking", cid, exc)
                    row = await self.query(cid)
                    break
                rejected = order.model_copy(update={"status": "rejected", "error": str(exc)[:500]})
                with self.store.tx() as tx:
                    tx.put_order(rejected)
                log.warning("order %s rejected: %s", cid, exc)
                return rejected
        if order.order_type == "market":
            row = await self._await_final(cid, row)
        settled = self._settled(order, row)
        if exists and order.order_type != "market":
            # a stop or target Bybit holds but does not show yet: resting, as far as anyone can
            # know; every pass looks at it (and books its fill from the executions if it fills)
            settled = settled.model_copy(update={"status": "open"})
        with self.store.tx() as tx:
            tx.put_order(settled)
        return settled

    @staticmethod
    def _params(order: OrderRecord) -> dict[str, Any]:
        """ccxt's parameters of one of our orders besides side, amount and client id."""
        if order.kind == "stop":
            return {"stopLossPrice": float(order.trigger_price or 0), "closeOnTrigger": True}
        if order.kind in ("tp1", "tp2"):
            return {"takeProfitPrice": float(order.trigger_price or 0)}
        return {}

    async def _confirm(self, order: OrderRecord) -> OrderRecord:
        """A pending order (sent, its outcome unknown): asked for by its orderLinkId and, when
        Bybit's views do not show it, sent again under the same orderLinkId. Bybit refuses a
        duplicate (110072: it holds the first one), so this creates it only if the first never
        arrived: never a second order beside it, and no pass without the order either."""
        row = await self.query(order.client_order_id)
        if row is None:
            return await self._submit(order, self._params(order))
        if order.order_type == "market":
            row = await self._await_final(order.client_order_id, row)
        settled = self._settled(order, row)
        with self.store.tx() as tx:
            tx.put_order(settled)
        return settled

    def _exit_reason(self, pos: Position, order: OrderRecord) -> ExitReason:
        """An exit fill is named by the order that filled: a stop by its own level (the initial
        stop; a moved one: breakeven; after TP1 every stop trails, as in the lifecycle), a
        target by its kind, a market exit by what it was sent for."""
        if order.kind == "stop":
            if pos.tp1_done:
                return "trailing_stop"
            initial = self._price(pos.symbol, pos.initial_stop)
            if order.trigger_price is not None and order.trigger_price != initial:
                return "breakeven_stop"
            return "stop_loss"
        if order.kind in ("tp1", "tp2"):
            return order.kind  # type: ignore[return-value]
        return order.reason if order.reason in EXIT_REASONS else "manual"  # type: ignore[return-value]

    async def _await_final(self, cid: str, row: dict[str, Any] | None) -> dict[str, Any] | None:
        """A market order Bybit accepted but has not settled yet (New, PartiallyFilled): look
        again a few times, briefly. Not settled by then: the caller keeps it `pending`."""
        if row is None:
            return None
        for delay in self.fill_poll_delays_s:
            if row.get("orderStatus") in FINAL:
                break
            await self._sleep(delay)
            row = await self.query(cid) or row
        return row

    def _settled(self, order: OrderRecord, row: dict[str, Any] | None) -> OrderRecord:
        """The order updated from Bybit's row; `pending` while its outcome is unknown (no row,
        or a market order not in a final state yet)."""
        out = self._update(order, row)
        if row is None:
            return out if out.status != "open" else out.model_copy(update={"status": "pending"})
        if order.order_type == "market" and row.get("orderStatus") not in FINAL:
            return out.model_copy(update={"status": "pending"})
        return out

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
        if existing is not None:  # sent before: ask before anything else
            row = await self.query(cid)
            if row is None and existing.status == "pending":
                order = await self._submit(existing, {})  # never arrived: the same orderLinkId
            else:
                order = self._settled(existing, row)
                with self.store.tx() as tx:
                    tx.put_order(order)
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
            # sent, not confirmed: the next sync books it with this signal's levels if it fills
            return OpenResult(
                status="submitted", orders=[order],
                error="sent to Bybit, not confirmed filled yet: the next sync books it",
            )
        pos = await self._book_entry(signal, order, time)
        orders = [order, *self.store.orders(pid, active=True)]
        fills = [f for f in self.store.fills(pid) if f.kind == "entry"]
        status = "filled" if order.filled_quantity >= order.quantity else "partially_filled"
        return OpenResult(status=status, position=pos, orders=orders, fills=fills)  # type: ignore[arg-type]

    async def _book_entry(
        self, signal: Signal, order: OrderRecord, time: datetime, report: SyncReport | None = None
    ) -> Position:
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
            tick=tick, lot=lot, s=self.s, mode=self.settings.mode, atr=signal.atr,
        )
        fill = fill.model_copy(update={"order_id": order.client_order_id})
        known = self.store.position(pos.position_id) is not None
        with self.store.tx() as tx:  # (no reads inside a write transaction)
            if not known:
                tx.insert_position(pos)
            tx.add_fill(order.client_order_id, fill)
            tx.put_order(order)
        try:
            await self._protect(pos, time, report)
        except BrokerUnavailable as exc:
            # the entry is booked and stays so; the next sync places what is missing
            log.error("%s: entry booked, but placing its stop/targets failed (%s): the next "
                      "sync places them", pos.position_id, exc)
        return self.store.position(pos.position_id) or pos

    async def _place(
        self, pos: Position, kind: str, trigger: Decimal, qty: Decimal, time: datetime
    ) -> OrderRecord:
        """A reduce-only conditional market order: the stop or a take-profit."""
        prior = [o for o in self.store.orders(pos.position_id) if o.kind == kind]
        if kind == "stop":
            cid = ids.stop_id(pos.position_id, len(prior))
        else:
            cid = ids.target_id(pos.position_id, 1 if kind == "tp1" else 2, len(prior))
        order = OrderRecord(
            client_order_id=cid, position_id=pos.position_id, symbol=pos.symbol,
            side="sell" if pos.side == "long" else "buy", kind=kind,  # type: ignore[arg-type]
            reason={"stop": "stop_loss"}.get(kind, kind),
            order_type="stop_market" if kind == "stop" else "take_profit_market",
            quantity=self._amount(pos.symbol, qty),
            trigger_price=self._price(pos.symbol, trigger), reduce_only=True,
            mode=self.settings.mode, created_at=time, updated_at=time,
        )
        placed = await self._submit(order, self._params(order))
        if placed.status == "rejected":
            log.error("%s: Bybit refused the %s at %s: %s", pos.position_id, kind,
                      order.trigger_price, placed.error)
        return placed

    async def _protect(
        self, pos: Position, time: datetime, report: SyncReport | None = None
    ) -> list[OrderRecord]:
        """Place whatever of stop / TP1 / TP2 is not resting yet for the open position.

        A stop or target sent whose answer never came (pending) is asked for again and, not
        shown, re-sent under its own orderLinkId (`_confirm`): never placed anew beside one
        Bybit may hold. Two resting of one kind are never kept (`_one_of_each`). A refusal is
        logged at error level and, in a sync, reported in its notes; the next pass tries again."""
        if not pos.is_open:
            return []
        placed: list[OrderRecord] = []
        for o in self.store.orders(pos.position_id, active=True):
            if o.kind in PROTECTIVE and o.status == "pending":
                confirmed = await self._confirm(o)
                if confirmed.status == "open":  # resting by this pass
                    placed.append(confirmed)
        await self._one_of_each(pos, time)
        active = {o.kind for o in self.store.orders(pos.position_id, active=True)}
        if "stop" not in active:
            order = await self._place(pos, "stop", pos.stop_loss, pos.quantity, time)
            placed.append(order)
            if order.status == "rejected" and any(c in order.error for c in CROSSED):
                # the price is already through the stop: close at market now
                closed, fill, exit_order = await self._market_exit(pos, stop_reason(pos), time)
                placed.append(exit_order)
                if fill is not None:
                    self._write_exit(pos, closed, fill, exit_order)
                    if report is not None:
                        report.booked.append((closed, fill))
                    if not closed.is_open:
                        await self._cancel_rest(closed, time)
                return placed
            if order.status == "rejected":
                self._refused(report, pos, order)
        tp1 = tp1_quantity(pos, Decimal(str(self.settings.risk.tp1_close_fraction)))
        if not pos.tp1_done and "tp1" not in active:
            placed.append(await self._place(pos, "tp1", pos.take_profit_1, tp1, time))
            if placed[-1].status == "rejected":
                self._refused(report, pos, placed[-1])
        rest = pos.quantity - (0 if pos.tp1_done else tp1)
        if rest > 0 and "tp2" not in active:
            placed.append(await self._place(pos, "tp2", pos.take_profit_2, rest, time))
            if placed[-1].status == "rejected":
                self._refused(report, pos, placed[-1])
        return placed

    async def _one_of_each(self, pos: Position, time: datetime) -> None:
        """Never two resting stops (or TP1s, TP2s) for one position: the one at the book's
        level (else the newest) stays, the others are cancelled on Bybit. Left by a cancel that
        failed during a stop move, or an order taken back from Bybit's list; an outage leaves
        the rest to the next pass."""
        levels = {"stop": pos.stop_loss, "tp1": pos.take_profit_1, "tp2": pos.take_profit_2}
        for kind, level in levels.items():
            mine = [
                o for o in self.store.orders(pos.position_id, active=True)
                if o.kind == kind and o.status == "open"
            ]
            if len(mine) < 2:
                continue
            want = self._price(pos.symbol, level)
            keep = max(mine, key=lambda o: (
                o.trigger_price == want, o.created_at, ids.revision(o.client_order_id)))
            for o in mine:
                if o.client_order_id == keep.client_order_id:
                    continue
                try:
                    done = await self._cancel(o, time)
                except BrokerUnavailable as exc:
                    log.warning("%s: cancelling the extra %s %s failed (%s): the next pass "
                                "retries", pos.position_id, kind, o.client_order_id, exc)
                    return
                with self.store.tx() as tx:
                    tx.put_order(done)
                log.warning("%s: two %s orders rested; kept %s, cancelled %s", pos.position_id,
                            kind, keep.client_order_id, o.client_order_id)

    @staticmethod
    def _refused(report: SyncReport | None, pos: Position, order: OrderRecord) -> None:
        if report is not None:
            report.notes.append(
                f"{pos.position_id}: Bybit refused the {order.kind} at {order.trigger_price}: "
                f"{order.error}; tried again next pass"
            )

    # -- exits and stop moves -----------------------------------------------------------------

    def _write_exit(
        self, stored: Position, after: Position, fill: Fill, order: OrderRecord
    ) -> None:
        """Book one exit fill at once, in its own transaction (before anything else is sent)."""
        with self.store.tx() as tx:
            tx.update_position(stored, after)
            tx.add_fill(fill.order_id, fill)
            tx.put_order(order)

    async def _market_exit(
        self, pos: Position, reason: ExitReason, time: datetime, qty: Decimal | None = None
    ) -> tuple[Position, Fill | None, OrderRecord]:
        """Send a reduce-only market exit; the fill once Bybit confirms it (not booked here)."""
        unsettled = [
            o for o in self.store.orders(pos.position_id, active=True) if o.kind == "exit"
        ]
        if unsettled:  # an earlier exit not confirmed: asked again, never a second one beside it
            prior = await self._confirm(unsettled[0])
            if (
                prior.status in DONE
                and prior.filled_quantity > 0
                and prior.average_price is not None
            ):
                new, fill = apply_exit(
                    pos, reason=self._exit_reason(pos, prior),
                    quantity=min(prior.filled_quantity, pos.quantity),
                    price=prior.average_price, fee=prior.fee,
                    time=max(pos.opened_at, prior.updated_at), order_id=prior.client_order_id,
                )
                return new, fill, prior
            if prior.is_active:
                log.warning("%s: exit %s not settled yet: the next sync books it",
                            pos.position_id, prior.client_order_id)
                return pos, None, prior
            # it ended unfilled on Bybit: a new exit below
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
        if (
            order.status not in DONE
            or order.filled_quantity <= 0
            or order.average_price is None
        ):
            return pos, None, order
        new, fill = apply_exit(
            pos, reason=reason, quantity=min(order.filled_quantity, pos.quantity),
            price=order.average_price, fee=order.fee, time=time, order_id=order.client_order_id,
        )
        return new, fill, order

    async def _cancel(self, order: OrderRecord, time: datetime) -> OrderRecord:
        """Cancel on Bybit (idempotent: an order already gone is fine) and read it back."""
        refused = False
        try:
            await self.exchange.cancel_order(
                order.exchange_order_id or None, order.symbol,
                {} if order.exchange_order_id else {"orderLinkId": order.client_order_id},
            )
        except ccxt.OrderNotFound:
            pass
        except ccxt.NetworkError as exc:
            raise BrokerUnavailable(f"cancel {order.client_order_id}: {exc}") from exc
        except ccxt.ExchangeError as exc:
            refused = True
            log.error("cancel %s refused: %s", order.client_order_id, exc)
        row = await self.query(order.client_order_id)
        out = self._update(order, row)
        if out.status in ("open", "pending") and not (refused and row is not None):
            out = out.model_copy(update={"status": "cancelled"})
        return out.model_copy(update={"updated_at": max(time, out.updated_at)})

    async def _cancel_rest(self, pos: Position, time: datetime) -> list[OrderRecord]:
        """What still rests for a closed position: cancelled on Bybit, then in the store. An
        outage leaves the rest to the next sync (which sweeps closed positions' orders)."""
        out: list[OrderRecord] = []
        for o in self.store.orders(pos.position_id, active=True):
            try:
                done = await self._cancel(o, time)
            except BrokerUnavailable as exc:
                log.warning("%s: cancelling %s failed (%s): the next sync retries",
                            pos.position_id, o.client_order_id, exc)
                break
            with self.store.tx() as tx:
                tx.put_order(done)
            out.append(done)
        return out

    async def apply(
        self, old: Position, result: StepResult, exits: list[Exit], *, time: datetime
    ) -> Applied:
        pos = result.position
        stored = old  # the position as the store holds it (compare-and-swap)
        orders: list[OrderRecord] = []
        booked: list[tuple[Position, Fill]] = []
        try:
            for ex in exits:
                if not pos.is_open:
                    break
                after, fill, order = await self._market_exit(pos, ex.reason, time, ex.quantity)
                orders.append(order)
                if fill is not None:
                    self._write_exit(stored, after, fill, order)  # booked before anything else
                    stored = pos = after
                    booked.append((after, fill))
            if result.stop_moves and pos.is_open:
                moved, closed, refused = await self._move_stop(pos, time)
                orders += moved
                if closed is not None:
                    after, fill, order = closed
                    self._write_exit(stored, after, fill, order)
                    stored = pos = after
                    booked.append((after, fill))
                elif refused:
                    # Bybit still holds the old stop: so does the book, and the next pass (which
                    # wants the move again) retries it
                    pos = pos.model_copy(update={"stop_loss": old.stop_loss})
            if not pos.is_open:
                for o in self.store.orders(pos.position_id, active=True):
                    if o.client_order_id not in {x.client_order_id for x in orders}:
                        orders.append(await self._cancel(o, time))
        except BrokerUnavailable as exc:
            if not booked:
                raise
            # the exit is booked; what could not be sent now (a cancel) the next sync does
            log.error("%s: exit booked, then the exchange failed (%s): the next sync finishes",
                      pos.position_id, exc)
        with self.store.tx() as tx:
            tx.update_position(stored, pos)
            for o in orders:
                tx.put_order(o)
        return Applied(position=pos, fills=[f for _, f in booked], orders=orders, exits=booked)

    async def _move_stop(
        self, pos: Position, time: datetime
    ) -> tuple[list[OrderRecord], tuple[Position, Fill, OrderRecord] | None, bool]:
        """New stop first, then cancel the old one: never a moment without a stop. When the
        price is already through the new level, close at market with the stop's reason.

        A stop of ours whose answer never came (pending) is confirmed first (`_confirm`): one
        at the new level is the new stop (placed by an earlier try whose answer was lost), and
        none is placed beside one whose outcome is still unknown. An old stop whose cancel
        fails stays for the next pass to cancel (`_one_of_each`): the new one rests, the move
        stands.

        Returns (orders, the market exit's booking if one filled, refused): refused when the new
        stop is not confirmed resting, so the old one stays (in the book too)."""
        latest: dict[str, OrderRecord] = {}
        for o in self.store.orders(pos.position_id, active=True):
            if o.kind == "stop":
                latest[o.client_order_id] = await self._confirm(o) if o.status == "pending" else o
        if any(o.status == "pending" or o.status in DONE for o in latest.values()):
            # still unknown, or a stop of ours filled (the sync books it): nothing beside it
            log.warning("%s: a stop of ours is unconfirmed or filled: the move waits for the "
                        "next pass", pos.position_id)
            return list(latest.values()), None, True
        resting = [o for o in latest.values() if o.status == "open"]
        want = self._price(pos.symbol, pos.stop_loss)
        ready = [o for o in resting if o.trigger_price == want]
        if ready:  # an earlier try placed it (its answer was lost): it is the new stop
            new = max(ready, key=lambda o: (o.created_at, ids.revision(o.client_order_id)))
        else:
            new = await self._place(pos, "stop", pos.stop_loss, pos.quantity, time)
            latest[new.client_order_id] = new
            if new.status == "rejected" and any(c in new.error for c in CROSSED):
                log.info("%s: price already through the new stop: closing", pos.position_id)
                after, fill, order = await self._market_exit(pos, stop_reason(pos), time)
                out = [*latest.values(), order]
                if fill is None:  # the exit is not confirmed: the old stop still stands
                    return out, None, True
                return out, (after, fill, order), False
            if new.status != "open":
                log.error("%s: the stop move to %s is not resting on Bybit (%s %s): the old "
                          "stop stays; tried again next pass", pos.position_id, pos.stop_loss,
                          new.status, new.error)
                return list(latest.values()), None, True
        for o in resting:
            if o.client_order_id == new.client_order_id:
                continue
            try:
                latest[o.client_order_id] = await self._cancel(o, time)
            except BrokerUnavailable as exc:
                log.warning("%s: the new stop %s rests; cancelling the old %s failed (%s): the "
                            "next pass cancels it", pos.position_id, new.client_order_id,
                            o.client_order_id, exc)
                break
        return list(latest.values()), None, False

    # -- sync: what the exchange did while we were not looking ---------------------------------

    async def sync(self, time: datetime) -> SyncReport:
        report = SyncReport()
        await self._retry("load_markets", self.exchange.load_markets)
        # 1. Orders whose outcome is not known yet, and our entries; what rests for a position
        # that is closed is cancelled on the exchange (idempotent).
        for o in self.store.orders(active=True):
            if o.status == "pending" or o.kind == "entry":
                settled = await self._settle(o)
                if settled != o:
                    with self.store.tx() as tx:
                        tx.put_order(settled)
                    if settled.status != o.status:
                        report.resolved.append(settled)
                o = settled
                if o.kind == "entry" and o.status in DONE and o.filled_quantity > 0:
                    await self._book_pending_entry(o, report)
            if o.kind in PROTECTIVE and o.is_active:
                owner = self.store.position(o.position_id)
                if owner is not None and not owner.is_open:
                    done = await self._cancel(o, time)
                    with self.store.tx() as tx:
                        tx.put_order(done)
        # 2. What rests on Bybit by its own list: ours the book does not hold as resting
        await self._sweep(report, time)
        rows = await self._retry(
            "positions", lambda: self.exchange.fetch_positions(None, {"settleCoin": "USDT"})
        )
        live = {r["symbol"]: r for r in rows if float(r.get("contracts") or 0) > 0}
        now_ms: int | None = None
        for pos in self.store.open_positions():
            pos = await self._book_resting(pos, report, time)
            if pos.is_open:
                pos = await self._book_exits(pos, report, time)
            if not pos.is_open:
                continue
            if now_ms is None:
                now_ms = int((await self._server_time()).timestamp() * 1000)
            ex = live.get(pos.symbol)
            size = _d(ex.get("contracts")) if ex is not None else Decimal(0)
            if size < pos.quantity:
                # smaller on Bybit than in the book: Bybit's executions say who closed what
                execs = await self._executions(
                    pos.symbol, int(pos.opened_at.timestamp() * 1000), now_ms
                )
                pos = await self._book_own_fills(pos, execs, report, time)
                if pos.is_open and ex is None:
                    pos = await self._closed_outside(pos, execs, report, time)
                if not pos.is_open or ex is None:
                    continue
            elif self.store.get(self._unexplained_key(pos)) not in (None, "0"):
                with self.store.tx() as tx:  # seen on Bybit again: the wait starts afresh
                    tx.set(self._unexplained_key(pos), "0")
            if size != pos.quantity:
                report.notes.append(
                    f"{pos.position_id}: exchange size {size} != book {pos.quantity}"
                )
            placed = await self._protect(pos, time, report)
            report.replaced += [o for o in placed if o.status not in ("rejected", "pending")]
            await self._book_funding(pos, report, now_ms)
        held = {p.symbol for p in self.store.open_positions()}
        for symbol, ex in sorted(live.items()):
            if symbol in held or await self._ours(symbol, report):
                continue
            report.adopted.append(await self._adopt(symbol, ex, time, report))
        return report

    async def _settle(self, o: OrderRecord) -> OrderRecord:
        """Ask Bybit about an order. A pending one it does not show stays pending (its views
        lag behind the matching engine) for `order_lookup_passes` passes; only then is it
        taken as never arrived."""
        row = await self.query(o.client_order_id)
        if row is None and o.status == "pending":
            missed = o.missed_lookups + 1
            if missed < self.s.order_lookup_passes:
                log.info("order %s not shown by Bybit yet (%d of %d looks)", o.client_order_id,
                         missed, self.s.order_lookup_passes)
                return o.model_copy(update={"missed_lookups": missed})
            return o.model_copy(
                update={"status": "cancelled", "error": NOT_FOUND, "missed_lookups": missed}
            )
        return self._settled(o, row)

    async def _sweep(self, report: SyncReport, time: datetime) -> None:
        """Bybit's own list of resting orders: a stop or target of ours the book does not hold
        as resting (still pending, or taken as cancelled or never arrived while Bybit's views
        lagged) is taken back when its position is open (`_protect` then keeps one of each
        kind), else cancelled on Bybit."""
        rows: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"category": "linear", "settleCoin": "USDT", "limit": 50}
            if cursor:
                params["cursor"] = cursor
            res = await self._retry(
                "open orders",
                lambda p=params: self.exchange.private_get_v5_order_realtime(p),  # type: ignore[misc]
            )
            result = res.get("result") or {}
            rows += result.get("list") or []
            cursor = result.get("nextPageCursor") or ""
            if not cursor:
                break
        for row in rows:
            link = row.get("orderLinkId") or ""
            o = self.store.order(link) if link else None
            if o is None or o.kind not in PROTECTIVE or o.status == "open":
                continue
            if _status(row) != "open":
                continue
            back = self._update(o, row).model_copy(update={"error": ""})
            owner = self.store.position(o.position_id)
            if owner is not None and owner.is_open:
                with self.store.tx() as tx:
                    tx.put_order(back)
                if o.status == "pending":
                    report.resolved.append(back)
                else:
                    report.notes.append(
                        f"{link} rests on Bybit while the book had it {o.status}: taken back"
                    )
                    log.warning("%s rests on Bybit while the book had it %s: taken back", link,
                                o.status)
                continue
            done = await self._cancel(back, time)
            with self.store.tx() as tx:
                tx.put_order(done)
            report.notes.append(f"{link} rested on Bybit for a closed position: cancelled")

    async def _book_pending_entry(
        self, order: OrderRecord, report: SyncReport
    ) -> Position | None:
        """Our own entry that filled without being booked: booked with its signal's stop and
        targets (never adopted with generic levels)."""
        if self.store.position(order.position_id) is not None:
            return None
        sig = self.store.signal(order.position_id)
        if sig is None:
            report.notes.append(f"{order.client_order_id} filled but its signal is unknown")
            return None
        pos = await self._book_entry(sig, order, order.created_at, report)
        note = f"opened {pos.initial_quantity} @ {pos.entry_price}"
        with self.store.tx() as tx:
            tx.set_signal_status(sig.signal_id, "filled", note)
        log.warning("entry %s settled late and booked: %s", sig.signal_id, note)
        report.entries.append(pos)
        return pos

    async def _ours(self, symbol: str, report: SyncReport) -> bool:
        """An exchange position on `symbol` the book does not hold: True when an entry of ours
        explains it (booked now from its signal, or still unsettled: wait), so it is not
        adopted."""
        entries = [
            o for o in self.store.orders(symbol=symbol)
            if o.kind == "entry" and self.store.position(o.position_id) is None
        ]
        for o in entries:
            if o.status == "cancelled" and o.error == NOT_FOUND:
                # once not found (Bybit's views can lag): ask again before adopting anything
                row = await self.query(o.client_order_id)
                if row is not None:
                    o = self._settled(o, row)
                    with self.store.tx() as tx:
                        tx.put_order(o)
            if o.is_active:
                report.notes.append(
                    f"{symbol}: position on Bybit while our entry {o.client_order_id} is not "
                    "settled yet: not adopted, looked at again next pass"
                )
                return True
            if (
                o.status in DONE
                and o.filled_quantity > 0
                and await self._book_pending_entry(o, report) is not None
            ):
                return True
        return False

    async def _book_resting(self, pos: Position, report: SyncReport, time: datetime) -> Position:
        """Book the stop / targets the exchange filled (in the order they filled)."""
        rows: list[tuple[OrderRecord, dict[str, Any]]] = []
        booked = {f.order_id for f in self.store.fills(pos.position_id)}
        for o in self.store.orders(pos.position_id, active=True):
            if o.kind not in PROTECTIVE:
                continue
            row = await self.query(o.client_order_id)
            if row is not None and row.get("orderStatus") in FINAL:
                rows.append((o, row))
        rows.sort(key=lambda r: int(r[1].get("updatedTime") or 0))
        for o, row in rows:
            settled = self._update(o, row)
            fill = None
            old = pos
            if (
                settled.filled_quantity > 0
                and pos.is_open
                and settled.average_price
                and o.client_order_id not in booked
            ):
                pos, fill = apply_exit(
                    pos, reason=self._exit_reason(pos, o),
                    quantity=min(settled.filled_quantity, pos.quantity),
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
            await self._cancel_rest(pos, time)
        return pos

    async def _book_exits(self, pos: Position, report: SyncReport, time: datetime) -> Position:
        """Our own market exits Bybit filled that the book has no fill for (the process died,
        or the write failed, after Bybit confirmed them): booked at their real price and fee."""
        booked = {f.order_id for f in self.store.fills(pos.position_id)}
        for o in self.store.orders(pos.position_id):
            if not pos.is_open:
                break
            if (
                o.kind != "exit"
                or o.status not in DONE
                or o.filled_quantity <= 0
                or o.average_price is None
                or o.client_order_id in booked
            ):
                continue
            new, fill = apply_exit(
                pos, reason=self._exit_reason(pos, o),
                quantity=min(o.filled_quantity, pos.quantity),
                price=o.average_price, fee=o.fee, time=o.updated_at, order_id=o.client_order_id,
            )
            with self.store.tx() as tx:
                tx.update_position(pos, new)
                tx.add_fill(o.client_order_id, fill)
            report.booked.append((new, fill))
            pos = new
        if not pos.is_open:
            await self._cancel_rest(pos, time)
        return pos

    async def _executions(
        self, symbol: str, start_ms: int, end_ms: int, exec_type: str | None = None
    ) -> list[dict[str, Any]]:
        """Bybit's executions of `symbol` in [start_ms, end_ms], oldest first: 7-day windows
        (the most /v5/execution/list serves per request), each paged through its cursor."""
        out: list[dict[str, Any]] = []
        sid = self._market(symbol)["id"]
        lo = start_ms
        while lo <= end_ms:
            hi = min(lo + EXECUTION_WINDOW_MS, end_ms)
            cursor = ""
            for _ in range(MAX_PAGES):
                params: dict[str, Any] = {
                    "category": "linear", "symbol": sid, "startTime": lo, "endTime": hi,
                    "limit": 100,
                }
                if exec_type:
                    params["execType"] = exec_type
                if cursor:
                    params["cursor"] = cursor
                res = await self._retry(
                    "executions",
                    lambda p=params: self.exchange.private_get_v5_execution_list(p),  # type: ignore[misc]
                )
                result = res.get("result") or {}
                out += result.get("list") or []
                cursor = result.get("nextPageCursor") or ""
                if not cursor:
                    break
            lo = hi + 1
        out.sort(key=lambda r: (int(r.get("execTime") or 0), str(r.get("execId") or "")))
        return out

    async def _book_own_fills(
        self, pos: Position, execs: list[dict[str, Any]], report: SyncReport, time: datetime
    ) -> Position:
        """Fills of our own stops, targets and exits on Bybit the book has not booked, whatever
        the database says of the order (still pending, taken as cancelled or never arrived
        while Bybit's views lagged): booked from Bybit's executions at their price, fee and
        time, with the reason of the order that filled, oldest first."""
        ours = {
            o.client_order_id: o for o in self.store.orders(pos.position_id) if o.kind != "entry"
        }
        booked = {f.order_id for f in self.store.fills(pos.position_id)}
        closing = "Sell" if pos.side == "long" else "Buy"
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in execs:
            link = r.get("orderLinkId") or ""
            if (
                link in ours and link not in booked and r.get("side") == closing
                and r.get("execType") != "Funding" and _d(r.get("execQty")) > 0
            ):
                groups.setdefault(link, []).append(r)
        for link, rows in groups.items():  # in the order they first executed
            if not pos.is_open:
                break
            order = ours[link]
            qty, price, fee, when = self._sum_executions(rows, pos.quantity)
            when = max(pos.opened_at, when)
            old = pos
            pos, fill = apply_exit(
                pos, reason=self._exit_reason(pos, order), quantity=min(qty, pos.quantity),
                price=price, fee=fee, time=when, order_id=link,
            )
            filled = order.model_copy(update={
                "status": "filled", "filled_quantity": qty, "average_price": price,
                "fee": fee, "error": "", "missed_lookups": 0,
                "updated_at": max(order.created_at, when),
            })
            with self.store.tx() as tx:
                tx.update_position(old, pos)
                tx.add_fill(link, fill)
                tx.put_order(filled)
            report.booked.append((pos, fill))
            log.warning("%s: %s filled on Bybit while the book had it %s: booked from Bybit's "
                        "executions at %s, fee %s", pos.position_id, link, order.status, price,
                        fee)
        if not pos.is_open:
            await self._cancel_rest(pos, time)
        return pos

    @staticmethod
    def _sum_executions(
        rows: list[dict[str, Any]], cap: Decimal
    ) -> tuple[Decimal, Decimal, Decimal, datetime]:
        """(quantity, average price, fee, time of the last) of some executions; the fee is
        prorated when they hold more than `cap`, the quantity the book can close."""
        qty = sum((_d(r.get("execQty")) for r in rows), Decimal(0))
        notional = sum((_d(r.get("execPrice")) * _d(r.get("execQty")) for r in rows), Decimal(0))
        price = notional / qty
        if len(rows) > 1:
            price = price.quantize(Decimal("0.00000001"))
        fee = sum((_d(r.get("execFee")) for r in rows), Decimal(0))
        if qty > cap:
            fee = (fee * cap / qty).quantize(Decimal("0.00000001"))
        return qty, price, fee, _ms(max(int(r.get("execTime") or 0) for r in rows))

    @staticmethod
    def _unexplained_key(pos: Position) -> str:
        return f"bybit:flat-unexplained:{pos.position_id}"

    async def _closed_outside(
        self, pos: Position, execs: list[dict[str, Any]], report: SyncReport, time: datetime
    ) -> Position:
        """Flat on the exchange, open in the book, and no order of ours explains it: booked
        from Bybit's executions that closed it (price, fee, time; a liquidation as such). When
        Bybit shows none, the last price is the last resort, after `order_lookup_passes`
        passes (its executions may lag too)."""
        ours = {o.client_order_id for o in self.store.orders(pos.position_id)}
        closing = "Sell" if pos.side == "long" else "Buy"
        rows = [
            r for r in execs
            if r.get("execType") != "Funding" and r.get("side") == closing
            and r.get("orderLinkId") not in ours and _d(r.get("execQty")) > 0
        ]
        picked: list[dict[str, Any]] = []
        qty = Decimal(0)
        for r in reversed(rows):  # the latest ones that make up the position
            if qty >= pos.quantity:
                break
            picked.append(r)
            qty += _d(r.get("execQty"))
        reason: ExitReason = "manual"
        if picked:
            _, price, fee, last = self._sum_executions(picked, pos.quantity)
            when = max(pos.opened_at, last)
            if any(r.get("execType") in ("BustTrade", "AdlTrade") for r in picked):
                reason = "liquidation"
            note = f"booked from Bybit's executions at {price}, fee {fee}"
        else:
            key = self._unexplained_key(pos)
            seen = int(self.store.get(key) or 0) + 1
            if seen < self.s.order_lookup_passes:
                with self.store.tx() as tx:
                    tx.set(key, str(seen))
                report.notes.append(
                    f"{pos.position_id} is flat on Bybit and no execution shows it yet "
                    f"({seen} of {self.s.order_lookup_passes} looks): looked at again next pass"
                )
                return pos
            price = pos.last_price or pos.entry_price
            fee, when = Decimal(0), time
            note = f"no execution found: booked at its last price {price}, fee unknown"
        new, fill = apply_exit(
            pos, reason=reason, quantity=pos.quantity, price=price, fee=fee, time=when,
            order_id="",
        )
        with self.store.tx() as tx:
            tx.update_position(pos, new)
            tx.add_fill(f"{pos.position_id}-outside", fill)
        await self._cancel_rest(new, time)
        report.notes.append(f"{pos.position_id} was closed outside Sextant ({reason}); {note}")
        log.warning("%s was closed outside Sextant (%s); %s", pos.position_id, reason, note)
        report.booked.append((new, fill))
        return new

    async def _book_funding(self, pos: Position, report: SyncReport, now_ms: int) -> None:
        """Funding Bybit charged the position since the last payment booked (or its opening),
        through every 7-day window and page."""
        paid = self.store.funding(pos.position_id)
        since = max(p.time for p in paid) if paid else pos.opened_at
        start = int(since.timestamp() * 1000) + (1 if paid else 0)
        for row in await self._executions(pos.symbol, start, now_ms, exec_type="Funding"):
            t = _ms(row["execTime"])
            paid_now = _d(row.get("execFee"))
            rate = _d(row.get("feeRate"))
            mark = _d(row.get("execPrice"))
            current = self.store.position(pos.position_id) or pos
            new = current.model_copy(update={"funding_paid": current.funding_paid + paid_now})
            with self.store.tx() as tx:
                if tx.add_funding(
                    FundingPayment(pos.position_id, pos.symbol, t, rate, mark, paid_now)
                ):
                    tx.update_position(current, new)
                    report.funding += 1

    async def _adopt(
        self, symbol: str, ex: dict[str, Any], time: datetime, report: SyncReport | None = None
    ) -> Position:
        """A position on the exchange the database does not know: book it, protect it (stop,
        TP1, TP2); from then on the lifecycle manages it like any other (trailing, stale exit,
        the circuit breaker)."""
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
        await self._protect(pos, time, report)
        return self.store.position(pid) or pos
