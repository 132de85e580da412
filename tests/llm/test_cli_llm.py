"""The CLI with a key set and the base URL on FakeOpenAI: `run --once --json` and `prompt`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cli.main import main
from tests.fakes.openai_server import FakeOpenAI, text
from tests.llm.conftest import API_KEY, AS_OF, BTC, ETH, PROXY_VARS, Script, event

SEXTANT = Path(sys.executable).parent / "sextant"


def newsy(script: Script) -> Script:
    script.hunter = {"tickers": [{"ticker": "SOL", "rationale": "breakout"}, "NOTACOIN"]}
    script.news = {
        "BTC": {"events": [event("BTC ETF inflows", 2, 1.5), event("Hack rumour denied", 20, 0.5)]},
        "ETH": {"events": [event("ETH gas fees fall", 4, -0.5), event("Too new", -2, 1)]},
        "SOL": {"events": [event("SOL outage", 6, -2, critical=True, category="hack")]},
    }
    return script


def check_document(doc: dict, calls: int) -> None:
    assert doc["schema"] == "sextant.cycle/1" and doc["as_of"] == "2026-05-16T11:00:00Z"
    news = {s["symbol"]: s["components"]["news"] for s in doc["signals"]}
    assert news[BTC] > 0 and news[ETH] < 0  # nonzero news components from the model
    assert all(s["weights"]["news"] > 0 for s in doc["signals"])
    sources = {u["symbol"]: u["source"] for u in doc["universe"]}
    assert sources["SOL/USDT:USDT"] == "hunter" and "NOTACOIN/USDT:USDT" not in sources
    llm = doc["llm"]
    assert set(llm) == {"calls", "cached", "tokens_in", "tokens_out", "cost_usd", "reasons"}
    assert llm["calls"] == calls and llm["cached"] == 0
    assert llm["tokens_in"] > 0 and llm["tokens_out"] > 0 and llm["cost_usd"] > 0
    codes = {r["code"] for r in llm["reasons"]}
    assert {"not_listed", "news_event_future"} <= codes


def test_run_once_json_in_process(
    llm_env: FakeOpenAI, script: Script, capsys: pytest.CaptureFixture[str]
) -> None:
    newsy(script)
    code = main(["run", "--once", "--json", "--symbols", "BTC,ETH", "--as-of", "2026-05-16T11:00Z"])
    out, err = capsys.readouterr()
    assert code == 0
    check_document(json.loads(out), calls=4)  # hunter + BTC, ETH, SOL news
    assert API_KEY not in out + err


@pytest.mark.slow
def test_run_once_json_as_a_subprocess(llm_env: FakeOpenAI, script: Script, tmp_path: Path) -> None:
    newsy(script)
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    assert env["OPENROUTER_API_KEY"] == API_KEY and env["SEXTANT_LLM__BASE_URL"] == llm_env.base_url
    proc = subprocess.run(
        [
            str(SEXTANT),
            "-v",
            "run",
            "--once",
            "--json",
            "--symbols",
            "BTC,ETH",
            "--as-of",
            "2026-05-16T11:00Z",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    check_document(json.loads(proc.stdout), calls=4)
    assert API_KEY not in proc.stdout + proc.stderr  # debug logging included
    assert llm_env.calls == 4


def test_offline_document_has_a_zero_llm_block(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--once", "--json", "--symbols", "BTC"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["llm"] == {
        "calls": 0,
        "cached": 0,
        "tokens_in": 0,
        "tokens_out": 0,
        "cost_usd": 0.0,
        "reasons": [],
    }
    assert doc["signals"][0]["components"]["news"] is None
    assert main(["run", "--once", "--symbols", "BTC"]) == 0
    assert "llm:" not in capsys.readouterr().out  # the table is unchanged offline


def test_table_shows_the_llm_line(
    llm_env: FakeOpenAI, script: Script, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--once", "--symbols", "BTC"]) == 0
    assert "llm: 2 calls, 0 cached" in capsys.readouterr().out


def test_prompt_show_needs_no_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompt", "show", "news"]) == 0
    out = capsys.readouterr().out
    assert "variables base, symbol, as_of, window_start, window_days" in out
    assert "hash      " in out and "[system]" in out


def test_prompt_run_needs_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompt", "run", "news"]) == 2
    assert "OPENROUTER_API_KEY" in capsys.readouterr().err


def test_prompt_run_news_prints_raw_and_parsed(
    llm_env: FakeOpenAI, script: Script, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = (
        "Here is what I found:\n```json\n"
        + json.dumps({"events": [event("ETH staking ETF filed", 3, 1.2)]})
        + "\n```"
    )
    script.news = {"ETH": text(raw)}
    code = main(["prompt", "run", "news", "--symbol", "eth", "--as-of", "2026-05-16T11:00Z"])
    out = capsys.readouterr().out
    assert code == 0
    assert "--- raw answer ---\nHere is what I found:" in out
    assert '"title": "ETH staking ETF filed"' in out  # the parsed answer
    assert "score +0." in out and "ETH staking ETF filed" in out
    code = main(
        ["prompt", "run", "news", "--symbol", "ETH", "--json", "--as-of", "2026-05-16T11:00Z"]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["symbol"] == ETH and doc["status"] == "ok"
    assert doc["raw"] == raw and doc["parsed"]["events"][0]["impact"] == 1.2
    assert doc["result"]["score"] == pytest.approx(1.2 * 0.5 ** (3 / 24) / 4, abs=1e-6)
    assert doc["llm"]["calls"] == 1


def test_prompt_run_hunter_with_a_prompt_file(
    llm_env: FakeOpenAI, script: Script, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    draft = tmp_path / "hunter_v2.md"
    draft.write_text(
        "[system]\nYou are the Coin Hunter, v2.\n[user]\nAt {{as_of}} pick {{max_symbols}}.\n"
    )
    script.hunter = {"tickers": ["SOL", "FAKE"]}
    code = main(
        [
            "prompt",
            "run",
            "hunter",
            "--prompt-file",
            str(draft),
            "--symbols",
            "BTC",
            "--as-of",
            "2026-05-16T11:00Z",
            "--json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["prompt"]["source"] == str(draft)
    assert [c["symbol"] for c in doc["result"]["candidates"]] == ["SOL/USDT:USDT"]
    assert [r["code"] for r in doc["result"]["reasons"]] == ["not_listed"]
    assert llm_env.last_messages[1]["content"].startswith("At 2026-05-16T11:00:00Z pick 5")


def test_prompt_run_reports_an_unusable_answer(
    llm_env: FakeOpenAI, script: Script, capsys: pytest.CaptureFixture[str]
) -> None:
    script.news = {"BTC": [text("nothing"), text("still nothing")]}
    assert main(["prompt", "run", "news", "--symbol", "BTC"]) == 1
    out = capsys.readouterr().out
    assert "status  invalid" in out and "llm_invalid_answer" in out


def test_prompt_replay_compares_old_and_new_over_taped_inputs(
    llm_env: FakeOpenAI, script: Script, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script.news = {"BTC": {"events": [event("BTC old-prompt view", 2, 1.0)]}}
    assert (
        main(["run", "--once", "--json", "--symbols", "BTC", "--as-of", "2026-05-16T11:00Z"]) == 0
    )
    capsys.readouterr()
    draft = tmp_path / "news_v2.md"
    draft.write_text(
        "[system]\nYou are the News Analyst, stricter.\n[user]\nCoin: {{base}} "
        "({{symbol}}), news from {{window_start}} to {{as_of}}.\n"
    )
    script.news = {"BTC": {"events": [event("BTC new-prompt view", 2, -1.0)]}}
    before = llm_env.calls
    code = main(["prompt", "replay", "news", "--prompt-file", str(draft)])
    out = capsys.readouterr().out
    assert code == 0 and llm_env.calls == before + 1
    header = next(line for line in out.splitlines() if line.startswith("OLD "))
    assert "| NEW " in header
    row = next(line for line in out.splitlines() if "BTC old-prompt view" in line)
    assert "BTC new-prompt view" in row  # side by side on one line
    assert "BTC/USDT:USDT @ 2026-05-16T11:00:00Z" in out
    # The recorded inputs were reused, not recomputed.
    sent = llm_env.last_messages[-1]["content"]
    assert sent == (
        "Coin: BTC (BTC/USDT:USDT), news from 2026-05-09T11:00:00Z to 2026-05-16T11:00:00Z."
    )
    code = main(["prompt", "replay", "news", "--prompt-file", str(draft), "--json"])
    doc = json.loads(capsys.readouterr().out)
    (r,) = doc["rows"]
    assert r["old"]["score"] > 0 > r["new"]["score"]
    assert r["old"]["prompt_hash"] != r["new"]["prompt_hash"] == doc["prompt"]["hash"]
    # Replays are taped as such and never replayed themselves.
    assert main(["prompt", "replay", "news", "--prompt-file", str(draft), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["rows"]) == 1
    assert AS_OF.isoformat()[:10] in r["as_of"]


def test_prompt_replay_with_an_empty_tape(
    llm_env: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    draft = tmp_path / "n.md"
    draft.write_text("[user]\n{{symbol}}\n")
    assert main(["prompt", "replay", "news", "--prompt-file", str(draft)]) == 1
    assert "no recorded news answers" in capsys.readouterr().err


RUN_BTC = ["run", "--once", "--json", "--symbols", "BTC", "--as-of", "2026-05-16T11:00Z"]
EDGE_DATES = {
    "events": [
        event("BTC ETF inflows", 2, 1.5),
        {"title": "Genesis", "published_at": "0001-01-01T00:00:00+05:00", "impact": 1},
        {"title": "The end", "published_at": "9999-12-31T23:30:00-05:00", "impact": -2},
    ],
    "key_events": [{"title": "far", "date": "0001-01-01T00:00:00+05:00"}],
}


def test_event_dates_near_year_1_or_9999_cost_those_events_only(
    llm_env: FakeOpenAI, script: Script, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Such a date overflowed in UTC: the cycle exited 1, and the answer (cached, taped "ok"
    # before its events were checked) failed again from the cache for the next hour.
    script.news = {"BTC": EDGE_DATES}
    assert main(RUN_BTC) == 0
    first = json.loads(capsys.readouterr().out)
    (sig,) = first["signals"]
    assert sig["components"]["news"] == pytest.approx(1.5 * 0.5 ** (2 / 24) / 4, abs=1e-6)
    dropped = [r for r in first["llm"]["reasons"] if r["code"] == "news_event_invalid"]
    assert [r["data"]["index"] for r in dropped] == [1, 2] and first["errors"] == []
    calls = llm_env.calls

    assert main(RUN_BTC) == 0  # within the hour: the cached answer, scored again
    second = json.loads(capsys.readouterr().out)
    assert llm_env.calls == calls and second["llm"]["cached"] >= 1
    assert second["signals"][0]["components"]["news"] == sig["components"]["news"]

    # `prompt replay` and the backtest read the same taped answer.
    draft = tmp_path / "news_v2.md"
    draft.write_text("[system]\nYou are the News Analyst.\n[user]\nCoin: {{base}} {{as_of}}\n")
    assert main(["prompt", "replay", "news", "--prompt-file", str(draft), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert row["old"]["score"] == row["new"]["score"] == pytest.approx(sig["components"]["news"])

    from backtest.news import TapeNews
    from sextant.config import load_settings
    from tools.llm.tape import Tape

    settings = load_settings()
    tape = Tape(settings.state_dir)
    (entry,) = tape.entries("news", symbol=BTC)
    tape.close()
    replayed = TapeNews({BTC: [(AS_OF, entry.parsed)]}, settings).answer(BTC, AS_OF, None)
    assert replayed is not None and [e.title for e in replayed.events] == ["BTC ETF inflows"]
    assert [r.code for r in replayed.reasons].count("news_event_invalid") == 2


def test_unprintable_model_text_never_reaches_the_output(
    llm_env: FakeOpenAI, script: Script, capsys: pytest.CaptureFixture[str]
) -> None:
    # A lone surrogate in a title crashed printing and failed the SQLite insert of the entry
    # post; ESC sequences reached the terminal; bidi overrides and NULs garbled what one reads.
    title = "\ud800 ETH bridge\x1b[2J hacked\u202e\x00 again"
    script.hunter = {"tickers": [{"ticker": "SOL", "rationale": "\x1b]0;pwned\x07breakout\ud800"}]}
    script.news = {
        "ETH": {
            "events": [
                event(title, 1, -2, critical=True, category="hack\x1b", source="\ud83dnews\x9b")
            ],
            "key_events": [{"title": "unlock\x1b[31m \ud800soon", "date": "2026-06-01"}],
        }
    }
    run = ["run", "--once", "--symbols", "ETH", "--as-of", "2026-05-16T11:00Z"]
    assert main(run) == 0  # the table, and the entry post printed by the console broadcaster
    table = capsys.readouterr()
    assert main([*run, "--json"]) == 0
    doc = capsys.readouterr()
    for printed in (table.out, table.err, doc.out, doc.err):
        printed.encode("utf-8")  # no lone surrogate anywhere
        assert not any(ch in printed for ch in "\x1b\x00\x07\x9b\u202e")
    assert "SHORT ETH/USDT" in table.err and "📰 ETH bridge[2J hacked again" in table.err

    from agents.coin_hunter import hunt
    from agents.news_analyst import analyse_news
    from runtime.services import build_services
    from sextant.config import load_settings
    from tools.llm.prompts import load_prompt

    async def agents() -> tuple[Any, Any]:
        services = build_services(load_settings())  # the cached answers of the runs above
        try:
            news = await analyse_news(
                services,
                symbol=ETH,
                as_of=AS_OF,
                volatility_ratio=None,
                prompt=load_prompt("news_analyst"),
            )
            hunted = await hunt(
                services, as_of=AS_OF, watchlist=[ETH], prompt=load_prompt("coin_hunter")
            )
            return news, hunted
        finally:
            await services.aclose()

    calls = llm_env.calls
    news, hunted = asyncio.run(agents())
    assert llm_env.calls == calls and news.assessment.cached
    (ev,) = news.assessment.events
    assert (ev.title, ev.category, ev.source) == ("ETH bridge[2J hacked again", "hack", "news")
    assert [k.title for k in news.assessment.key_events] == ["unlock[31m soon"]
    assert [c["rationale"] for c in hunted.candidates] == ["]0;pwnedbreakout"]
