"""The socket guard: tests may reach loopback only, in process and in subprocesses."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import netguard  # registered by tests/conftest.py
import pytest


@pytest.fixture
def expect_blocked():
    """Lets a test trip the guard on purpose: its records are cleared before the check."""
    log = Path(os.environ["PYTEST_NETGUARD_LOG"])
    size = log.stat().st_size
    yield log
    with log.open("r+", encoding="utf-8") as fh:
        fh.seek(size)
        fh.truncate()


def test_loopback_is_allowed() -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        with socket.create_connection(("localhost", port), timeout=5):
            pass
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass


def test_outside_address_is_refused_and_recorded(expect_blocked: Path) -> None:
    before = expect_blocked.stat().st_size
    with pytest.raises(netguard.NetworkBlocked), socket.socket() as s:
        s.connect(("192.0.2.1", 443))  # TEST-NET-1: never routed
    with pytest.raises(OSError):
        socket.getaddrinfo("api.bybit.com", 443)
    text = expect_blocked.read_text()[before:]
    assert "192.0.2.1" in text and "api.bybit.com" in text


def test_subprocesses_are_guarded_too(expect_blocked: Path) -> None:
    before = expect_blocked.stat().st_size
    code = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('openrouter.ai', 443), timeout=2)\n"
        "except OSError as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=os.environ
    )
    assert "only reach loopback" in out.stdout, out
    assert "openrouter.ai" in expect_blocked.read_text()[before:]


def test_langgraph_dev_is_started_offline() -> None:
    assert os.environ["LANGGRAPH_CLI_NO_ANALYTICS"] == "1"
    assert os.environ["LANGGRAPH_NO_VERSION_CHECK"] == "true"
    makefile = (Path(__file__).parents[1] / "Makefile").read_text()
    studio = makefile.split("studio:", 1)[1].split("\n\n", 1)[0]
    assert "LANGGRAPH_CLI_NO_ANALYTICS=1" in studio and "LANGGRAPH_NO_VERSION_CHECK=true" in studio
