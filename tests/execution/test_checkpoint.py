"""The checkpointer's serializer round-trips a real cycle state: snapshots, Decimal, Send."""

import logging
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from langgraph.types import Send

from runtime.checkpoint import CheckpointSerde, open_checkpointer, prune, state_types, thread_ids
from runtime.cycle import run_cycle
from runtime.services import build_services
from sextant.config import load_settings

pytestmark = pytest.mark.anyio
AS_OF = datetime(2025, 4, 7, 15, tzinfo=UTC)


async def test_a_real_cycle_state_round_trips(caplog: pytest.LogCaptureFixture) -> None:
    services = build_services(load_settings())
    state, _ = await run_cycle(services, as_of=AS_OF, symbols=["BTC/USDT:USDT", "ETH/USDT:USDT"])
    serde = CheckpointSerde()
    caplog.set_level(logging.WARNING)
    back = serde.loads_typed(serde.dumps_typed(dict(state)))
    assert not [r for r in caplog.records if "unregistered" in r.getMessage()
                or "Blocked" in r.getMessage()]
    for key in ("signals", "portfolio", "universe", "news", "analyses", "executions", "errors"):
        assert back[key] == state[key], key
    for sym, snap in state["snapshots"].items():
        got = back["snapshots"][sym]
        for tf, cf in snap.candles.items():
            assert got.candles[tf].df.equals(cf.df)  # bit for bit, index included
        assert got.model_dump(exclude={"candles"}) == snap.model_dump(exclude={"candles"})
    sig = next(s for s in back["signals"] if s.entry is not None)
    assert isinstance(sig.entry, Decimal)
    send = Send("news_analyst", {"symbol": "BTC/USDT:USDT", "snapshot": state["reference"]})
    again = serde.loads_typed(serde.dumps_typed([send]))[0]
    assert isinstance(again, Send) and again.arg["snapshot"].candles["1h"].df.equals(
        state["reference"].candles["1h"].df)


def test_the_allowlist_holds_the_state_types() -> None:
    names = set(state_types())
    assert {("sextant.models", "MarketSnapshot"), ("sextant.models", "Signal"),
            ("sextant.positions", "Position"), ("sextant.positions", "OrderRecord"),
            ("sextant.events", "ExitEvent"),
            ("sextant.math_engine.models", "MathAnalysis")} <= names


async def test_threads_are_pruned(tmp_path: Path) -> None:
    from graph.graph import build_graph

    services = build_services(load_settings())
    async with open_checkpointer(tmp_path) as saver:
        graph = build_graph().compile(checkpointer=saver)
        for h in (1, 2, 3):
            cid = f"c-{h}"
            await run_cycle(services, as_of=AS_OF.replace(hour=h), symbols=["BTC/USDT:USDT"],
                            graph=graph, config={"configurable": {"thread_id": cid}})
        assert await thread_ids(saver) == ["c-1", "c-2", "c-3"]
        assert await prune(saver, {"c-3"}) == 2
        assert await thread_ids(saver) == ["c-3"]
