"""The execution CLI: `run --once` trades on paper and persists, `status`, `close`, `loop` args."""

import json
import os
from pathlib import Path

import pytest

from cli.main import main

FIRST, LATER = "2025-04-07T15:00:00Z", "2025-04-08T15:00:00Z"
SYMS = "BTC,ETH,SOL,DOGE"
STATUS_KEYS = {"schema", "mode", "equity", "today_pnl", "circuit_breaker", "last_cycle_as_of",
               "positions"}
POSITION_KEYS = {"symbol", "side", "entry", "quantity", "stop_loss", "take_profit_1",
                 "take_profit_2", "leverage", "unrealized_pnl", "opened_at", "tp1_done"}


def run(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> dict:
    assert main(list(args)) == code
    out = capsys.readouterr().out
    return json.loads(out) if "--json" in args else {"text": out}


def test_run_once_opens_paper_positions_that_a_later_run_manages(
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = run(capsys, "run", "--once", "--json", "--symbols", SYMS, "--as-of", FIRST)
    state = Path(os.environ["SEXTANT_STATE_DIR"])
    assert (state / "sextant.db").is_file()
    opened = [p for p in first["positions"] if p["status"] == "open"]
    acted = [s for s in first["signals"] if s["decision"] != "WAIT"]
    assert opened and len(opened) == len(acted)
    assert set(opened[0]) >= POSITION_KEYS
    pid = opened[0]["position_id"]
    kinds = sorted(o["kind"] for o in first["orders"] if o["position_id"] == pid)
    assert kinds == ["entry", "stop", "tp1", "tp2"]
    assert all(e["status"] == "filled" for e in first["executions"])

    again = run(capsys, "run", "--once", "--json", "--symbols", SYMS, "--as-of", FIRST)
    assert [p["position_id"] for p in again["positions"]] == [p["position_id"] for p in opened]
    assert again["orders"] == []  # the repeated hour places nothing

    later = run(capsys, "run", "--once", "--json", "--symbols", SYMS, "--as-of", LATER)
    by_id = {p["position_id"]: p for p in later["positions"]}
    # the first run's positions were managed over the 24 bars in between
    assert {p["position_id"] for p in opened} <= set(by_id)
    closed = [by_id[p["position_id"]] for p in opened
              if by_id[p["position_id"]]["status"] == "closed"]
    assert closed and all(c["exit_reason"] for c in closed)
    assert later["equity"] != 10000.0

    status = run(capsys, "status", "--json")
    assert set(status) >= STATUS_KEYS and status["schema"] == "sextant.status/1"
    assert status["last_cycle_as_of"] == LATER
    assert set(status["circuit_breaker"]) == {"tripped", "until"}
    for p in status["positions"]:
        assert set(p) >= POSITION_KEYS and p["status"] == "open"
    text = run(capsys, "status")["text"]
    assert "equity" in text and "circuit breaker" in text


def test_close_a_symbol_and_all(capsys: pytest.CaptureFixture[str]) -> None:
    first = run(capsys, "run", "--once", "--json", "--symbols", SYMS, "--as-of", FIRST)
    symbols = [p["symbol"] for p in first["positions"] if p["status"] == "open"]
    assert len(symbols) >= 2
    one = run(capsys, "close", symbols[0].split("/")[0], "--json")
    assert [(c["symbol"], c["reason"]) for c in one["closed"]] == [(symbols[0], "manual")]
    run(capsys, "close", symbols[0], code=1)  # nothing open there any more
    rest = run(capsys, "close", "--all", "--json")
    assert sorted(c["symbol"] for c in rest["closed"]) == sorted(symbols[1:])
    assert run(capsys, "status", "--json")["positions"] == []
    assert "nothing to close" in run(capsys, "close", "--all")["text"]
    run(capsys, "close", code=2)


def test_no_trade_records_only(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run(capsys, "run", "--once", "--json", "--no-trade", "--symbols", SYMS, "--as-of", FIRST)
    assert doc["positions"] == [] and doc["orders"] == []
    assert all(e["status"] == "recorded" for e in doc["executions"])


def test_table_shows_the_book(capsys: pytest.CaptureFixture[str]) -> None:
    text = run(capsys, "run", "--once", "--symbols", SYMS, "--as-of", FIRST)["text"]
    assert "Positions:" in text and "open" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--replay-from"),
        (["--replay-from", "2025-04-07T00:00Z", "--speed", "fast"], "--speed"),
        (["--replay-from", "2025-04-07T00:00Z", "--replay-to", "2025-04-06T00:00Z"],
         "--replay-to"),
    ],
)
def test_loop_arguments(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert main(["loop", *args]) == 2
    assert message in capsys.readouterr().err


def test_a_short_replay_through_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["loop", "--replay-from", "2025-04-07T10:00Z", "--replay-to", "2025-04-07T12:00Z",
                 "--symbols", SYMS, "--quiet"]) == 0
    beat = json.loads((Path(os.environ["SEXTANT_STATE_DIR"]) / "heartbeat.json").read_text())
    assert set(beat) >= {"pid", "status", "last_cycle_as_of", "last_cycle_finished_at"}
    assert beat["status"] == "finished" and beat["last_cycle_as_of"] == "2025-04-07T12:00:00Z"
    assert run(capsys, "status", "--json")["last_cycle_as_of"] == "2025-04-07T12:00:00Z"
