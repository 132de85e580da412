"""Crash safety of a real `sextant loop` process: SIGKILL at several points, then restart.

A paper replay of 36 hours of the bundled data runs twice: once without interruption, and
once killed with SIGKILL four times (in the middle of a cycle's graph, right after an entry
was committed, right after a monitor exit, between cycles) and restarted each time on the
same state. Both must end with exactly the same positions, fills, orders, funding, daily
equity, signals and cycles: no position lost, none opened twice, no order repeated.

Kill points are found by reading the process's log lines (no waiting on the clock): the
process is killed as soon as it reports the step, so it dies somewhere just after it.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow
EXE = Path(sys.executable).parent / "sextant"
REPLAY = ["--replay-from", "2025-04-07T00:00Z", "--replay-to", "2025-04-08T11:00Z"]
SYMBOLS = ["--symbols", "BTC,ETH,SOL,DOGE"]
# (log fragment, occurrence in that process run): where each run is killed
KILLS = [
    ("cycle c-", 3),  # "cycle ... start": inside the graph of the third cycle it runs
    ("INFO sextant.execution: entry", 1),  # an entry was just committed
    ("INFO sextant.execution: exit", 2),  # a monitor exit was just committed
    ("done: ", 4),  # between two cycles
]


def env(state: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "SEXTANT_STATE_DIR": str(state),
        "PYTHONUNBUFFERED": "1",
        "HOME": os.environ.get("HOME", "/tmp"),
    }


def start(state: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(EXE), "loop", *REPLAY, *SYMBOLS, "--quiet", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env(state),
        cwd=state.parent,
    )


def run_until(proc: subprocess.Popen[str], fragment: str, occurrence: int) -> list[str]:
    """Read the log until the fragment's n-th occurrence, then SIGKILL the process."""
    seen, lines = 0, []
    assert proc.stderr is not None
    for line in proc.stderr:
        lines.append(line)
        if fragment in line and ("start" in line or fragment != "cycle c-"):
            seen += 1
            if seen == occurrence:
                proc.send_signal(signal.SIGKILL)
                break
    proc.wait(timeout=120)
    return lines


def table(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return sorted(conn.execute(sql).fetchall())
    finally:
        conn.close()


def book(state: Path) -> dict[str, list[tuple[Any, ...]]]:
    db = state / "sextant.db"
    return {
        "positions": table(db, "SELECT position_id, status, data FROM positions"),
        "fills": table(db, "SELECT * FROM fills"),
        "orders": table(db, "SELECT client_order_id, status, data FROM orders"),
        "funding": table(db, "SELECT * FROM funding_payments"),
        "days": table(db, "SELECT day, start_equity, last_equity, breaker_until FROM daily_equity"),
        "signals": table(db, "SELECT signal_id, status, note FROM signals"),
        "cycles": table(db, "SELECT cycle_id, as_of, status FROM cycles"),
    }


def test_sigkill_at_any_point_then_restart_ends_like_an_uninterrupted_run(tmp_path: Path) -> None:
    ref_state, crash_state = tmp_path / "reference" / "state", tmp_path / "crashed" / "state"
    ref_state.parent.mkdir()
    crash_state.parent.mkdir()
    reference = start(ref_state)  # runs alongside the crash sequence

    logs = []
    for fragment, n in KILLS:
        proc = start(crash_state)
        lines = run_until(proc, fragment, n)
        logs.append(lines)
        assert proc.returncode == -signal.SIGKILL, "".join(lines[-20:])
    final = start(crash_state)
    _, err = final.communicate(timeout=300)
    assert final.returncode == 0, err[-3000:]
    _, ref_err = reference.communicate(timeout=300)
    assert reference.returncode == 0, ref_err[-3000:]

    # the restarts really did pick up interrupted work
    assert "resumes from its checkpoint" in "".join(line for lines in logs for line in lines) + err

    got, want = book(crash_state), book(ref_state)
    assert len(want["cycles"]) == 36 and {c[2] for c in want["cycles"]} == {"completed"}
    assert want["positions"] and want["fills"], "the window must trade to prove anything"
    assert {p[1] for p in want["positions"]} >= {"closed"}
    for key in want:
        assert got[key] == want[key], key
    # and, spelled out: one entry fill per position, no client order id twice
    entries = [f for f in got["fills"] if f[3] == "entry"]
    assert len(entries) == len({f[1] for f in entries}) == len(got["positions"])
    beat = json.loads((crash_state / "heartbeat.json").read_text())
    assert beat["status"] == "finished" and beat["last_cycle_as_of"] == "2025-04-08T11:00:00Z"


def test_sigterm_stops_gracefully_and_a_second_instance_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = start(state, "--speed", "3600")  # one replayed hour per wall-clock second
    assert proc.stderr is not None
    for line in proc.stderr:
        if "done: " in line:
            break
    second = subprocess.run(
        [str(EXE), "loop", *REPLAY, "--quiet"], capture_output=True, text=True,
        env=env(state), cwd=tmp_path, timeout=120,
    )
    assert second.returncode == 1 and "another sextant loop" in second.stderr
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 0
    beat = json.loads((state / "heartbeat.json").read_text())
    assert beat["status"] == "stopped" and beat["pid"] == proc.pid
    cycles = table(state / "sextant.db", "SELECT status FROM cycles")
    assert cycles and {c[0] for c in cycles} == {"completed"}  # the step in progress finished
