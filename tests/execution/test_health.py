"""`sextant health`: healthy only with a fresh heartbeat of a running loop that holds its lock;
exit 0 / 1 (Docker's HEALTHCHECK and systemd read that)."""

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli.main import main
from runtime.health import heartbeat_health
from runtime.lock import InstanceLock, write_heartbeat

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def beat(state: Path, status: str = "running", age_s: float = 10, **extra: object) -> None:
    write_heartbeat(state, status=status, last_cycle_as_of=NOW - timedelta(hours=1),
                    last_cycle_finished_at=NOW - timedelta(minutes=59),
                    updated_at=(NOW - timedelta(seconds=age_s)).isoformat(), **extra)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    d = tmp_path / "state"
    d.mkdir()
    return d


def verdict(state: Path, **kw: object) -> dict:
    return heartbeat_health(state, now=NOW, max_age_s=600, **kw)  # type: ignore[arg-type]


def test_a_fresh_beat_of_a_running_loop_that_holds_the_lock_is_healthy(state: Path) -> None:
    with InstanceLock(state):
        beat(state, age_s=30)
        doc = verdict(state)
        assert doc["healthy"] and doc["age_s"] == 30.0 and doc["schema"] == "sextant.health/1"
        beat(state, status="starting")
        assert verdict(state)["healthy"]


@pytest.mark.parametrize(
    ("status", "age_s", "reason"),
    [
        ("running", 601, "601 s old"),
        ("error", 5, "cycles are failing"),
        ("stopped", 5, "not running"),
        ("finished", 5, "not running"),
        ("failed", 5, "not running"),
    ],
)
def test_stale_failing_or_stopped_is_unhealthy(
    state: Path, status: str, age_s: float, reason: str
) -> None:
    with InstanceLock(state):
        beat(state, status=status, age_s=age_s)
        doc = verdict(state)
    assert not doc["healthy"] and reason in doc["reason"]


def test_no_heartbeat_a_dead_process_or_a_free_lock_is_unhealthy(state: Path) -> None:
    assert "no heartbeat" in verdict(state)["reason"]
    beat(state)  # our pid, but nobody holds the lock: the loop is gone
    assert "no process holds" in verdict(state)["reason"]
    assert verdict(state, check_pid=False)["healthy"]  # e.g. run from another container
    doc = json.loads((state / "heartbeat.json").read_text())
    doc["pid"] = 2**22 + 12345  # beyond pid_max: no such process
    (state / "heartbeat.json").write_text(json.dumps(doc))
    with InstanceLock(state):
        assert "is gone" in verdict(state)["reason"]


def test_without_updated_at_the_file_time_counts(state: Path) -> None:
    with InstanceLock(state):
        write_heartbeat(state, status="running", last_cycle_as_of=None,
                        last_cycle_finished_at=None)
        path = state / "heartbeat.json"
        old = (NOW - timedelta(seconds=900)).timestamp()
        os.utime(path, (old, old))
        assert "900 s old" in verdict(state)["reason"]


def test_the_command_exit_codes(state: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SEXTANT_STATE_DIR", str(state))
    assert main(["health"]) == 1
    assert capsys.readouterr().out.startswith("unhealthy: no heartbeat")
    with InstanceLock(state):
        write_heartbeat(state, status="running", last_cycle_as_of=None,
                        last_cycle_finished_at=None,
                        updated_at=datetime.now(UTC).isoformat())
        assert main(["health", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["healthy"] is True
        assert main(["health", "--max-age", "0"]) == 2  # invalid: a usage error
