"""Shared fixtures: isolated settings (no real .env, state in tmp) and the bundled data."""

import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sextant.config.market import BUNDLED_DATA_DIR

# The socket guard (tests/netguard/sitecustomize.py): only loopback, in this process and in every
# Python subprocess a test starts (PYTHONPATH makes them import it at start-up).
NETGUARD_DIR = Path(__file__).parent / "netguard"
_fd, _netguard_log = tempfile.mkstemp(prefix="sextant-netguard-", suffix=".log")
os.close(_fd)
os.environ["PYTEST_NETGUARD_LOG"] = _netguard_log
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(NETGUARD_DIR), os.environ.get("PYTHONPATH", "")) if p
)
# `langgraph dev` would otherwise phone home (CLI analytics, the server's version check).
os.environ["LANGGRAPH_CLI_NO_ANALYTICS"] = "1"
os.environ["LANGGRAPH_NO_VERSION_CHECK"] = "true"
_spec = importlib.util.spec_from_file_location("netguard", NETGUARD_DIR / "sitecustomize.py")
assert _spec is not None and _spec.loader is not None
netguard = importlib.util.module_from_spec(_spec)
sys.modules["netguard"] = netguard
_spec.loader.exec_module(netguard)  # installs itself: PYTEST_NETGUARD_LOG is set


@pytest.fixture(autouse=True)
def no_network() -> Iterator[None]:
    """Fails the test if it (or a subprocess it started) tried to reach a non-loopback host."""
    log = Path(_netguard_log)
    before = log.stat().st_size
    yield
    with log.open(encoding="utf-8") as fh:
        fh.seek(before)
        attempts = fh.read()
    if attempts:
        pytest.fail(f"the test tried to reach the network:\n{attempts[:4000]}", pytrace=False)

ENV_PREFIXES = ("SEXTANT_", "OPENROUTER_", "BYBIT_", "TELEGRAM_", "LANGSMITH_", "LANGCHAIN_")


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every test starts without Sextant variables, outside the repo (no .env), state in tmp."""
    import os

    for key in list(os.environ):
        if key.startswith(ENV_PREFIXES):
            monkeypatch.delenv(key, raising=False)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("SEXTANT_STATE_DIR", str(tmp_path / "state"))
    return work


@pytest.fixture
def bundled_dir() -> Path:
    return BUNDLED_DATA_DIR


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled data, for tests that alter it."""
    dst = tmp_path / "data"
    shutil.copytree(BUNDLED_DATA_DIR, dst)
    return dst
