"""The dashboard inside `sextant loop`: served on the loop's event loop while it trades, the same
status as the CLI, a close through the loop's own engine; and `sextant dashboard` on its own
refusing actions in demo/live while a loop holds the state's lock."""

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from cli.main import main
from dashboard.server import embedded_dashboard
from runtime.factory import build_engine
from runtime.loop import ReplayWindow, TradingLoop
from runtime.once import book_status
from runtime.services import build_services
from sextant.clock import FixedClock, SystemClock
from sextant.config import load_settings
from tests.dashboard.helpers import TOKEN

pytestmark = pytest.mark.anyio
SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "DOGE/USDT:USDT", "LTC/USDT:USDT"]
AUTH = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_loop_serves_the_dashboard_and_closes_through_its_engine(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    settings = load_settings(
        state_dir=state, watchlist=SYMBOLS,
        dashboard={"enabled": True, "port": 0, "token": TOKEN},
    )
    start, end = datetime(2025, 4, 7, 9, tzinfo=UTC), datetime(2025, 4, 7, 12, tzinfo=UTC)
    clock = FixedClock(start)
    engine = build_engine(settings)
    services = build_services(settings, clock=clock, engine=engine)
    seen: dict = {}

    async def between_hours(seconds: float) -> None:
        """The replay's pause between two hours: use the dashboard while the loop runs."""
        if "closed" in seen or not engine.store.open_positions():
            return
        async with httpx.AsyncClient(base_url=seen["url"], timeout=10) as web:
            status = (await web.get("/api/status")).json()
            seen["status"] = status
            seen["expected"] = book_status(settings)
            seen["page"] = (await web.get("/")).text
            symbol = status["positions"][0]["symbol"]
            refused = await web.post("/api/positions/close", json={"symbol": symbol})
            seen["refused"] = refused.status_code
            r = await web.post("/api/positions/close", content=json.dumps({"symbol": symbol}),
                               headers=AUTH)
            seen["closed"] = (r.status_code, r.json(), clock.now())

    loop = TradingLoop(services, engine, state_dir=state, clock=clock, wall=SystemClock(),
                       sleep=between_hours, replay=ReplayWindow(start, end, speed=3600),
                       symbols=SYMBOLS)
    try:
        async with embedded_dashboard(settings, engine, services.broadcaster, clock) as dash:
            assert dash is not None and dash.url.startswith("http://127.0.0.1:")
            seen["url"] = dash.url
            assert await loop.run() == 0
        assert dash.task.done()  # stopped with the loop
    finally:
        await engine.aclose()
        await services.aclose()
    assert seen["status"] == seen["expected"]
    assert 'class="close-position' in seen["page"]  # a token is set: the buttons are there
    assert seen["refused"] == 401
    code, doc, at = seen["closed"]
    assert code == 200, doc
    [fill] = doc["closed"]
    assert fill["reason"] == "manual" and fill["time"] == at.isoformat().replace("+00:00", "Z")
    pos = engine.store.position(fill["position_id"])
    assert pos is not None and pos.exit_reason == "manual"
    # the loop went on trading after the close, to the end of its window
    assert engine.store.last_cycle() is not None
    assert engine.store.last_cycle().as_of == end  # type: ignore[union-attr]
    engine.store.close()


def test_sextant_loop_serves_it_and_writes_its_log_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_file = tmp_path / "logs" / "sextant.log"
    monkeypatch.setenv("SEXTANT_DASHBOARD__ENABLED", "true")
    monkeypatch.setenv("SEXTANT_DASHBOARD__PORT", "0")
    monkeypatch.setenv("SEXTANT_SERVICE__LOG_FILE", str(log_file))
    from sextant.logfile import remove_log_file

    try:
        assert main(["loop", "--replay-from", "2025-04-07T10:00Z", "--replay-to",
                     "2025-04-07T10:00Z", "--symbols", "BTC", "--quiet"]) == 0
    finally:
        import logging

        for h in list(logging.getLogger().handlers):
            if getattr(h, "sextant_file", None):
                remove_log_file(h)
    text = log_file.read_text()
    assert "dashboard on http://127.0.0.1:" in text and "read-only" in text
    assert "cycle c-20250407T1000Z done" in text


@pytest.fixture
def loop_holds_the_lock(state: Path):  # type: ignore[no-untyped-def]
    """Another process holding the state's loop lock, as a running `sextant loop` does."""
    code = (
        "import sys; from runtime.lock import InstanceLock; "
        "l = InstanceLock(sys.argv[1]); l.acquire(); print('locked', flush=True); "
        "sys.stdin.read()"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(state)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    yield proc.pid
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=10)


def test_standalone_refuses_actions_in_demo_while_the_loop_holds_the_lock(
    state: Path, loop_holds_the_lock: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient

    from dashboard.actions import StandaloneActions
    from dashboard.app import create_app
    from dashboard.readmodel import ReadModel

    monkeypatch.setenv("BYBIT_API_KEY", "key")
    monkeypatch.setenv("BYBIT_API_SECRET", "secret")
    settings = load_settings(mode="demo", market={"source": "bybit"},
                             dashboard={"token": TOKEN})
    model = ReadModel(settings)
    try:
        c = TestClient(create_app(model, StandaloneActions(settings)),
                       base_url="http://127.0.0.1:8787")
        actions = c.get("/api").json()["actions"]
        assert actions["enabled"] is False and f"pid {loop_holds_the_lock}" in actions["reason"]
        r = c.post("/api/positions/close", json={"symbol": "ETH"}, headers=AUTH)
        assert r.status_code == 409 and "loop" in r.json()["error"]
        assert len(c.get("/api/status").json()["positions"]) == 3  # nothing touched
        page = c.get("/").text
        assert "close-position" not in page and "stop the loop first" in page
    finally:
        model.close()


async def test_one_book_operation_at_a_time(tmp_path: Path) -> None:
    """A close from the dashboard and a monitor pass on the same event loop never interleave
    inside the broker (the engine serialises its operations)."""
    from tests.dashboard.helpers import SYMBOLS as CLI_SYMBOLS

    settings = load_settings(state_dir=tmp_path / "s")
    engine = build_engine(settings)
    inside: list[str] = []
    overlaps: list[str] = []
    real_apply = engine.broker.apply

    async def slow_apply(*args, **kwargs):  # type: ignore[no-untyped-def]
        if inside:
            overlaps.append("apply while another apply runs")
        inside.append("x")
        await asyncio.sleep(0)  # yield to whatever else is scheduled
        try:
            return await real_apply(*args, **kwargs)
        finally:
            inside.pop()

    engine.broker.apply = slow_apply  # type: ignore[method-assign]
    from runtime.hour import trading_hour

    services = build_services(settings, clock=FixedClock(datetime(2025, 4, 7, 10, tzinfo=UTC)),
                              engine=engine)
    try:
        await engine.start()
        symbols = [s if "/" in s else f"{s}/USDT:USDT" for s in CLI_SYMBOLS.split(",")]
        await trading_hour(services, engine, as_of=datetime(2025, 4, 7, 10, tzinfo=UTC),
                           symbols=symbols, wall=SystemClock())
        held = [p.symbol for p in engine.store.open_positions()]
        assert len(held) == 3
        later = datetime(2025, 4, 7, 13, tzinfo=UTC)
        await asyncio.gather(
            engine.advance(later),
            engine.close([held[0]], now=later, reason="manual"),
            engine.close([held[1]], now=later, reason="manual"),
        )
    finally:
        await engine.aclose()
        await services.aclose()
        engine.store.close()
    assert overlaps == []
