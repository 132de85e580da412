"""`sextant run --once` end to end on the bundled data: the JSON contract and the table."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main

SIGNAL_KEYS = {
    "symbol",
    "decision",
    "score",
    "confidence",
    "regime",
    "news_regime",
    "components",
    "weights",
    "timeframes",
    "reasons",
    "entry",
    "stop_loss",
    "take_profit_1",
    "take_profit_2",
    "leverage",
    "risk_pct",
    "quantity",
}
PRICE_KEYS = ("entry", "stop_loss", "take_profit_1", "take_profit_2", "leverage", "quantity")


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code = main(["run", "--once", "--json", *args])
    out = capsys.readouterr().out
    assert code == 0
    return json.loads(out)


def test_json_contract_on_bundled_data(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys)
    assert doc["schema"] == "sextant.cycle/1"
    assert doc["mode"] == "dry_run" and doc["market"] == "replay"
    assert doc["equity"] == 10000.0
    # Default as_of: the last hour that every bundled symbol has (SOL ends 2026-05-16 10:00).
    assert doc["as_of"] == "2026-05-16T11:00:00Z"
    assert doc["cycle_id"] == "c-20260516T1100Z"
    assert len(doc["universe"]) == 10
    for u in doc["universe"]:
        assert set(u) >= {"symbol", "source", "eligible", "reasons"}
        assert u["eligible"] == (u["reasons"] == [])
    assert len(doc["signals"]) == sum(u["eligible"] for u in doc["universe"])
    for s in doc["signals"]:
        assert set(s) >= SIGNAL_KEYS
        assert set(s["components"]) == {"trend", "momentum", "volume", "open_interest", "news"}
        assert set(s["weights"]) == set(s["components"])
        assert set(s["timeframes"]) == {"1h", "4h", "1d"}
        assert -1 <= s["score"] <= 1
        # No LLM key: news is unavailable and its weight went to the others.
        assert s["components"]["news"] is None and s["weights"]["news"] == 0
        assert abs(sum(s["weights"].values()) - 1) < 1e-5
        if s["decision"] == "WAIT":
            assert all(s[k] is None for k in PRICE_KEYS)
            assert any(r["kind"] in ("wait", "veto", "skip") for r in s["reasons"])
        else:
            assert all(s[k] is not None for k in PRICE_KEYS)
            assert 1 <= s["leverage"] <= 10
    assert set(doc["timings_ms"]) >= {"collect", "math", "risk", "total"}
    # At least one real decision on this data (ETH's May 2026 downtrend): not all WAIT.
    assert any(s["decision"] != "WAIT" for s in doc["signals"])


def test_table_output_is_readable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--once", "--symbols", "BTC,ETH"]) == 0
    out = capsys.readouterr().out
    assert "SYMBOL" in out and "DECISION" in out
    assert "BTC/USDT:USDT" in out and "ETH/USDT:USDT" in out
    assert "Assumed" in out


def test_symbols_and_as_of_flags(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "--symbols", "btc,SOLUSDT", "--as-of", "2025-03-10T12:00:00Z")
    assert doc["as_of"] == "2025-03-10T12:00:00Z"
    assert [u["symbol"] for u in doc["universe"]] == ["BTC/USDT:USDT", "SOL/USDT:USDT"]


def test_unknown_symbol_is_skipped_with_reason_and_cycle_completes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    doc = run_json(capsys, "--symbols", "BTC,NOPE")
    nope = next(u for u in doc["universe"] if u["symbol"] == "NOPE/USDT:USDT")
    assert not nope["eligible"]
    assert nope["reasons"][0]["code"] == "not_listed"
    assert any(e["symbol"] == "NOPE/USDT:USDT" and e["stage"] == "collect" for e in doc["errors"])
    assert [s["symbol"] for s in doc["signals"]] == ["BTC/USDT:USDT"]


def test_as_of_before_data_is_refused_naming_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # issue 15.2: an --as-of the data does not cover says so (exit 2), no empty cycle
    code = main(["run", "--once", "--json", "--symbols", "LINK", "--as-of", "2024-01-01T00:00Z"])
    assert code == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "sextant.error/1" and doc["field"] == "--as-of"
    assert "no fresh data" in doc["message"] and "no bar had closed" in doc["message"]


def test_corrupt_file_is_a_data_error_for_that_symbol_only(
    capsys: pytest.CaptureFixture[str], data_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (data_copy / "futures" / "DOT_USDT-1h.csv.gz").write_bytes(b"not gzip at all")
    monkeypatch.setenv("SEXTANT_MARKET__DATA_DIR", str(data_copy))
    doc = run_json(capsys, "--symbols", "BTC,DOT")
    dot = next(u for u in doc["universe"] if u["symbol"] == "DOT/USDT:USDT")
    assert not dot["eligible"] and dot["reasons"][0]["code"] == "data_error"
    assert [s["symbol"] for s in doc["signals"]] == ["BTC/USDT:USDT"]


def test_invalid_setting_exits_2_naming_the_field(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEXTANT_FILTERS__MAX_SPREAD_PCT", "-1")
    assert main(["run", "--once", "--json"]) == 2
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # --json: the error is one sextant.error/1 document
    assert doc["schema"] == "sextant.error/1" and doc["code"] == 2
    assert "filters.max_spread_pct" in doc["message"]
    assert "filters.max_spread_pct" in captured.err
    assert "SEXTANT_FILTERS__MAX_SPREAD_PCT" in captured.err


def test_bad_as_of_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--once", "--as-of", "yesterday"]) == 2
    assert "--as-of" in capsys.readouterr().err


def test_console_script_stdout_is_exactly_one_json_document(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "sextant"
    proc = subprocess.run(
        [str(exe), "run", "--once", "--json", "--symbols", "BTC,ETH"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "SEXTANT_STATE_DIR": str(tmp_path / "s")},
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # raises if anything else reached stdout
    assert doc["schema"] == "sextant.cycle/1"
