"""Review fixes: secrets never logged, bad config is exit 2, one symbol's failure is its own."""

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

import sextant.risk.manager as risk_node
from cli.main import main
from graph.context import Context, services_of
from runtime.cycle import run_cycle
from runtime.services import build_services
from sextant.config import load_settings
from sextant.logs import RedactingFormatter, register_secrets

AS_OF = datetime(2026, 5, 16, 11, tzinfo=UTC)


def test_log_lines_never_carry_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "123456:SECRET-TOKEN-value"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", token)
    load_settings()  # registers the keys it read
    register_secrets(["sk-or-v1-abcdef123456"])
    fmt = RedactingFormatter("%(name)s: %(message)s")
    try:
        raise RuntimeError("POST https://api.telegram.org/bot" + token + "/sendMessage failed")
    except RuntimeError:
        import sys

        record = logging.LogRecord(
            "telegram.ext.ExtBot", logging.DEBUG, __file__, 1,
            "Set Bot API URL: http://x/bot%s and key %s", (token, "sk-or-v1-abcdef123456"),
            sys.exc_info(),
        )
    out = fmt.format(record)
    assert token not in out and "sk-or-v1-abcdef123456" not in out
    assert "123456%3ASECRET" not in out  # the URL-encoded form too
    assert out.count("***") >= 3


def test_verbose_cli_run_prints_no_key(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-should-not-appear-0001")
    monkeypatch.setenv("SEXTANT_LLM__ENABLED", "false")
    assert main(["-v", "run", "--once", "--json", "--symbols", "BTC"]) == 0
    captured = capsys.readouterr()
    assert "sk-or-v1-should-not-appear-0001" not in captured.out + captured.err


@pytest.mark.parametrize(
    ("text", "message"),
    [("equty = 5\n", "unknown setting(s) equty"), ("equity = [\n", "not valid TOML")],
)
def test_bad_config_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 text: str, message: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    assert main(["run", "--once", "--config", str(cfg)]) == 2
    assert message in capsys.readouterr().err


def test_unparsable_complex_variable_exits_2(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SEXTANT_LLM__PRICES", "{bad")
    assert main(["run", "--once"]) == 2
    assert "invalid configuration" in capsys.readouterr().err


def test_unknown_symbols_without_as_of_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--once", "--symbols", "FOO"]) == 2
    assert "FOO/USDT:USDT" in capsys.readouterr().err


def test_graph_without_as_of_and_no_data_completes() -> None:
    # Studio-style input: no as_of and only unknown symbols. The cycle still completes.
    from graph.graph import build_graph

    services = build_services(load_settings())
    state = asyncio.run(build_graph().compile().ainvoke(
        {"symbols": ["FOO/USDT:USDT"]}, context=Context(services=services)))
    assert state["signals"] == []
    assert state["universe"]["FOO/USDT:USDT"].reasons[0].code == "not_listed"


def test_a_risk_failure_is_that_symbols_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = risk_node.evaluate_symbol

    def broken(inputs, **kw):  # type: ignore[no-untyped-def]
        if inputs.snapshot.symbol == "ETH/USDT:USDT":
            raise ZeroDivisionError("bad funding interval")
        return real(inputs, **kw)

    monkeypatch.setattr(risk_node, "evaluate_symbol", broken)
    services = build_services(load_settings())
    state, _ = asyncio.run(run_cycle(services, as_of=AS_OF,
                                     symbols=["BTC/USDT:USDT", "ETH/USDT:USDT"]))
    assert [s.symbol for s in state["signals"]] == ["BTC/USDT:USDT"]
    assert [(e.symbol, e.stage) for e in state["errors"]] == [("ETH/USDT:USDT", "risk")]


def test_truncated_gzip_is_a_data_error(data_copy: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = data_copy / "futures" / "DOT_USDT-1h.csv.gz"
    path.write_bytes(path.read_bytes()[:2000])  # cut mid-stream: EOFError inside gzip
    monkeypatch.setenv("SEXTANT_MARKET__DATA_DIR", str(data_copy))
    import json

    assert main(["run", "--once", "--json", "--no-trade", "--symbols", "BTC,DOT"]) == 0
    doc = json.loads(capsys.readouterr().out)
    dot = next(u for u in doc["universe"] if u["symbol"] == "DOT/USDT:USDT")
    assert dot["reasons"][0]["code"] == "data_error"


def test_parallel_branches_share_one_set_of_services() -> None:
    import threading

    settings = load_settings()
    contexts = [Context(settings=settings) for _ in range(8)]
    got: list[object] = []
    threads = [threading.Thread(target=lambda c=c: got.append(services_of(c))) for c in contexts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in got}) == 1
