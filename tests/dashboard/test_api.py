"""The JSON API over a real book: the same numbers as the CLI, the documents it promises, the
token gate on actions, and nothing served outside the state's reports."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cli.main import main
from dashboard.actions import StandaloneActions
from dashboard.app import create_app
from dashboard.auth import TokenGate
from dashboard.readmodel import ReadModel
from execution.store import Store
from sextant.config import Settings, load_settings
from sextant.positions import EXIT_REASONS
from tests.dashboard.helpers import REPORT, TOKEN

ORIGIN = "http://127.0.0.1:8787"


@pytest.fixture
def make_client(settings: Settings) -> Iterator:
    models: list[ReadModel] = []

    def make(s: Settings | None = None, gate: TokenGate | None = None) -> TestClient:
        s = s or settings
        model = ReadModel(s)
        models.append(model)
        return TestClient(create_app(model, StandaloneActions(s), gate=gate), base_url=ORIGIN)

    yield make
    for m in models:
        m.close()


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_api_status_is_sextant_status_json(
    make_client, capsys: pytest.CaptureFixture[str]
) -> None:
    api = make_client().get("/api/status").json()
    cli = cli_json(capsys, "status")
    assert api == cli
    assert api["schema"] == "sextant.status/1" and len(api["positions"]) == 3
    assert any(p["unrealized_pnl"] != 0 for p in api["positions"])  # marked at 16:00


def test_positions_carry_the_status_numbers_and_the_mark(make_client) -> None:
    c = make_client()
    status = c.get("/api/status").json()
    doc = c.get("/api/positions").json()
    assert doc["schema"] == "sextant.positions/1" and "last price" in doc["mark_source"]
    by_id = {p["position_id"]: p for p in doc["positions"]}
    for p in status["positions"]:
        q = by_id[p["position_id"]]
        assert {k: q[k] for k in p} == p  # every status field, to the digit
        assert q["mark"] == p["last_price"] and q["mark_at"] == "2025-04-07T16:00:00Z"
        # open PnL of a short: (entry - mark) x quantity
        assert q["unrealized_pnl"] == pytest.approx((q["entry"] - q["mark"]) * q["quantity"],
                                                     abs=1e-4)
        assert q["move_pct"] == pytest.approx((q["entry"] - q["mark"]) / q["entry"] * 100,
                                              abs=1e-4)


def test_signals_list_the_latest_cycles_with_components_weights_and_reasons(
    make_client,
) -> None:
    doc = make_client().get("/api/signals").json()
    assert doc["schema"] == "sextant.signals/1"
    assert [c["as_of"] for c in doc["cycles"]] == [
        "2025-04-07T16:00:00Z", "2025-04-07T15:00:00Z", "2025-04-07T10:00:00Z"
    ]
    signals = [s for c in doc["cycles"] for s in c["signals"]]
    assert len(signals) == 15
    for s in signals:
        assert set(s["components"]) == set(doc["components"])
        assert set(s["weights"]) == set(doc["components"])
        if s["decision"] == "WAIT":  # every WAIT says why, with a code
            assert any(r["kind"] in ("wait", "veto", "skip") and r["code"] for r in s["reasons"])
            assert s["execution"]["status"] == "wait"
    opened = [s for s in doc["cycles"][1]["signals"] if s["decision"] == "SHORT"]
    assert {s["execution"]["status"] for s in opened} == {"filled"}
    assert make_client().get("/api/signals?cycles=1").json()["cycles"][0]["cycle_id"] == (
        "c-20250407T1600Z"
    )
    assert make_client().get("/api/signals?cycles=0").status_code == 400


def test_exits_and_equity(make_client, settings: Settings) -> None:
    c = make_client()
    exits = c.get("/api/exits").json()["exits"]
    assert len(exits) == 3 and {e["reason"] for e in exits} <= set(EXIT_REASONS)
    assert [e["time"] for e in exits] == sorted((e["time"] for e in exits), reverse=True)
    for e in exits:  # a stopped-out short: about -1R, and the PnL is its price move
        assert e["reason"] == "stop_loss" and e["r_multiple"] == pytest.approx(-1, abs=0.05)
        assert e["pnl"] == pytest.approx((e["entry"] - e["price"]) * e["quantity"], abs=1e-4)
    eq = c.get("/api/equity").json()
    times = [t for t, _ in eq["points"]]
    assert times == sorted(times) and len(times) == len(set(times))
    assert times[0] == "2025-04-07T10:00:00Z" and times[-1] == "2025-04-07T16:00:00Z"
    assert len(times) == 7  # one mark per hour from 10:00 to 16:00
    store = Store.open(settings.state_dir)
    try:
        day = store.latest_day()
        assert day is not None
        # the last mark and the day's last equity are the same observation
        assert eq["points"][-1][1] == pytest.approx(float(day.last_equity), abs=1e-4)
        assert eq["days"][-1]["last_equity"] == eq["points"][-1][1]
    finally:
        store.close()
    assert eq["starting_equity"] == 10000.0


def test_llm_spend_against_the_budget(make_client, settings: Settings) -> None:
    doc = make_client().get("/api/llm").json()
    assert doc["schema"] == "sextant.llm/1"
    assert doc["day"] == "2025-04-07"  # a replay book: the cycles' day, not the wall's
    assert doc["spent_usd"] == pytest.approx(0.0173)
    assert doc["budget_usd"] == settings.llm.daily_budget_usd
    assert doc["remaining_usd"] == pytest.approx(doc["budget_usd"] - 0.0173)
    assert doc["days"] == [{"day": "2025-04-07", "cost_usd": 0.0173, "calls": 2,
                            "tokens_in": 1700, "tokens_out": 350}]


def test_news_is_scored_in_code_at_the_answers_time(make_client) -> None:
    doc = make_client().get("/api/news").json()
    by = {s["symbol"]: s for s in doc["symbols"]}
    eth = by["ETH/USDT:USDT"]["answer"]
    assert eth["as_of"] == "2025-04-07T15:00:00Z" and eth["model"] == "perplexity/sonar"
    a = eth["assessment"]
    ev = {e["title"]: e for e in a["events"]}
    # impact x 0.5^(age / 24 h): +1 at 12 h -> 0.70711, -2 at 3 h -> -1.83401
    assert ev["ETH ETF inflows"]["decayed_impact"] == pytest.approx(0.70711, abs=1e-5)
    assert ev["Exchange hack drains ETH wallets"]["decayed_impact"] == pytest.approx(
        -1.83401, abs=1e-5
    )
    assert a["score"] == pytest.approx((0.70711 - 1.83401) / 4, abs=1e-5)
    # fresh critical negative news: vetoes longs and closes them; volatility 1.1x: NORMAL
    assert a["veto_long"] and a["close_longs"] and a["regime"] == "NORMAL"
    assert a["key_events"][0]["title"] == "Pectra upgrade"
    # the latest cycle read no news (no key): its signals say so, with a reason code
    latest = by["BTC/USDT:USDT"]["signal"]
    assert latest["component"] is None and latest["weight"] == 0.0
    assert "news_unavailable" in {r["code"] for r in latest["reasons"]}


def test_reports_are_listed_and_served_and_nothing_else(make_client) -> None:
    c = make_client()
    doc = c.get("/api/reports").json()
    [r] = doc["reports"]
    assert r["name"] == REPORT and r["from"] == "2025-03-01T00:00:00Z"
    assert set(r["files"]) == {"report.html", "equity.png", "trades.csv", "backtest.json"}
    assert isinstance(r["metrics"]["total_return_pct"], float)
    page = c.get(f"/reports/{REPORT}/report.html")
    assert page.status_code == 200 and "Sextant backtest" in page.text
    assert "script-src" not in page.headers["content-security-policy"]  # no script at all
    assert c.get(f"/reports/{REPORT}/equity.png").headers["content-type"] == "image/png"
    for bad in (
        f"/reports/{REPORT}/../../sextant.db",
        "/reports/..%2F..%2F/sextant.db",
        "/reports/%2E%2E/report.html",
        f"/reports/{REPORT}/sextant.db",
        "/reports/nope/report.html",
    ):
        assert c.get(bad).status_code == 404, bad


def test_pages_render_and_responses_are_hardened(make_client) -> None:
    c = make_client()
    for path in ("/", "/signals", "/exits", "/news", "/reports", "/api"):
        r = c.get(path)
        assert r.status_code == 200, path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert "set-cookie" not in r.headers
    home = c.get("/").text
    assert "read-only" in home and "close-position" not in home  # no token: no buttons
    # DNS rebinding: a foreign Host header is refused
    assert c.get("/api/status", headers={"host": "evil.example"}).status_code == 400
    assert c.get("/api/nothing").json() == {"error": "Not Found"}


def close(c: TestClient, body: object, **headers: str):  # type: ignore[no-untyped-def]
    return c.post("/api/positions/close", content=json.dumps(body),
                  headers={"content-type": "application/json", **headers})


def test_actions_without_a_configured_token_are_refused(make_client) -> None:
    c = make_client()
    r = close(c, {"symbol": "ETH"}, authorization="Bearer anything-at-all-long-enough")
    assert r.status_code == 403 and "SEXTANT_DASHBOARD__TOKEN" in r.json()["error"]
    assert len(c.get("/api/status").json()["positions"]) == 3


@pytest.fixture
def token_settings(state: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SEXTANT_DASHBOARD__TOKEN", TOKEN)
    return load_settings()


def test_unauthenticated_actions_are_refused_and_the_right_token_closes(
    make_client, token_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    c = make_client(token_settings)
    eth = {"symbol": "ETH"}
    assert close(c, eth).status_code == 401
    assert close(c, eth).headers["www-authenticate"].startswith("Bearer")
    assert close(c, eth, authorization="Bearer wrong-token-wrong-token").status_code == 401
    assert close(c, eth, authorization=TOKEN).status_code == 401  # no scheme
    assert close(c, eth, cookie=f"token={TOKEN}").status_code == 401  # cookies mean nothing
    # CSRF: another site's page, or a form post, cannot act even with the token
    other = close(c, eth, authorization=f"Bearer {TOKEN}", origin="http://evil.example")
    assert other.status_code == 403
    form = c.post("/api/positions/close", content="symbol=ETH",
                  headers={"content-type": "application/x-www-form-urlencoded",
                           "authorization": f"Bearer {TOKEN}"})
    assert form.status_code == 415
    assert len(cli_json(capsys, "status")["positions"]) == 3  # nothing was closed

    ok = close(c, eth, authorization=f"Bearer {TOKEN}", origin=ORIGIN)
    assert ok.status_code == 200, ok.text
    doc = ok.json()
    assert doc["schema"] == "sextant.close/1" and doc["posting_error"] is None
    [fill] = doc["closed"]
    assert fill["symbol"] == "ETH/USDT:USDT" and fill["reason"] == "manual"
    status = cli_json(capsys, "status")
    assert "ETH/USDT:USDT" not in {p["symbol"] for p in status["positions"]}
    assert c.get("/api/status").json() == status
    assert c.get("/api/exits").json()["exits"][0]["reason"] == "manual"
    # nothing left to close on ETH: 404, and a bad body: 400
    assert close(c, eth, authorization=f"Bearer {TOKEN}").status_code == 404
    assert close(c, {"symbol": 3}, authorization=f"Bearer {TOKEN}").status_code == 400


def test_guessing_the_token_is_throttled(make_client, token_settings: Settings) -> None:
    clock = [0.0]
    gate = TokenGate(TOKEN, max_failures=3, window_s=60, monotonic=lambda: clock[0])
    c = make_client(token_settings, gate=gate)
    for _ in range(3):
        assert close(c, {"symbol": "ETH"}, authorization="Bearer nope-nope-nope").status_code == 401
    assert close(c, {"symbol": "ETH"}, authorization=f"Bearer {TOKEN}").status_code == 429
    clock[0] = 61.0
    assert close(c, {"symbol": "ETH"}, authorization=f"Bearer {TOKEN}").status_code == 200
