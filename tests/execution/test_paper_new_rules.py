"""The paper broker and engine run the rules beyond the spec exactly as the backtest does: the
signal's ATR reaches the position, ATR trailing moves the stop, the signal-reversal exit
closes at the quote, and the portfolio reports the book's daily volatility."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sextant.models import Signal
from tests.execution.helpers import D, bar, market, snapshot
from tests.execution.test_paper_engine import SYM, enter, long_signal, make

pytestmark = pytest.mark.anyio
T0 = datetime(2025, 3, 3, 12, tzinfo=UTC)
H = timedelta(hours=1)


def with_atr(sig, atr: str = "2", score: float = 0.6):  # type: ignore[no-untyped-def]
    return sig.model_copy(update={"atr": D(atr), "score": score})


async def test_atr_trailing_and_the_book_volatility(tmp_path: Path) -> None:
    engine, feed = make(
        tmp_path,
        execution={"breakeven_trigger_unit": "off", "trail_unit": "atr", "trail_atr": "1",
                   "trail_start": "entry"},
    )
    await engine.start()
    await enter(engine, with_atr(long_signal(qty="10")))
    [pos] = engine.store.open_positions()
    assert pos.atr == D("2")  # from the signal
    assert engine.portfolio_at(T0 + H).open_daily_vol == D("20")  # 10 x 2
    # best 102.5: trail 102.5 - 1 x 2 = 100.5 (above the 98 stop)
    feed.bars_by_symbol[SYM] = [bar(T0 + H, "100.05", "102.5", "100", "102")]
    await engine.advance(T0 + H)
    [pos] = engine.store.open_positions()
    assert pos.stop_loss == D("100.5") and pos.stop_move == "trail"


async def test_signal_reversal_closes_at_the_quote(tmp_path: Path) -> None:
    engine, _ = make(tmp_path, execution={"reversal_exit_score": 0.0})
    await engine.start()
    await enter(engine, with_atr(long_signal()))
    # the next cycle: the symbol's score is -0.1 (a WAIT, but below 0): the long is closed
    later = T0 + H
    wait = long_signal(as_of=later).model_copy(update={"score": -0.1})
    assert engine.reversals([wait], later) == engine.store.open_positions()
    assert engine.reversals([wait.model_copy(update={"score": 0.01})], later) == []
    assert engine.reversals([wait], T0) == []  # opened at that very hour: never
    as_wait = Signal.model_validate({
        **wait.model_dump(), "decision": "WAIT", "signal_id": "sx-25030313-TEST-W",
        "entry": None, "stop_loss": None, "take_profit_1": None, "take_profit_2": None,
        "leverage": None, "quantity": None,
        "reasons": [{"code": "position_already_open", "kind": "veto", "message": "held"}],
    })
    act = await engine.execute([as_wait], as_of=later, cycle_id="c2",
                               snapshots={SYM: snapshot(market(SYM), 100.0, later)})
    assert [f.reason for _, f in act.exits] == ["signal_reversal"]
    # at the quote (100) less 0.05 % slippage, on the tick: 99.95
    assert act.exits[0][1].price == D("99.95")
    assert engine.store.open_positions() == []
