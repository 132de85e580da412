"""Documents about the book: positions and orders as JSON, `sextant.status/1`, tables."""

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from execution.store import Store
from sextant.models import iso_z
from sextant.positions import OrderRecord, Position


def _num(v: Decimal | None) -> float | None:
    return None if v is None else float(v) + 0.0  # + 0.0: no "-0.0" in documents


def position_doc(pos: Position) -> dict[str, Any]:
    """The status contract's position fields, plus what a reader of a cycle wants to know."""
    return {
        "symbol": pos.symbol,
        "side": pos.side,
        "entry": _num(pos.entry_price),
        "quantity": _num(pos.quantity),
        "stop_loss": _num(pos.stop_loss),
        "take_profit_1": _num(pos.take_profit_1),
        "take_profit_2": _num(pos.take_profit_2),
        "leverage": pos.leverage,
        "unrealized_pnl": _num(pos.unrealized_pnl().quantize(Decimal("0.0001")))
        if pos.is_open
        else 0.0,
        "opened_at": iso_z(pos.opened_at),
        "tp1_done": pos.tp1_done,
        "position_id": pos.position_id,
        "status": pos.status,
        "initial_quantity": _num(pos.initial_quantity),
        "initial_stop": _num(pos.initial_stop),
        "last_price": _num(pos.last_price),
        "realized_pnl": _num(pos.realized_pnl),
        "fees": _num(pos.fees_paid),
        "funding": _num(pos.funding_paid),
        "closed_at": iso_z(pos.closed_at),
        "exit_reason": pos.exit_reason,
        "origin": pos.origin,
        "mode": pos.mode,
    }


def order_doc(o: OrderRecord) -> dict[str, Any]:
    return {
        "client_order_id": o.client_order_id,
        "position_id": o.position_id,
        "symbol": o.symbol,
        "side": o.side,
        "kind": o.kind,
        "reason": o.reason,
        "type": o.order_type,
        "quantity": _num(o.quantity),
        "trigger_price": _num(o.trigger_price),
        "reduce_only": o.reduce_only,
        "status": o.status,
        "filled_quantity": _num(o.filled_quantity),
        "average_price": _num(o.average_price),
        "fee": _num(o.fee),
        "exchange_order_id": o.exchange_order_id or None,
        "error": o.error or None,
        "created_at": iso_z(o.created_at),
        "updated_at": iso_z(o.updated_at),
    }


def latest_orders(orders: list[OrderRecord]) -> list[OrderRecord]:
    """One entry per client order id (its latest state), in creation order."""
    out: dict[str, OrderRecord] = {}
    for o in orders:
        out[o.client_order_id] = o
    return sorted(out.values(), key=lambda o: (o.created_at, o.client_order_id))


def read_heartbeat(state_dir: Path) -> dict[str, Any] | None:
    path = Path(state_dir) / "heartbeat.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def status_document(
    store: Store, *, mode: str, equity: Decimal, now: datetime | None, state_dir: Path
) -> dict[str, Any]:
    """`sextant.status/1`: equity, open positions, today's PnL, breaker, last cycle."""
    positions = store.open_positions()
    day = store.day(now.date()) if now is not None else None
    if day is None:
        day = store.latest_day()
    today_pnl = equity - day.start_equity if day is not None else Decimal(0)
    until = day.breaker_until if day is not None else None
    tripped = until is not None and (now is None or until > now)
    last = store.last_cycle()
    beat = read_heartbeat(state_dir)
    return {
        "schema": "sextant.status/1",
        "mode": mode,
        "equity": float(equity.quantize(Decimal("0.0001"))),
        "today_pnl": float(today_pnl.quantize(Decimal("0.0001"))),
        "day": day.day.isoformat() if day is not None else None,
        "day_start_equity": _num(day.start_equity) if day is not None else None,
        "circuit_breaker": {"tripped": tripped, "until": iso_z(until) if tripped else None},
        "last_cycle_as_of": iso_z(last.as_of) if last is not None else None,
        "book_time": iso_z(now),
        "loop": beat,
        "positions": [position_doc(p) for p in positions],
    }


def close_document(act: Any) -> dict[str, Any]:
    """`sextant.close/1`: the exit fills of a manual close and the positions they touched
    (`sextant close --json`, the dashboard's POST /api/positions/close)."""
    closed = [
        {
            "position_id": f.position_id,
            "symbol": f.symbol,
            "side": f.side,
            "reason": f.reason,
            "quantity": float(f.quantity),
            "price": float(f.price),
            "pnl": float(f.pnl),
            "fee": float(f.fee),
            "time": iso_z(f.time),
        }
        for _, f in act.exits
    ]
    return {
        "schema": "sextant.close/1",
        "closed": closed,
        "positions": [position_doc(p) for p in act.positions.values()],
    }


def status_table(doc: dict[str, Any]) -> str:
    cb = doc["circuit_breaker"]
    lines = [
        f"Sextant {doc['mode']}  equity {doc['equity']:,.2f} USDT  today {doc['today_pnl']:+,.2f}"
        f"  last cycle {doc['last_cycle_as_of'] or '-'}",
        "circuit breaker: " + (f"TRIPPED until {cb['until']}" if cb["tripped"] else "ok"),
    ]
    beat = doc.get("loop")
    if beat:
        lines.append(
            f"loop: pid {beat.get('pid')} {beat.get('status')}, last cycle "
            f"{beat.get('last_cycle_as_of')} finished {beat.get('last_cycle_finished_at')}"
        )
    lines.append("")
    if not doc["positions"]:
        lines.append("no open positions")
        return "\n".join(lines)
    head = (
        f"{'SYMBOL':<15} {'SIDE':<5} {'ENTRY':>11} {'QTY':>10} {'STOP':>11} {'TP1':>11} "
        f"{'TP2':>11} {'LEV':>4} {'UPNL':>10} {'TP1?':>4}  OPENED"
    )
    lines += [head, "-" * len(head)]
    for p in doc["positions"]:
        lines.append(
            f"{p['symbol']:<15} {p['side']:<5} {p['entry']:>11} {p['quantity']:>10} "
            f"{p['stop_loss']:>11} {p['take_profit_1']:>11} {p['take_profit_2']:>11} "
            f"{p['leverage']:>3}x {p['unrealized_pnl']:>+10.2f} "
            f"{'yes' if p['tp1_done'] else 'no':>4}"
            f"  {p['opened_at']}"
        )
    return "\n".join(lines)


def position_lines(positions: list[dict[str, Any]]) -> list[str]:
    """The cycle table's book section: one line per position the run touched."""
    if not positions:
        return []
    out = ["", "Positions:"]
    for p in positions:
        state = "open" if p["status"] == "open" else f"closed ({p['exit_reason']})"
        out.append(
            f"  {p['symbol']:<15} {p['side']:<5} qty {p['quantity']} of {p['initial_quantity']}"
            f" @ {p['entry']}  stop {p['stop_loss']}  TP1 {p['take_profit_1']}"
            f"  TP2 {p['take_profit_2']}  {state}  realised {p['realized_pnl']:+.2f}"
            f"  open PnL {p['unrealized_pnl']:+.2f}"
        )
    return out


def status_provider(engine: Any) -> Any:
    """`sextant.status/1` of the running engine, for the bot's /status and /positions
    (see sextant.ports.broadcaster.StatusProvider)."""
    import asyncio

    def build() -> dict[str, Any]:
        return status_document(
            engine.store,
            mode=engine.settings.mode,
            equity=engine.equity(),
            now=engine.book_time(),
            state_dir=engine.settings.state_dir,
        )

    async def provide() -> dict[str, Any]:
        return await asyncio.to_thread(build)

    return provide
