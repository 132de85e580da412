"""LangSmith tracing is opt-in and never sends a byte without a key.

With LANGSMITH_TRACING=true and no key, tracing is forced off (one warning) and a whole cycle
makes no connection outside loopback (the suite's socket guard, tests/netguard, records every
attempt; without the switch-off LangSmith looks up api.smith.langchain.com). With a key and
LANGSMITH_ENDPOINT at a local fake, the cycle's traces arrive there (in a child process, guarded
too, so no LangSmith client outlives the test), and they hold no secret.
"""

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cli.main import main
from sextant.tracing import configure_tracing

CYCLE = ["run", "--once", "--symbols", "BTC", "--as-of", "2025-04-07T15:00Z"]


def test_tracing_without_a_key_is_switched_off(caplog: pytest.LogCaptureFixture) -> None:
    env = {"LANGSMITH_TRACING": "true", "LANGCHAIN_TRACING_V2": "True"}
    with caplog.at_level(logging.WARNING, logger="sextant.tracing"):
        assert configure_tracing(env, dotenv=None) is False
    assert env == {"LANGSMITH_TRACING": "false", "LANGCHAIN_TRACING_V2": "false"}
    assert "LANGSMITH_API_KEY is not" in caplog.text


def test_tracing_with_a_key_is_on_and_off_by_default(tmp_path: Path) -> None:
    assert configure_tracing({}, dotenv=None) is False  # nothing set: off
    env = {"LANGSMITH_TRACING": "True", "LANGSMITH_API_KEY": "lsv2-key"}
    assert configure_tracing(env, dotenv=None) is True
    assert env["LANGSMITH_TRACING"] == "true"  # the spelling langsmith itself accepts
    assert configure_tracing({"LANGSMITH_API_KEY": "lsv2-key"}, dotenv=None) is False
    # .env is read like for every other key, the environment winning
    dotenv = tmp_path / ".env"
    dotenv.write_text("LANGSMITH_TRACING=true\nLANGSMITH_API_KEY=from-file\n"
                      "LANGSMITH_PROJECT=sextant\nOTHER=x\n")
    env = {"LANGSMITH_API_KEY": "from-env"}
    assert configure_tracing(env, dotenv=dotenv) is True
    assert env == {"LANGSMITH_API_KEY": "from-env", "LANGSMITH_TRACING": "true",
                   "LANGSMITH_PROJECT": "sextant"}


def guard_records() -> str:
    """What the socket guard (tests/netguard) has recorded so far in this session."""
    return Path(os.environ["PYTEST_NETGUARD_LOG"]).read_text(encoding="utf-8")


def test_no_key_no_connection_outside_loopback(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.setenv("LANGCHAIN_TRACING_V2", "true")
    before = guard_records()
    with caplog.at_level(logging.WARNING, logger="sextant.tracing"):
        assert main(CYCLE) == 0
    from langchain_core.tracers.langchain import wait_for_all_tracers

    wait_for_all_tracers()
    assert guard_records() == before  # not one lookup or connection outside loopback
    assert os.environ["LANGSMITH_TRACING"] == "false"
    assert "tracing is off" in caplog.text
    from langsmith.utils import tracing_is_enabled

    assert not tracing_is_enabled()


class FakeLangSmith:
    """Records what a LangSmith client sends: GET /info, POST /runs/multipart, ..."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                fake.requests.append({
                    "method": self.command, "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": self.rfile.read(n) if n else b"",
                })
                body = b"{}"
                if self.path.startswith("/info"):
                    body = json.dumps({"version": "0.0.0-fake", "instance_flags": {}}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeLangSmith":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_langsmith() -> Iterator[FakeLangSmith]:
    with FakeLangSmith() as fake:
        yield fake


def test_with_a_key_traces_go_to_the_configured_endpoint(fake_langsmith: FakeLangSmith) -> None:
    env = dict(os.environ)  # with PYTHONPATH: the child process is guarded too
    env.update({
        "LANGSMITH_TRACING": "true",
        "LANGSMITH_API_KEY": "lsv2-test-key-123456",
        "LANGSMITH_ENDPOINT": fake_langsmith.url,
        "LANGSMITH_PROJECT": "sextant-test",
        # secrets a trace must never carry
        "BYBIT_API_KEY": "bybit-key-must-not-leak",
        "BYBIT_API_SECRET": "bybit-secret-must-not-leak",
    })
    before = guard_records()
    proc = subprocess.run([sys.executable, "-m", "cli", *CYCLE], cwd=os.getcwd(), env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert guard_records() == before  # loopback only: the fake
    runs = [r for r in fake_langsmith.requests if r["path"].startswith("/runs")]
    assert runs, [r["path"] for r in fake_langsmith.requests]
    assert {r["headers"].get("x-api-key") for r in runs} == {"lsv2-test-key-123456"}
    sent = b"".join(r["body"] for r in runs)
    for node in (b"coin_hunter", b"data_collector", b"risk_manager", b"execution"):
        assert node in sent, node
    assert b"sextant-test" in sent  # the project
    assert b"must-not-leak" not in sent
