"""`sextant backtest`: the JSON contract, byte-identical repeats, the report folder, Ctrl-C,
and the LLM flags."""

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from backtest.report import TRADE_FIELDS
from cli.main import main

SPAN = ["--from", "2025-11-20", "--to", "2025-12-04"]
EXE = Path(sys.executable).parent / "sextant"
METRICS = {
    "total_return_pct", "cagr_pct", "sharpe", "sortino", "calmar", "max_drawdown_pct",
    "max_drawdown_duration_hours", "profit_factor", "win_rate_pct", "expectancy_r",
    "avg_holding_hours", "exposure_pct", "trades", "fees_paid", "funding_paid", "per_symbol",
    "exit_reasons", "buy_and_hold_btc",
}


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code = main(["backtest", *SPAN, "--json", "--quiet", *args])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


@pytest.fixture(scope="module")
def doc_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One run through the console script (its own process, its own hash seed)."""
    return _subprocess_json(tmp_path_factory.mktemp("a"), "1")


def _subprocess_json(cwd: Path, hash_seed: str) -> str:
    env = {
        "PATH": "/usr/bin:/bin",
        "SEXTANT_STATE_DIR": str(cwd / "s"),
        "PYTHONHASHSEED": hash_seed,
    }
    proc = subprocess.run(
        [str(EXE), "backtest", *SPAN, "--json"],
        capture_output=True, text=True, timeout=120, cwd=cwd, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "backtest [" in proc.stderr  # the progress bar went to stderr
    return proc.stdout


def test_json_contract(doc_text: str) -> None:
    doc = json.loads(doc_text)
    assert doc["schema"] == "sextant.backtest/1"
    assert doc["interrupted"] is False
    assert set(doc["metrics"]) >= METRICS
    assert doc["trades"], "the span has trades"
    for t in doc["trades"]:
        assert tuple(t) == TRADE_FIELDS  # exactly these keys, in this order
        assert t["exit_reason"] in {"tp1", "tp2", "stop_loss", "breakeven_stop", "trailing_stop",
                                    "stale_exit", "news_panic", "liquidation", "circuit_breaker"}
    assert doc["equity"][0] == ["2025-11-20T00:00:00Z", 10000.0]
    assert doc["equity"][-1][0] == "2025-12-04T00:00:00Z"
    assert all(len(point) == 2 for point in doc["equity"])
    assert len(doc["equity"]) == 14 * 24 + 1
    # No LLM key and no tape: the report says news was unavailable.
    assert doc["news"]["source"] == "unavailable"
    assert "news unavailable" in doc["news"]["note"]
    bh = doc["metrics"]["buy_and_hold_btc"]
    assert bh["available"] and bh["symbol"] == "BTC/USDT:USDT"
    assert {r["symbol"] for r in doc["metrics"]["per_symbol"]} == set(doc["symbols"])
    m = doc["metrics"]
    assert m["trades"] == sum(r["trades"] for r in m["per_symbol"])
    assert sum(r["fills"] for r in m["exit_reasons"]) == len(doc["trades"])


def test_same_inputs_give_byte_identical_json(
    doc_text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    again = _subprocess_json(tmp_path, "12345")  # another process, another hash seed
    assert again == doc_text
    # and in-process, through main()
    code = main(["backtest", *SPAN, "--json", "--quiet"])
    assert code == 0
    assert capsys.readouterr().out == doc_text


def test_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", *SPAN, "--symbols", "BTC,ETH", "--quiet"]) == 0
    out = capsys.readouterr().out
    for text in ("total return", "buy-and-hold BTC", "Sharpe", "max drawdown", "EXIT REASON",
                 "BTC/USDT:USDT", "news unavailable"):
        assert text in out


def test_report_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "report"
    doc = run_json(capsys, "--symbols", "BTC,ETH,XRP,DOGE", "--report", str(folder))
    with (folder / "trades.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == TRADE_FIELDS if rows else True
    assert len(rows) == len(doc["trades"])
    assert (folder / "equity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (folder / "report.html").read_text()
    assert "data:image/png;base64," in page  # the chart is inside the page
    assert "http://" not in page and "https://" not in page  # nothing to fetch: self-contained
    assert "Buy-and-hold BTC" in page and "Exit reasons" in page
    assert json.loads((folder / "backtest.json").read_text()) == doc


def test_llm_live_is_refused_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", *SPAN, "--llm", "live", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "may know what happened next" in err


def test_llm_off(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "--symbols", "BTC", "--llm", "off")
    assert doc["news"]["source"] == "unavailable" and "--llm off" in doc["news"]["note"]


def test_bad_span_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--from", "2025-12-04", "--to", "2025-11-20", "--quiet"]) == 2
    assert "empty span" in capsys.readouterr().err
    assert main(["backtest", "--from", "yesterday"]) == 2


def test_ctrl_c_stops_cleanly_with_partial_results(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "SEXTANT_STATE_DIR": str(tmp_path / "s")}
    proc = subprocess.Popen(
        [str(EXE), "backtest", "--from", "2025-06-01", "--to", "2026-05-17", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # the first progress line: the walk is under way
        if line.startswith("backtest ["):
            break
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    doc = json.loads(out)
    assert doc["interrupted"] is True
    assert doc["warnings"][0].startswith("interrupted")
    assert 1 < len(doc["equity"]) < 8400
    assert doc["to"] == doc["equity"][-1][0]
