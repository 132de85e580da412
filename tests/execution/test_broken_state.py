"""Broken state never gives a traceback and never reaches the exchange (issue 9.4).

A real `sextant` process in demo mode against the local Bybit fake, on a state directory that
is read-only, full (a file-size limit: writes past it fail with EFBIG, as on a full disk),
holds a truncated `sextant.db`, or something that is not a database: each ends with exit 3 and
one line naming the path and what is wrong, and the fake saw no request at all. The same
commands on a good state do reach the fake, so the empty request log is not vacuous.
"""

import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sextant.config.market import BUNDLED_DATA_DIR
from tests.fakes.bybit_v5 import FakeBybit, load_bundled_frames

EXE = Path(sys.executable).parent / "sextant"
NOW = datetime(2025, 4, 7, 15, tzinfo=UTC)
COMMANDS = (["close", "--all"], ["run", "--once", "--symbols", "BTC"])
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


@pytest.fixture(scope="module")
def frames():  # type: ignore[no-untyped-def]
    return load_bundled_frames(BUNDLED_DATA_DIR, ["BTC/USDT:USDT"], "2025-03-20", "2025-04-08")


@pytest.fixture
def fake(frames) -> Iterator[FakeBybit]:  # type: ignore[no-untyped-def]
    with FakeBybit(**frames._asdict(), now_ms=NOW) as server:
        yield server


def demo_env(fake: FakeBybit, state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEXTANT_")}
    return env | {
        "SEXTANT_STATE_DIR": str(state),
        "SEXTANT_MODE": "demo",
        "SEXTANT_MARKET__SOURCE": "bybit",
        "SEXTANT_MARKET__BASE_URL": fake.base_url,
        "SEXTANT_EXECUTION__ORDER_RETRY_BACKOFF_S": "0",
        "BYBIT_API_KEY": "key",
        "BYBIT_API_SECRET": "secret",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def without_dac_override() -> None:
    """Root ignores file modes; drop that privilege (for this child only) so a read-only
    directory is read-only to it, as it is to the unprivileged user a service runs as."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        # EFBIG on writes past the limit instead of SIGXFSZ killing the process: a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def sextant(
    argv: list[str], env: dict[str, str], preexec: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXE), *argv], env=env, capture_output=True, text=True, timeout=120,
        preexec_fn=preexec, check=False,
    )


def refused(result: subprocess.CompletedProcess[str], path: Path, problem: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"sextant: {path}"), lines[0]
    assert problem in lines[0], lines[0]


@pytest.fixture
def good_state(fake: FakeBybit, tmp_path: Path) -> Path:
    """A state directory a demo process has used: its database exists and is sound."""
    state = tmp_path / "state"
    first = sextant(["close", "--all"], demo_env(fake, state))
    assert first.returncode == 0, first.stderr
    assert fake.requests, "a good state talks to Bybit: the checks below are not vacuous"
    assert (state / "sextant.db").stat().st_size > 0
    fake.reset_requests()
    return state


def test_a_read_only_state_dir(fake: FakeBybit, good_state: Path) -> None:
    preexec = without_dac_override if os.geteuid() == 0 else None
    good_state.chmod(0o555)
    try:
        for argv in COMMANDS:
            result = sextant(argv, demo_env(fake, good_state), preexec)
            refused(result, good_state / "sextant.db", "read-only")
        # a new state directory under a read-only parent
        fresh = good_state / "new"
        result = sextant(["close", "--all"], demo_env(fake, fresh), preexec)
        refused(result, fresh, "cannot create the state directory: Permission denied")
    finally:
        good_state.chmod(0o755)
    assert fake.requests == []


def test_a_full_disk(fake: FakeBybit, tmp_path: Path) -> None:
    state = tmp_path / "state"
    for argv in COMMANDS:
        result = sextant(argv, demo_env(fake, state), file_size_limit(16 * 1024))
        refused(result, state / "sextant.db", "full")
        shutil.rmtree(state, ignore_errors=True)
    assert fake.requests == []


def test_a_truncated_or_foreign_database(fake: FakeBybit, good_state: Path) -> None:
    db = good_state / "sextant.db"
    original = db.read_bytes()
    for wal in good_state.glob("sextant.db-*"):
        wal.unlink()
    db.write_bytes(original[: len(original) // 2])
    for argv in COMMANDS:
        refused(sextant(argv, demo_env(fake, good_state)), db, "truncated")
    db.write_bytes(b"these are not the pages you are looking for\n" * 100)
    for argv in COMMANDS:
        refused(sextant(argv, demo_env(fake, good_state)), db, "not a SQLite database")
    db.write_bytes(original[:40])  # shorter than a header
    refused(sextant(["status"], demo_env(fake, good_state)), db, "not a SQLite database")
    assert fake.requests == []


def test_json_errors_carry_exit_3(fake: FakeBybit, good_state: Path) -> None:
    import json

    db = good_state / "sextant.db"
    db.write_bytes(b"x" * 4096)
    result = sextant(["status", "--json"], demo_env(fake, good_state))
    assert result.returncode == 3
    doc = json.loads(result.stdout)
    assert doc["schema"] == "sextant.error/1" and doc["code"] == 3
    assert doc["message"].startswith(str(db)) and doc["field"] is None
