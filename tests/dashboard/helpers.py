"""A small real book for the dashboard tests, and the dashboard served on a free port.

The book is made by the real commands on the bundled data: three `sextant run --once` hours
(three shorts opened at 10:00 and stopped out by 15:00, three more opened at 15:00 and marked
at 16:00), two LLM tape rows (a News Analyst answer for ETH and a Coin Hunter call) and a
3-day backtest report.
"""

import asyncio
import contextlib
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cli.main import main
from tools.llm.tape import Tape, TapeRecord

HOURS = ("2025-04-07T10:00Z", "2025-04-07T15:00Z", "2025-04-07T16:00Z")
SYMBOLS = "BTC,ETH,SOL,DOGE,LTC"
TOKEN = "a-test-token-of-32-characters-xx"
REPORT = "btc-march"
NEWS_AS_OF = datetime(2025, 4, 7, 15, tzinfo=UTC)
NEWS_EVENTS = [
    {"title": "ETH ETF inflows", "published_at": "2025-04-07T03:00:00Z", "impact": 1,
     "category": "etf", "critical": False, "source": "example.com"},
    {"title": "Exchange hack drains ETH wallets", "published_at": "2025-04-07T12:00:00Z",
     "impact": -2, "category": "hack", "critical": True, "source": "example.org"},
]


def build_book(state: Path, reports: Path) -> None:
    """Run the real commands into `state` (SEXTANT_STATE_DIR must point there)."""
    for hour in HOURS:
        assert main(["run", "--once", "--json", "--symbols", SYMBOLS, "--as-of", hour]) == 0
    tape = Tape(state)
    base = {"model": "perplexity/sonar", "prompt_hash": "0123abcd", "attempt": 1,
            "status": "ok", "origin": "cycle", "cycle_id": "c-20250407T1500Z"}
    tape.record(TapeRecord(
        created_at=datetime(2025, 4, 7, 15, 0, 40, tzinfo=UTC), as_of=NEWS_AS_OF, agent="news",
        prompt_name="news_analyst", symbol="ETH/USDT:USDT",
        inputs={"symbol": "ETH/USDT:USDT", "volatility_ratio": 1.1},
        raw_text="{}", parsed={"events": NEWS_EVENTS,
                               "key_events": [{"title": "Pectra upgrade",
                                               "date": "2025-05-07T00:00:00Z"}]},
        tokens_in=1200, tokens_out=300, cost_usd=0.0123, **base,
    ))
    tape.record(TapeRecord(
        created_at=datetime(2025, 4, 7, 15, 0, 10, tzinfo=UTC), as_of=NEWS_AS_OF,
        agent="hunter", prompt_name="coin_hunter", inputs={}, raw_text="[]", parsed=[],
        tokens_in=500, tokens_out=50, cost_usd=0.005, **base,
    ))
    tape.close()
    assert main(["backtest", "--from", "2025-03-01", "--to", "2025-03-04", "--symbols", "BTC",
                 "--report", str(reports / REPORT), "--quiet"]) == 0


def copy_state(template: Path, state: Path) -> None:
    shutil.copytree(template, state, dirs_exist_ok=True)


@contextlib.contextmanager
def served(app: Any) -> Iterator[str]:
    """The app on a real uvicorn server on 127.0.0.1 (a free port), in a thread."""
    from dashboard.server import _server, bind, url_of

    sock = bind("127.0.0.1", 0)
    server = _server(app, embedded=True)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              daemon=True)
    thread.start()  # the socket already listens: early connections wait in its backlog
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
