"""Fixtures: a local Bot API server, Telegram settings pointing at it, a fake clock."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from sextant.clock import FixedClock
from sextant.config import Settings, load_settings
from tests.broadcast.helpers import AS_OF, GROUP, Sleeper
from tests.fakes.telegram_server import FakeTelegram


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def tg_env(fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> FakeTelegram:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", fake.token)
    monkeypatch.setenv("TELEGRAM_CHAT_ID", str(GROUP))
    monkeypatch.setenv("SEXTANT_TELEGRAM__BASE_URL", fake.base_url)
    monkeypatch.setenv("SEXTANT_TELEGRAM__ALLOWED_USER_IDS", "42,43")
    # PTB 22 warns when a RetryAfter is built unless timedelta periods are opted in
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    return fake


@pytest.fixture
def settings(tg_env: FakeTelegram) -> Settings:
    return load_settings()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(AS_OF)


@pytest.fixture
def sleeper(clock: FixedClock) -> Sleeper:
    return Sleeper(clock)


@pytest.fixture(scope="session")
def test_output() -> Path:
    """Artifacts a human may want to look at (gitignored)."""
    out = Path(__file__).resolve().parents[2] / "test-output"
    out.mkdir(exist_ok=True)
    return out
