"""Is the loop alive? Judged from its heartbeat file (`sextant health`, Docker's HEALTHCHECK).

Healthy means all of: `<state_dir>/heartbeat.json` exists, was written less than `max_age_s`
ago (its `updated_at`, else the file's modification time), says `starting` or `running`, and
its pid is alive and some process holds the loop's lock (`check_pid`: only where the loop
runs, same host or container). The loop beats after every monitor pass (30 s) and cycle.
"""

import errno
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from execution.report import read_heartbeat
from runtime.lock import HEARTBEAT_FILE, LOCK_FILE, lock_holder

ALIVE_STATUSES = ("starting", "running")


def _pid_alive(pid: Any) -> bool | None:
    if not isinstance(pid, int) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM  # exists, owned by someone else
    return True


def heartbeat_health(
    state_dir: Path, *, now: datetime, max_age_s: float, check_pid: bool = True
) -> dict[str, Any]:
    """`sextant.health/1`: {"healthy", "reason", "age_s", "max_age_s", "heartbeat"}."""
    path = Path(state_dir) / HEARTBEAT_FILE
    beat = read_heartbeat(Path(state_dir))

    def verdict(healthy: bool, reason: str, age: float | None = None) -> dict[str, Any]:
        return {
            "schema": "sextant.health/1",
            "healthy": healthy,
            "reason": reason,
            "age_s": None if age is None else round(age, 1),
            "max_age_s": max_age_s,
            "heartbeat": beat,
        }

    if beat is None:
        return verdict(False, f"no heartbeat at {path}: the loop has not run on this state")
    written: datetime | None = None
    raw = beat.get("updated_at")
    if isinstance(raw, str):
        try:
            written = datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            written = None
    if written is None:
        try:
            written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except OSError:
            return verdict(False, f"heartbeat {path} vanished")
    age = (now - written).total_seconds()
    status = beat.get("status")
    if age > max_age_s:
        return verdict(False, f"heartbeat is {age:.0f} s old (max {max_age_s:g} s)", age)
    if status == "error":
        return verdict(False, "the loop runs but its cycles are failing (see its log)", age)
    if status not in ALIVE_STATUSES:
        return verdict(False, f"the loop is not running (status {status!r})", age)
    if check_pid and _pid_alive(beat.get("pid")) is False:
        return verdict(False, f"the loop's process (pid {beat.get('pid')}) is gone", age)
    if check_pid and lock_holder(Path(state_dir)) is None:
        return verdict(False, f"no process holds {Path(state_dir) / LOCK_FILE}", age)
    return verdict(True, f"{status}, heartbeat {age:.0f} s old", age)
