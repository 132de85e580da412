"""One exit-code table for every command, errors as one line (and one JSON document with
--json), dates and spans checked before anything is read or sent (issue 9.4, 15.2, 15.3)."""

import json
import logging
import re
from pathlib import Path

import pandas as pd
import pytest

from cli.common import EXIT_CODES
from cli.main import build_parser, main
from sextant.config.market import BUNDLED_DATA_DIR
from tests.fakes.bybit_v5 import FakeBybit, load_bundled_frames

README = Path(__file__).resolve().parents[1] / "README.md"


def one_line(err: str) -> str:
    """The stderr of a refusal: exactly one line, `sextant: ...`, no traceback."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("sextant: ") and "Traceback" not in err
    return lines[0]


def test_the_table_is_in_help_and_readme(capsys: pytest.CaptureFixture[str]) -> None:
    assert {code for code, _ in EXIT_CODES} == {0, 1, 2, 3, 130}
    help_text = build_parser().format_help()
    flat = " ".join(help_text.split())
    readme = README.read_text()
    for code, text in EXIT_CODES:
        assert f"{code} {' '.join(text.split())}" in flat, code
        assert f"| {code} | {text} |" in readme, code
    assert "--debug-libs" in help_text and "-vv" in help_text


def test_usage_errors_exit_2_and_json_errors_are_one_document(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--once", "--bogus"]) == 2
    captured = capsys.readouterr()
    assert "sextant: unrecognized arguments: --bogus" in captured.err and captured.out == ""
    assert captured.err.startswith("usage: sextant")
    assert main(["data", "download", "--since", "2025-01-01"]) == 2
    assert "sextant: data download: the following arguments are required: --symbols" in (
        capsys.readouterr().err
    )

    assert main(["run", "--once", "--json", "--bogus"]) == 2
    doc = json.loads(capsys.readouterr().out)  # the whole of stdout is one document
    assert doc == {
        "schema": "sextant.error/1",
        "code": 2,
        "message": "unrecognized arguments: --bogus",
        "field": None,
    }

    assert main(["run", "--once", "--json", "--as-of", "yesterday"]) == 2
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["schema"] == "sextant.error/1" and doc["code"] == 2
    assert doc["field"] == "--as-of" and doc["message"] in one_line(captured.err)


def test_unknown_symbol_is_2_for_run_and_backtest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--once", "--symbols", "FOO"]) == 2
    assert "FOO/USDT:USDT" in one_line(capsys.readouterr().err)
    assert main(["backtest", "--from", "2025-01-01", "--symbols", "FOO", "--quiet"]) == 2
    assert "FOO/USDT:USDT" in one_line(capsys.readouterr().err)
    assert main(["backtest", "--from", "2025-01-01", "--symbols", "FOO", "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["code"] == 2 and doc["field"] == "--symbols"


def test_reversed_backtest_dates_exit_2_before_reading_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a data folder that would fail if read: the dates are refused first
    assert main(["backtest", "--from", "2025-01-01", "--to", "2024-01-01",
                 "--data-dir", str(tmp_path / "absent"), "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["field"] == "--to" and "not after --from" in doc["message"]


def test_a_span_with_no_data_is_one_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--from", "2019-01-01", "--to", "2019-06-01", "--quiet"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.count("no candles before") == 1  # once, not once per symbol
    assert "BTC" in line and "DOT" in line
    assert main(["backtest", "--from", "2019-01-01", "--to", "2019-06-01", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["field"] == "--from"
    # after the end of the data (no --to: the end of the data is before --from)
    assert main(["backtest", "--from", "2027-01-01", "--quiet"]) == 2
    assert "empty span" in one_line(capsys.readouterr().err)


def test_a_span_before_the_data_is_clamped_with_every_figure_over_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the bundled BTC and ETH start 2024-09-01: asking from 2024-06-01 backtests from there
    args = ["--to", "2024-09-20", "--symbols", "BTC,ETH", "--json", "--quiet", "--llm", "off"]
    assert main(["backtest", "--from", "2024-06-01", *args]) == 0
    captured = capsys.readouterr()
    clamped = json.loads(captured.out)
    first = captured.err.splitlines()[0]
    assert first.startswith("sextant: WARNING: --from 2024-06-01 00:00 is before the data")
    assert clamped["from"] == "2024-09-01T00:00:00Z"
    assert clamped["span_warnings"] == [first.removeprefix("sextant: WARNING: ")]

    assert main(["backtest", "--from", "2024-09-01", *args]) == 0
    direct = json.loads(capsys.readouterr().out)
    assert direct["span_warnings"] == []
    # every figure, buy-and-hold included, is the one of the span that has data
    assert clamped["metrics"] == direct["metrics"]
    assert clamped["equity"] == direct["equity"]
    bh = clamped["metrics"]["buy_and_hold_btc"]
    btc = pd.read_csv(BUNDLED_DATA_DIR / "futures" / "BTC_USDT-1h.csv.gz")
    assert bh["start_price"] == pytest.approx(float(btc["close"].iloc[0]))

    assert main(["backtest", "--from", "2024-06-01", *(a for a in args if a != "--json")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].startswith("  WARNING: --from 2024-06-01 00:00 is before the data")


def test_as_of_without_fresh_data_says_so_and_posts_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for extra in ([], ["--no-trade"]):
        assert main(["run", "--once", "--as-of", "2027-01-01T00:00Z", *extra]) == 2
        captured = capsys.readouterr()
        line = one_line(captured.err)
        assert "--as-of 2027-01-01T00:00:00Z: no fresh data" in line
        assert "Market Pulse" not in captured.out and captured.out == ""
    assert main(["run", "--once", "--as-of", "2020-01-01T00:00Z", "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["field"] == "--as-of" and "no bar had closed" in doc["message"]


def test_missing_data_dir_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-data"
    monkeypatch.setenv("SEXTANT_MARKET__DATA_DIR", str(missing))
    for argv in (["run", "--once"], ["run", "--once", "--no-trade"],
                 ["backtest", "--from", "2025-01-01", "--quiet"],
                 ["loop", "--replay-from", "2025-01-01T00:00Z", "--quiet"]):
        assert main(argv) == 2, argv
        line = one_line(capsys.readouterr().err)
        assert line == (
            f"sextant: market.data_dir (env SEXTANT_MARKET__DATA_DIR): {missing} does not exist"
        ), argv


def test_verbose_before_or_after_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["-v", "run", "--once", "--symbols", "BTC"],
                 ["run", "--once", "--symbols", "BTC", "-v"]):
        assert main([*argv, "--json"]) == 0, argv
        assert logging.getLogger().level == logging.DEBUG
        assert json.loads(capsys.readouterr().out)["schema"] == "sextant.cycle/1"
    assert main(["run", "--once", "--symbols", "BTC", "--json"]) == 0
    assert logging.getLogger().level == logging.WARNING
    capsys.readouterr()


# -- data download: the dates are checked before the exchange is asked --


@pytest.fixture
def bybit(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    frames = load_bundled_frames(BUNDLED_DATA_DIR, ["BTC/USDT:USDT"], "2025-10-01", "2025-10-03")
    with FakeBybit(candles=frames.candles, funding=frames.funding,
                   now_ms=pd.Timestamp("2025-10-03T00:30Z")) as server:
        monkeypatch.setenv("SEXTANT_MARKET__BASE_URL", server.base_url)
        yield server


@pytest.mark.parametrize(
    ("dates", "field"),
    [
        (["--since", "2025-01-01", "--until", "2024-01-01"], "--until"),
        (["--since", "2025-01-01", "--until", "2025-01-01"], "--until"),
        (["--since", "3025-01-01"], "--since"),
        (["--since", "soon"], "--since"),
    ],
)
def test_download_dates_are_refused_without_a_request(
    bybit: FakeBybit, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    dates: list[str], field: str,
) -> None:
    code = main(["data", "download", "--symbols", "BTC", *dates,
                 "--data-dir", str(tmp_path / "out")])
    assert code == 2
    line = one_line(capsys.readouterr().err)
    assert re.match(rf"sextant: {field}: ", line), line
    assert bybit.requests == []  # not one request
    assert not (tmp_path / "out").exists()
