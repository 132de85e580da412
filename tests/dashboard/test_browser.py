"""The dashboard in a real headless Chromium (Playwright driving the system's browser):
pages load without errors, the charts draw, the numbers shown are `sextant status --json`'s,
actions without the token are refused and with it the position is closed."""

import json
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.main import main
from dashboard.formatting import money, price
from tests.dashboard.helpers import REPORT, TOKEN, served

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
FIELDS = ("entry", "quantity", "stop_loss", "take_profit_1", "take_profit_2")
INK = """sel => {
  const c = document.querySelector(sel + ' canvas');
  if (!c) return [0, 0, 0];
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
  return [c.width, c.height, n];
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for the module, with a fresh profile; never a browser download."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run does it)")
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="sextant-chromium-")
    pw = sync_playwright().start()
    try:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 900}, offline=False,
        )
        yield context
        context.close()
    finally:
        pw.stop()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    p = browser.new_page()
    p.errors = []  # type: ignore[attr-defined]
    p.on("pageerror", lambda e: p.errors.append(str(e)))
    p.on("console", lambda m: m.type == "error" and p.errors.append(m.text))
    # a request cut short by the page's own reload after it was answered is no error
    p.on("requestfailed", lambda r: r.failure != "net::ERR_ABORTED"
         and p.errors.append(f"failed: {r.url} {r.failure}"))
    yield p
    p.close()


@pytest.fixture
def app_url(state: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    """The standalone dashboard over the test's book; `token` param: with a token."""
    from dashboard.actions import StandaloneActions
    from dashboard.app import create_app
    from dashboard.readmodel import ReadModel
    from sextant.config import load_settings

    monkeypatch.setenv("SEXTANT_DASHBOARD__REFRESH_S", "3600")  # tests refresh by hand
    if getattr(request, "param", None) == "token":
        monkeypatch.setenv("SEXTANT_DASHBOARD__TOKEN", TOKEN)
    settings = load_settings()
    model = ReadModel(settings)
    try:
        with served(create_app(model, StandaloneActions(settings))) as url:
            yield url
    finally:
        model.close()


def off_the_browser_loop(fn: Any, *args: Any) -> Any:
    """Playwright's sync API keeps an event loop running in this thread: code that starts
    its own (asyncio.run) runs in another thread."""
    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(fn(*args)))
    worker.start()
    worker.join()
    return out[0]


def status(capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def assert_numbers_are_status(page: Any, doc: dict) -> None:
    eq = page.locator('[data-status-field="equity"]')
    assert float(eq.get_attribute("data-value")) == doc["equity"]
    assert eq.inner_text() == money(doc["equity"])
    pnl = page.locator('[data-status-field="today_pnl"]')
    assert float(pnl.get_attribute("data-value")) == doc["today_pnl"]
    assert pnl.inner_text() == money(doc["today_pnl"], signed=True)
    rows = page.locator("#positions tbody tr")
    assert rows.count() == len(doc["positions"])
    for p in doc["positions"]:
        row = page.locator(f'tr[data-position-id="{p["position_id"]}"]')
        for f in FIELDS:
            cell = row.locator(f'[data-field="{f}"]')
            assert float(cell.get_attribute("data-value")) == p[f], f
            assert cell.inner_text().split(" ")[0] == price(p[f]), f
        upnl = row.locator('[data-field="unrealized_pnl"]')
        assert float(upnl.get_attribute("data-value")) == p["unrealized_pnl"]
        assert upnl.inner_text() == money(p["unrealized_pnl"], signed=True)


def test_overview_shows_the_status_numbers_and_draws_the_charts(
    page: Any, app_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    page.goto(app_url + "/")
    page.wait_for_selector("#equity-chart canvas")
    page.wait_for_selector("#llm-chart canvas")
    assert_numbers_are_status(page, status(capsys))
    for chart in ("#equity-chart", "#llm-chart"):
        width, height, inked = page.evaluate(INK, chart)
        assert width > 200 and height > 100, chart
        assert inked > 500, f"{chart}: {inked} drawn pixels"
    assert page.locator("#exits tbody tr").count() == 3
    assert "read-only" in page.locator("#auth").inner_text()
    assert page.errors == []  # type: ignore[attr-defined]


def test_every_page_loads(page: Any, app_url: str) -> None:
    page.goto(app_url + "/signals")
    latest = page.locator("details.cycle").first
    assert latest.get_attribute("open") is not None
    api = page.evaluate("() => fetch('/api/signals').then(r => r.json())")["cycles"][0]
    assert latest.locator("table.signals > tbody > tr").count() == len(api["signals"]) == 5
    for sig in api["signals"]:  # each row lists its signal's reason codes: why each WAIT
        row = latest.locator(f'tr[data-symbol="{sig["symbol"]}"]')
        assert row.get_attribute("data-decision") == sig["decision"]
        codes = row.locator("ul.reasons code").all_inner_texts()
        assert codes == [r["code"] for r in sig["reasons"]]
    page.goto(app_url + "/news")
    eth = page.locator('article[data-symbol="ETH/USDT:USDT"]')
    assert "Exchange hack drains ETH wallets" in eth.inner_text()
    assert "vetoes longs" in eth.inner_text()
    page.goto(app_url + "/exits")
    assert page.locator("#exits tbody tr").count() == 3
    page.goto(app_url + "/reports")
    page.click(f'#reports a[href="/reports/{REPORT}/report.html"]')
    page.wait_for_load_state()
    assert page.title().startswith("Sextant backtest")
    assert page.locator("img").first.evaluate("i => i.naturalWidth") > 100
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("app_url", ["token"], indirect=True)
def test_actions_need_the_token_and_close_the_position(
    page: Any, app_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    page.goto(app_url + "/")
    button = page.locator('button.close-position[data-symbol="ETH/USDT:USDT"]')
    button.click()  # no token yet: refused in the page, nothing sent
    assert "Enter the dashboard token first" in page.locator("#flash").inner_text()

    refused = page.evaluate("""() => fetch('/api/positions/close', {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({symbol: 'ETH'})})
        .then(r => r.status)""")
    assert refused == 401

    page.fill("#token", "not-the-token-not-the-token")
    page.click("#token-form button")
    page.once("dialog", lambda d: d.accept())
    button.click()
    page.wait_for_selector("#flash.error >> text=Close refused (401)")
    assert len(status(capsys)["positions"]) == 3

    page.fill("#token", TOKEN)
    page.click("#token-form button")
    page.once("dialog", lambda d: d.accept())
    with page.expect_navigation():
        button.click()
    assert "closed short ETH/USDT:USDT" in page.locator("#flash").inner_text()
    after = status(capsys)
    assert {p["symbol"] for p in after["positions"]} == {"DOGE/USDT:USDT", "LTC/USDT:USDT"}
    assert_numbers_are_status(page, after)
    unexpected = [e for e in page.errors if "status of 401" not in e]  # type: ignore[attr-defined]
    assert unexpected == [] and len(page.errors) == 2  # type: ignore[attr-defined]
    assert "token" not in "".join(c["name"] for c in page.context.cookies())


def test_the_page_follows_the_book(
    page: Any, app_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    page.goto(app_url + "/")
    page.wait_for_selector("#equity-chart canvas")
    assert off_the_browser_loop(main, ["close", "DOGE"]) == 0  # closed elsewhere: the CLI
    with page.expect_navigation():  # the set of positions changed: the page reloads
        page.evaluate("window.sextantRefresh()")
    page.wait_for_selector("#equity-chart canvas")
    assert_numbers_are_status(page, status(capsys))
    assert page.errors == []  # type: ignore[attr-defined]
