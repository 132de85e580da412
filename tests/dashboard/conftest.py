import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sextant.config import Settings, load_settings
from tests.conftest import ENV_PREFIXES
from tests.dashboard.helpers import build_book, copy_state


@pytest.fixture(scope="session")
def book_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real book per session (about 15 s), copied into each test's state directory."""
    root = tmp_path_factory.mktemp("dashboard-book")
    state = root / "state"
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith(ENV_PREFIXES):
                mp.delenv(key, raising=False)
        mp.chdir(root)
        mp.setenv("SEXTANT_STATE_DIR", str(state))
        build_book(state, state / "reports")
    return state


@pytest.fixture
def state(book_template: Path, isolated_env: Path) -> Path:
    target = Path(os.environ["SEXTANT_STATE_DIR"])
    copy_state(book_template, target)
    return target


@pytest.fixture
def settings(state: Path) -> Iterator[Settings]:
    yield load_settings()
