"""The cycle's outputs: the `sextant.cycle/1` JSON document and the human table."""

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from execution.report import order_doc, position_doc, position_lines
from graph.state import CycleState
from sextant.config import Settings
from sextant.models import iso_z
from tools.broadcast.render import fmt_price
from tools.llm.usage import llm_block

SIGNAL_FIELDS = (
    "symbol",
    "decision",
    "score",
    "confidence",
    "regime",
    "news_regime",
    "components",
    "weights",
    "timeframes",
    "reasons",
    "entry",
    "stop_loss",
    "take_profit_1",
    "take_profit_2",
    "leverage",
    "risk_pct",
    "quantity",
    "signal_id",
    "raw_score",
    "stop_distance_pct",
)


def _default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return float(o)
    if isinstance(o, datetime):
        return iso_z(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def cycle_document(state: CycleState, settings: Settings, total_ms: float) -> dict[str, Any]:
    signals = []
    for sig in state.get("signals", []):
        d = sig.model_dump(mode="json")
        signals.append({k: d[k] for k in SIGNAL_FIELDS})
    universe = [u.model_dump(mode="json") for u in state.get("universe", {}).values()]
    universe.sort(key=lambda u: (not u["eligible"], u["symbol"]))
    timings = dict(state.get("timings_ms", {}))
    timings["total"] = round(total_ms, 3)
    ref = state.get("reference")
    portfolio = state.get("portfolio")
    return {
        "schema": "sextant.cycle/1",
        "cycle_id": state.get("cycle_id"),
        "as_of": iso_z(state.get("as_of")),  # type: ignore[arg-type]
        "mode": settings.mode,
        "profile": settings.profile,
        "market": settings.market.source,
        "equity": float(portfolio.equity if portfolio else settings.equity),
        "market_context": {
            "reference_symbol": settings.market.reference_symbol,
            "btc_change_4h_pct": state.get("btc_change_4h_pct"),
            "assumptions": ref.assumptions if ref else [],
            "data_dir": str(settings.market.data_dir)
            if settings.market.source == "replay"
            else None,
        },
        "universe": universe,
        "signals": signals,
        "executions": [e.model_dump(mode="json") for e in state.get("executions", []) or []],
        # The book after this cycle: positions opened/changed/closed and the orders placed
        # (`sextant run --once` widens both to everything the run did, monitor included).
        "positions": [position_doc(p) for p in state.get("positions", []) or []],
        "orders": [order_doc(o) for o in state.get("orders", []) or []],
        # News-panic exits the cycle decided: made, or kept open by the per-cycle cap.
        "news_closes": [c.model_dump(mode="json") for c in state.get("news_closes", []) or []],
        "errors": [e.model_dump(mode="json") for e in state.get("errors", [])],
        "timings_ms": timings,
        "llm": llm_block(state.get("llm_usage")),
    }


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, default=_default, indent=2, sort_keys=False)


def _main_reason(reasons: list[dict[str, Any]]) -> str:
    for kinds in (("veto", "wait", "skip"), ("driver",), ("info",)):
        for r in reasons:
            if r["kind"] in kinds:
                return f"{r['code']}: {r['message']}"
    return ""


def table(doc: dict[str, Any]) -> str:
    lines = [
        f"Sextant cycle {doc['cycle_id']}  as of {doc['as_of']}  mode {doc['mode']}  "
        f"market {doc['market']}  equity {doc['equity']:,.2f} USDT",
    ]
    btc = doc["market_context"]["btc_change_4h_pct"]
    if btc is not None:
        lines.append(f"BTC 4h change {btc:+.2f}%")
    lines.append("")
    head = (
        f"{'SYMBOL':<15} {'DECISION':<8} {'SCORE':>6} {'CONF':>5} {'REGIME':<13} "
        f"{'ENTRY':>11} {'STOP':>11} {'TP1':>11} {'TP2':>11} {'LEV':>4} {'QTY':>10}  WHY"
    )
    lines += [head, "-" * len(head)]
    for s in doc["signals"]:
        lev = f"{s['leverage']}x" if s["leverage"] else "-"
        lines.append(
            f"{s['symbol']:<15} {s['decision']:<8} {s['score']:>+6.2f} {s['confidence']:>5.2f} "
            f"{s['regime']:<13} {fmt_price(s['entry']):>11} {fmt_price(s['stop_loss']):>11} "
            f"{fmt_price(s['take_profit_1']):>11} {fmt_price(s['take_profit_2']):>11} {lev:>4} "
            f"{fmt_price(s['quantity']):>10}  {_main_reason(s['reasons'])}"
        )
    skipped = [u for u in doc["universe"] if not u["eligible"]]
    if skipped:
        lines += ["", "Not eligible:"]
        lines += [
            f"  {u['symbol']:<15} {_main_reason(u['reasons'])}"
            + ("  [held: news read, exits run, no new entry]" if u.get("held") else "")
            for u in skipped
        ]
    if doc.get("news_closes"):
        lines += ["", "News-panic exits:"]
        lines += [
            f"  {c['symbol']:<15} {c['side']:<5} {c['action']:<5} {_main_reason(c['reasons'])}"
            for c in doc["news_closes"]
        ]
    if doc["errors"]:
        lines += ["", "Errors:"]
        lines += [f"  {e['symbol']} [{e['stage']}] {e['error']}" for e in doc["errors"]]
    if doc["market_context"]["assumptions"]:
        lines += ["", "Assumed (replay data lacks them):"]
        lines += [f"  - {a}" for a in doc["market_context"]["assumptions"]]
    llm = doc.get("llm") or {}
    if llm.get("calls") or llm.get("cached"):
        lines += [
            "",
            f"llm: {llm['calls']} calls, {llm['cached']} cached, {llm['tokens_in']} tokens in, "
            f"{llm['tokens_out']} out, {llm['cost_usd']:.4f} USD",
        ]
    lines += position_lines(doc.get("positions") or [])
    t = doc["timings_ms"]
    lines += ["", "timings ms: " + ", ".join(f"{k} {v:.0f}" for k, v in t.items())]
    return "\n".join(lines)
