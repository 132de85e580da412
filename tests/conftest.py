"""Shared fixtures: isolated settings (no real .env, state in tmp) and the bundled data."""

import shutil
from pathlib import Path

import pytest

from sextant.config.market import BUNDLED_DATA_DIR

ENV_PREFIXES = ("SEXTANT_", "OPENROUTER_", "BYBIT_", "TELEGRAM_")


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
