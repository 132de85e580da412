"""Held positions and news-panic exits through the whole trading hour (issue 9, items 5 and 6).

The real graph on the bundled replay data, the real langchain-openai client against FakeOpenAI,
the paper broker and its SQLite store: positions are opened an hour before the cycle, then
`trading_hour` (what `run --once` and the loop both run) monitors and runs the cycle.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest

from cli.main import main
from cli.output import cycle_document, table
from runtime.factory import build_engine
from runtime.hour import engine_flags, trading_hour
from sextant.clock import FixedClock
from sextant.models import MarketSnapshot
from tests.execution.helpers import signal
from tests.fakes.openai_server import FakeOpenAI
from tests.llm.conftest import AS_OF, BTC, ETH, Script, event, make_services

H = timedelta(hours=1)
SOL = "SOL/USDT:USDT"
HACK = {"events": [event("Exchange hot wallet drained in hack", 1, -2, critical=True,
                         category="hack")]}


def long_signal(snap: MarketSnapshot, as_of: Any) -> Any:
    """A long of about 100 USDT at the ask, stop 5 % under, targets above, on the market grid."""
    m = snap.market
    px = Decimal(str(snap.ticker.ask))

    def q(x: Decimal) -> str:
        return str(x.quantize(m.price_tick, rounding=ROUND_DOWN))

    qty = max(m.min_amount, (Decimal(100) / px // m.amount_step) * m.amount_step)
    return signal(snap.symbol, "long", as_of, entry=q(px), stop=q(px * Decimal("0.95")),
                  tp1=q(px * Decimal("1.075")), tp2=q(px * Decimal("1.125")), qty=str(qty))


async def open_longs(engine: Any, services: Any, held: list[str]) -> None:
    got = await services.market.collect(held, AS_OF - H)
    sigs = [long_signal(got.snapshots[s], AS_OF - H) for s in held]
    opened = await engine.execute(sigs, as_of=AS_OF - H, cycle_id="c-open",
                                  snapshots=got.snapshots)
    assert [i.status for i in opened.intents] == ["filled"] * len(held)


def hour(
    clock: FixedClock, held: list[str], watch: list[str], past: bool = False
) -> tuple[dict, Any, Any, Any]:
    """Longs on `held` opened at AS_OF - 1h, then the trading hour at AS_OF on `watch`, then
    the monitor's next tick (or, with `past`, a `run --once --as-of` two hours back)."""
    settings, services = make_services(clock)

    async def go() -> tuple[dict, Any, Any, Any]:
        engine = build_engine(settings)
        trading = dataclasses.replace(services, execution=engine)  # the services of this book
        await engine.start()
        try:
            await open_longs(engine, trading, held)
            state, _, act = await trading_hour(trading, engine, as_of=AS_OF, symbols=watch,
                                               wall=clock)
            if past:
                _, _, after = await trading_hour(trading, engine, as_of=AS_OF - 2 * H,
                                                 symbols=watch, wall=clock)
            else:  # the monitor between cycles applies what the cycle left for it
                after = await engine.tick(AS_OF + H / 2, engine_flags(engine))
            return state, act, after, engine
        finally:
            await engine.aclose()
            await services.aclose()

    state, act, ticked, engine = asyncio.run(go())
    return state, act, ticked, (settings, engine)


def test_an_ineligible_held_symbol_is_collected_read_and_closed_on_its_news(
    llm_env: FakeOpenAI, script: Script, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A blown-out spread (0.5 % > 0.2 %) makes every symbol ineligible: the held ETH long is
    # still collected and its news read, and the hack on it closes it; BTC, only watched, is
    # neither read nor traded.
    monkeypatch.setenv("SEXTANT_MARKET__ASSUMED_SPREAD_PCT", "0.5")
    script.news = {"ETH": HACK}
    state, act, _, (settings, engine) = hour(clock, held=[ETH], watch=[BTC])

    eth, btc = state["universe"][ETH], state["universe"][BTC]
    assert (eth.eligible, eth.held, eth.source) == (False, True, "position")
    assert [r.code for r in eth.reasons] == ["wide_spread"]
    assert (btc.eligible, btc.held) == (False, False)
    assert script.calls.get("ETH") == 1 and "BTC" not in script.calls
    assert state["news"][ETH].available and state["news"][ETH].close_longs
    assert BTC not in state["news"]
    assert state["signals"] == []  # ineligible: no analysis, no entry
    assert [(f.symbol, f.reason) for f in act.fills] == [(ETH, "news_panic")]
    assert engine.store.open_positions() == []

    doc = cycle_document(state, settings, 1.0)
    [entry] = [u for u in doc["universe"] if u["symbol"] == ETH]
    assert entry["held"] is True and entry["eligible"] is False
    assert [c["action"] for c in doc["news_closes"]] == ["close"]
    text = table(doc)
    assert "[held: news read, exits run, no new entry]" in text and "News-panic exits:" in text


def test_one_hostile_answer_for_every_coin_closes_at_most_the_cap(
    llm_env: FakeOpenAI, script: Script, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    # The same "critical" hack story comes back for every coin, the market calm: one close
    # (the cap, news.max_panic_closes_per_cycle = 1), the other two kept with a reason; the
    # monitor's next tick does not close them behind the cap's back.
    caplog.set_level(logging.INFO, "sextant.execution")
    script.default_news = HACK
    state, act, ticked, (settings, engine) = hour(clock, held=[BTC, ETH, SOL],
                                                  watch=[BTC, ETH, SOL])
    assert settings.news.max_panic_closes_per_cycle == 1
    assert all(state["news"][s].close_longs for s in (BTC, ETH, SOL))
    closes = state["news_closes"]
    assert sorted(c.action for c in closes) == ["close", "skip", "skip"]
    assert not any(c.confirmed for c in closes)  # no PANIC volatility on this calm hour
    assert act.news_closes == closes
    closed = [f.symbol for f in act.fills if f.reason == "news_panic"]
    assert closed == [c.symbol for c in closes if c.action == "close"]
    kept = {c.symbol for c in closes if c.action == "skip"}
    assert {p.symbol for p in engine.store.open_positions()} == kept
    for c in closes:
        if c.action == "skip":
            assert [r.code for r in c.reasons] == ["news_panic_capped"]
            assert "cap of 1" in c.reasons[0].message
    assert ticked.fills == []
    assert engine_flags(engine) == {closed[0]: (True, False)}

    doc = cycle_document(state, settings, 1.0)
    codes = sorted(c["reasons"][0]["code"] for c in doc["news_closes"])
    assert codes == ["news_panic_capped", "news_panic_capped", "news_panic_close"]
    json.dumps(doc, default=str)
    logged = [r for r in caplog.records if "kept open (news_panic_capped)" in r.getMessage()]
    assert {r.levelno for r in logged} == {logging.WARNING} and len(logged) == 2


def test_a_past_hour_run_closes_nothing_and_leaves_the_monitors_flags_alone(
    llm_env: FakeOpenAI, script: Script, clock: FixedClock
) -> None:
    script.default_news = HACK
    _, act, past, (_, engine) = hour(clock, held=[BTC, ETH], watch=[BTC, ETH], past=True)
    [closed] = [f.symbol for f in act.fills]
    assert past.fills == [] and past.news_closes == []  # `--as-of` before the book: records
    assert engine_flags(engine) == {closed: (True, False)}
    assert len(engine.store.open_positions()) == 1


def test_a_genuine_event_on_one_coin_still_closes_it(
    llm_env: FakeOpenAI, script: Script, clock: FixedClock
) -> None:
    script.news = {"ETH": HACK}
    state, act, _, (_, engine) = hour(clock, held=[BTC, ETH], watch=[BTC, ETH])
    assert [(f.symbol, f.reason) for f in act.fills] == [(ETH, "news_panic")]
    assert [p.symbol for p in engine.store.open_positions()] == [BTC]
    [c] = state["news_closes"]
    assert (c.symbol, c.action, c.reasons[0].code) == (ETH, "close", "news_panic_close")


def test_run_once_reads_the_news_of_held_symbols_outside_the_watchlist(
    llm_env: FakeOpenAI, script: Script, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `run --once` opens positions, then runs an hour later on another watchlist with every
    # symbol ineligible: the held ones are still collected, read and shown as held.
    first = "2025-04-07T15:00:00Z"
    assert main(["run", "--once", "--json", "--symbols", "ETH,LTC,DOGE", "--as-of", first]) == 0
    opened = {p["symbol"] for p in json.loads(capsys.readouterr().out)["positions"]
              if p["status"] == "open"}
    assert opened
    script.calls.clear()
    monkeypatch.setenv("SEXTANT_MARKET__ASSUMED_SPREAD_PCT", "0.5")
    later = "2025-04-07T16:00:00Z"
    assert main(["run", "--once", "--json", "--symbols", "BTC", "--as-of", later]) == 0
    doc = json.loads(capsys.readouterr().out)
    universe = {u["symbol"]: u for u in doc["universe"]}
    still = {p["symbol"] for p in doc["positions"] if p["status"] == "open"}
    assert still  # the 16:00 bar stopped nothing out
    for sym in still:
        assert universe[sym]["held"] is True and universe[sym]["eligible"] is False
        assert universe[sym]["source"] == "position"
        assert "wide_spread" in {r["code"] for r in universe[sym]["reasons"]}
        assert script.calls.get(sym.split("/")[0]) == 1
    assert universe[BTC]["held"] is False and "BTC" not in script.calls
    assert doc["signals"] == [] and doc["news_closes"] == []
