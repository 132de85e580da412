"""News from the LLM tape: replayed for the hours where it has answers, unavailable elsewhere."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backtest.engine import Backtest, BacktestRequest
from backtest.news import NoNews, TapeNews, tape_news
from backtest.report import document
from sextant.config import load_settings

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
START = datetime(2025, 11, 24, tzinfo=UTC)
END = datetime(2025, 11, 27, tzinfo=UTC)
ANSWERED = [START + timedelta(hours=h) for h in range(10, 30)]  # 20 hours of BTC answers


def record_answers(state_dir: Path) -> None:
    from tools.llm.tape import Tape, TapeRecord

    tape = Tape(state_dir)
    try:
        for as_of in ANSWERED:
            tape.record(
                TapeRecord(
                    created_at=as_of + timedelta(seconds=30),  # asked live, at its own time
                    as_of=as_of,
                    origin="cycle",
                    agent="news",
                    model="perplexity/sonar",
                    prompt_name="news",
                    prompt_hash="h1",
                    attempt=1,
                    status="ok",
                    inputs={"symbol": BTC},
                    symbol=BTC,
                    parsed={
                        "events": [
                            {
                                "title": "Spot ETF inflows hit a record",
                                "published_at": (as_of - timedelta(hours=2)).isoformat(),
                                "impact": 1.5,
                                "category": "etf",
                                "critical": False,
                                "source": "example",
                            }
                        ]
                    },
                )
            )
        # An answer recorded long after its as_of (hindsight) is not point in time: ignored.
        late = START + timedelta(hours=40)
        tape.record(
            TapeRecord(
                created_at=late + timedelta(days=30), as_of=late, origin="cycle", agent="news",
                model="m", prompt_name="news", prompt_hash="h1", attempt=1, status="ok",
                inputs={}, symbol=BTC,
                parsed={"events": [{"title": "x", "published_at": late.isoformat(),
                                    "impact": 2}]},
            )
        )
    finally:
        tape.close()


def test_no_tape_means_news_unavailable() -> None:
    settings = load_settings()
    source = tape_news(settings, [BTC], START, END)
    assert isinstance(source, NoNews) and "no LLM tape" in source.description


def test_tape_answers_are_replayed_for_their_hours_only() -> None:
    settings = load_settings()
    record_answers(settings.state_dir)
    source = tape_news(settings, [BTC, ETH], START, END)
    assert isinstance(source, TapeNews)
    ttl = timedelta(seconds=settings.news.cache_ttl_s)
    assert source.has_answer(BTC, ANSWERED[0])
    assert source.has_answer(BTC, ANSWERED[-1] + ttl)  # reused like the live cache
    assert not source.has_answer(BTC, ANSWERED[-1] + ttl + timedelta(hours=1))
    assert not source.has_answer(BTC, START + timedelta(hours=40))  # hindsight answer
    assert not source.has_answer(ETH, ANSWERED[0])

    trace = frozenset({ANSWERED[5], ANSWERED[-1] + timedelta(hours=5)})
    request = BacktestRequest(START, END, (BTC, ETH), trace_hours=trace)
    result = Backtest(settings, request, news=source).run()
    with_news, without = (result.traces[t] for t in sorted(trace))
    btc = next(s for s in with_news.signals if s.symbol == BTC)
    assert btc.components["news"] is not None and btc.components["news"] > 0
    assert btc.weights["news"] > 0
    eth = next(s for s in with_news.signals if s.symbol == ETH)
    assert eth.components["news"] is None and eth.weights["news"] == 0
    later = next(s for s in without.signals if s.symbol == BTC)
    assert later.components["news"] is None
    doc = document(result)
    assert doc["news"]["source"] == "tape"
    # 20 answered hours, each reusable for one more cache lifetime (1 h): 21 symbol-hours.
    assert doc["news"]["symbol_hours_with_answers"] == len(ANSWERED) + 1


@pytest.mark.parametrize("flag", ["tape"])
def test_cli_reports_the_tape(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from cli.main import main

    settings = load_settings()
    record_answers(settings.state_dir)
    code = main(["backtest", "--from", START.isoformat(), "--to", END.isoformat(),
                 "--symbols", "BTC", "--json", "--quiet", "--llm", flag])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["news"]["source"] == "tape"


def test_llm_live_asks_the_model_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--llm live` runs with the model's answers for the evaluated symbol-hours, says it may
    know the future, and leaves nothing on the tape that a later backtest would replay."""
    import json

    from cli.main import main
    from tests.fakes.openai_server import FakeOpenAI, text

    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)

    def answer(req: dict) -> object:
        as_of = datetime(2025, 11, 21, tzinfo=UTC)
        return text(json.dumps({"events": [{
            "title": "Exchange lists perpetuals", "published_at": as_of.isoformat(),
            "impact": 1.0, "category": "listing", "critical": False, "source": "example",
        }]}), cost=0.0001)

    with FakeOpenAI(responder=answer) as fake:
        monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-TEST")
        monkeypatch.setenv("SEXTANT_LLM__BASE_URL", fake.base_url)
        monkeypatch.setenv("SEXTANT_LLM__MAX_RETRIES", "0")
        code = main(["backtest", "--from", "2025-11-20", "--to", "2025-11-22",
                     "--symbols", "BTC,ETH,XRP,DOGE", "--json", "--quiet", "--llm", "live"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert "may know what happened next" in captured.err
        doc = json.loads(captured.out)
        assert doc["news"]["source"] == "live"
        assert "look-ahead" in doc["news"]["note"]
        assert doc["news"]["symbol_hours_with_answers"] == fake.calls > 0
    settings = load_settings()
    assert isinstance(tape_news(settings, [BTC], START, END), NoNews)  # not point in time
