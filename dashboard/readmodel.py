"""What the dashboard shows, read from the state directory: the one place it touches storage.

Every read goes through the components' own store classes (the execution `Store`, the LLM
`Tape`) and returns plain JSON-ready documents, each with a `schema` name like the CLI's
(`sextant.status/1` is built by the very function `sextant status --json` uses,
`runtime.once.book_status`). Pages and
the JSON API render these documents and nothing else, so a later storage port changes this
module and the stores, not the views.

Blocking (SQLite); the web app calls it from worker threads.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from execution.report import position_doc, read_heartbeat
from execution.store import Store, parse_time
from sextant.clock import Clock, SystemClock
from sextant.config import Settings
from sextant.models import COMPONENT_NAMES, iso_z
from sextant.positions import Fill, Position
from tools.llm.tape import Tape

MARK_SOURCE = (
    "open PnL at each position's last price: the price the position monitor last applied "
    "(every monitor pass live, each closed 1h bar in a replay), stored with the position; "
    "`mark_at` says when"
)
EQUITY_SOURCE = (
    "mark-to-market equity the position monitor observed (paper: the book at the last prices; "
    "Bybit: the account's equity), the last observation of each UTC hour"
)
REPORT_FILES = ("report.html", "equity.png", "trades.csv", "backtest.json")


def _num(v: Decimal | None, places: str = "0.0001") -> float | None:
    return None if v is None else float(v.quantize(Decimal(places))) + 0.0


class ReadModel:
    """Documents about one state directory. Opened once per dashboard; thread-safe."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.state_dir = Path(settings.state_dir)
        self.clock = clock or SystemClock()
        self.store = Store.open(self.state_dir)
        self.tape = Tape(self.state_dir)

    def close(self) -> None:
        self.tape.close()
        self.store.close()

    # -- the book ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """`sextant.status/1`, exactly what `sextant status --json` prints."""
        from runtime.once import book_status

        return book_status(self.settings)

    def heartbeat(self) -> dict[str, Any] | None:
        return read_heartbeat(self.state_dir)

    @staticmethod
    def _position(pos: Position) -> dict[str, Any]:
        doc = position_doc(pos)
        mark = pos.last_price or pos.entry_price
        risk = pos.initial_risk
        unrealized = pos.unrealized_pnl() if pos.is_open else Decimal(0)
        doc.update(
            mark=_num(mark, "0.00000001"),
            mark_at=iso_z(pos.last_step_at),
            move_pct=_num(pos.move_pct(mark)),
            open_r=_num(unrealized / risk) if risk > 0 else None,
            margin=_num(pos.margin),
            net_pnl=_num(pos.net_pnl + unrealized),
        )
        return doc

    def positions(self) -> dict[str, Any]:
        """`sextant.positions/1`: the open positions (the status document's, plus the mark,
        its time, the move in %, open R and margin)."""
        status_positions = {p["position_id"]: p for p in self.status()["positions"]}
        out = []
        for pos in self.store.open_positions():
            doc = self._position(pos)
            # the numbers status prints, to the digit (the same position_doc)
            doc.update(status_positions.get(pos.position_id, {}))
            out.append(doc)
        return {
            "schema": "sextant.positions/1",
            "mode": self.settings.mode,
            "book_time": iso_z(parse_time(self.store.get("book_time"))),
            "mark_source": MARK_SOURCE,
            "positions": out,
        }

    def has_open(self, symbol: str) -> bool:
        return any(p.symbol == symbol for p in self.store.open_positions())

    def exits(self, limit: int | None = None) -> dict[str, Any]:
        """`sextant.exits/1`: the latest exit fills with their reasons, newest first."""
        from sextant.lifecycle import exit_pnl_pct, r_multiple

        limit = limit or self.settings.dashboard.exits_shown
        positions: dict[str, Position | None] = {}
        rows = []
        for f in self.store.exit_fills(limit):
            if f.position_id not in positions:
                positions[f.position_id] = self.store.position(f.position_id)
            pos = positions[f.position_id]
            rows.append(self._exit(f, pos, r_multiple, exit_pnl_pct))
        return {"schema": "sextant.exits/1", "exits": rows}

    @staticmethod
    def _exit(f: Fill, pos: Position | None, r_multiple: Any, pnl_pct: Any) -> dict[str, Any]:
        return {
            "time": iso_z(f.time),
            "position_id": f.position_id,
            "symbol": f.symbol,
            "side": f.side,
            "reason": f.reason,
            "quantity": _num(f.quantity, "0.00000001"),
            "price": _num(f.price, "0.00000001"),
            "entry": _num(pos.entry_price, "0.00000001") if pos is not None else None,
            "pnl": _num(f.pnl),
            "fee": _num(f.fee),
            "r_multiple": _num(r_multiple(pos, f)) if pos is not None else None,
            "pnl_pct": _num(pnl_pct(pos, f)) if pos is not None else None,
            "opened_at": iso_z(pos.opened_at) if pos is not None else None,
        }

    def equity(self) -> dict[str, Any]:
        """`sextant.equity/1`: the equity curve and the days (start, last, circuit breaker)."""
        start = Decimal(self.store.get("starting_equity") or self.settings.equity)
        marks = self.store.equity_marks()
        days = self.store.days()
        source = EQUITY_SOURCE
        if marks:
            points = [[iso_z(t), _num(eq)] for t, eq in marks]
        else:  # a database from before the hourly marks: first and last observation per day
            source = "first and last equity the position monitor observed each UTC day"
            points = []
            for d in days:
                points.append([iso_z(d.started_at), _num(d.start_equity)])
                if d.last_at != d.started_at:
                    points.append([iso_z(d.last_at), _num(d.last_equity)])
        return {
            "schema": "sextant.equity/1",
            "starting_equity": _num(start),
            "source": source,
            "points": points,
            "days": [
                {
                    "day": d.day.isoformat(),
                    "start_equity": _num(d.start_equity),
                    "last_equity": _num(d.last_equity),
                    "pnl": _num(d.last_equity - d.start_equity),
                    "breaker_until": iso_z(d.breaker_until),
                }
                for d in days
            ],
        }

    # -- the analysis ------------------------------------------------------------------------

    def signals(self, cycles: int | None = None) -> dict[str, Any]:
        """`sextant.signals/1`: the latest cycles, newest first, with every signal's decision,
        score, components, weights, timeframes, reasons and what execution did with it."""
        cycles = cycles or self.settings.dashboard.cycles_shown
        out = []
        for c in self.store.recent_cycles(cycles):
            signals = []
            for sig, status, note in self.store.signals(c.cycle_id):
                doc = sig.model_dump(mode="json")
                doc["execution"] = {"status": status, "note": note or None}
                signals.append(doc)
            out.append(
                {
                    "cycle_id": c.cycle_id,
                    "as_of": iso_z(c.as_of),
                    "status": c.status,
                    "mode": c.mode,
                    "started_at": iso_z(c.started_at),
                    "finished_at": iso_z(c.finished_at),
                    "summary": c.summary,
                    "signals": signals,
                }
            )
        return {"schema": "sextant.signals/1", "components": list(COMPONENT_NAMES),
                "cycles": out}

    def _llm_today(self) -> datetime:
        """The LLM budget's day: the cycles' clock (a replay's simulated time, else now)."""
        if self.settings.market.source == "replay":
            book = parse_time(self.store.get("book_time"))
            if book is not None:
                return book
        return self.clock.now()

    def llm(self, days: int = 14) -> dict[str, Any]:
        """`sextant.llm/1`: model spend per UTC day against the daily budget."""
        budget = float(self.settings.llm.daily_budget_usd)
        today = self._llm_today().astimezone(UTC).date()
        spend = self.tape.daily_spend(days)
        spent = next((d.cost_usd for d in spend if d.day == today), 0.0)
        return {
            "schema": "sextant.llm/1",
            "active": self.settings.llm_active,
            "models": {"hunter": self.settings.llm.hunter_model,
                       "news": self.settings.llm.news_model},
            "budget_usd": budget,
            "day": today.isoformat(),
            "spent_usd": round(spent, 6),
            "remaining_usd": round(max(0.0, budget - spent), 6),
            "days": [
                {
                    "day": d.day.isoformat(),
                    "cost_usd": round(d.cost_usd, 6),
                    "calls": d.calls,
                    "tokens_in": d.tokens_in,
                    "tokens_out": d.tokens_out,
                }
                for d in spend
            ],
        }

    def news(self) -> dict[str, Any]:
        """`sextant.news/1`: per symbol, the News Analyst's latest answer scored in code at its
        own time (as the cycle scored it), and what the latest signal made of news."""
        from sextant.news import assess_news
        from tools.llm.schemas import NewsAnswer, news_candidates

        latest: dict[str, dict[str, Any]] = {}
        last = self.store.recent_cycles(1)
        if last:
            for sig, _, _ in self.store.signals(last[0].cycle_id):
                latest[sig.symbol] = {
                    "as_of": iso_z(sig.as_of),
                    "news_regime": sig.news_regime,
                    "component": sig.components.get("news"),
                    "weight": sig.weights.get("news"),
                    "reasons": [
                        r.model_dump(mode="json") for r in sig.reasons
                        if r.code.startswith(("news", "llm"))
                    ],
                }
        answers: dict[str, Any] = {}
        for e in self.tape.entries("news", limit=500):
            if e.symbol is None or e.symbol in answers or e.parsed is None:
                continue
            try:
                events, key_events, dropped = news_candidates(NewsAnswer.model_validate(e.parsed))
                vol = e.inputs.get("volatility_ratio")
                a = assess_news(
                    e.symbol, events, as_of=e.as_of,
                    volatility_ratio=vol if isinstance(vol, int | float) else None,
                    settings=self.settings.news, key_events=key_events, reasons=dropped,
                    model=e.model, prompt_hash=e.prompt_hash,
                )
            except Exception as exc:  # an answer the code cannot score is shown as such
                answers[e.symbol] = {"as_of": iso_z(e.as_of), "model": e.model,
                                     "error": f"{type(exc).__name__}: {exc}"[:300]}
                continue
            answers[e.symbol] = {
                "as_of": iso_z(e.as_of),
                "asked_at": iso_z(e.created_at),
                "model": e.model,
                "point_in_time": e.point_in_time,
                "assessment": a.model_dump(mode="json"),
            }
        symbols = sorted(set(latest) | set(answers))
        return {
            "schema": "sextant.news/1",
            "active": self.settings.llm_active,
            "symbols": [
                {"symbol": s, "signal": latest.get(s), "answer": answers.get(s)} for s in symbols
            ],
        }

    # -- backtest reports --------------------------------------------------------------------

    @property
    def reports_dir(self) -> Path:
        return self.settings.dashboard.reports_folder(self.state_dir)

    def reports(self) -> dict[str, Any]:
        """`sextant.reports/1`: the report folders (`sextant backtest --report DIR`) directly
        under the reports folder, newest first, with their headline metrics."""
        root = self.reports_dir
        items = []
        if root.is_dir():
            for d in root.iterdir():
                if not d.is_dir() or d.name.startswith(".") or not (d / "report.html").is_file():
                    continue
                items.append(self._report(d))
        items.sort(key=lambda r: r["modified"], reverse=True)
        return {"schema": "sextant.reports/1", "folder": str(root), "reports": items}

    @staticmethod
    def _report(d: Path) -> dict[str, Any]:
        modified = datetime.fromtimestamp((d / "report.html").stat().st_mtime, UTC)
        item: dict[str, Any] = {
            "name": d.name,
            "modified": iso_z(modified.replace(microsecond=0)),
            "files": [f for f in REPORT_FILES if (d / f).is_file()],
        }
        try:
            doc = json.loads((d / "backtest.json").read_text(encoding="utf-8"))
            m = doc.get("metrics", {})
            item.update(
                {
                    "from": doc.get("from"),
                    "to": doc.get("to"),
                    "symbols": doc.get("symbols"),
                    "interrupted": doc.get("interrupted"),
                    "metrics": {
                        k: m.get(k)
                        for k in ("total_return_pct", "sharpe", "max_drawdown_pct", "trades",
                                  "win_rate_pct", "profit_factor")
                    },
                }
            )
        except (OSError, ValueError, AttributeError):
            item["metrics"] = None  # a report without a readable backtest.json: listed only
        return item

    def report_file(self, name: str, filename: str) -> Path | None:
        """A file of a report folder, or None: only the known report files of a folder that
        sits directly in the reports folder (no path ever leaves it)."""
        if filename not in REPORT_FILES or not name or name.startswith(".") or "/" in name:
            return None
        if "\\" in name or name != Path(name).name:
            return None
        root = self.reports_dir.resolve()
        path = (root / name / filename).resolve()
        if path.parent.parent != root or not path.is_file():
            return None
        return path
