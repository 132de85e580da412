"""A single-instance lock and the heartbeat file of `sextant loop`.

The lock is an exclusive `flock` on `<state_dir>/loop.lock`: the kernel releases it when the
process dies, however it dies (SIGKILL included), so a restart never finds a stale lock.
The heartbeat `<state_dir>/heartbeat.json` is replaced atomically (write + rename).
"""

import contextlib
import fcntl
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

LOCK_FILE = "loop.lock"
HEARTBEAT_FILE = "heartbeat.json"


class AlreadyRunning(Exception):
    def __init__(self, pid: str) -> None:
        super().__init__(f"another sextant loop holds the lock (pid {pid or 'unknown'})")
        self.pid = pid


class InstanceLock:
    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise AlreadyRunning(holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "InstanceLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


def write_heartbeat(
    state_dir: Path,
    *,
    status: str,
    last_cycle_as_of: datetime | None,
    last_cycle_finished_at: datetime | None,
    **extra: Any,
) -> dict[str, Any]:
    doc = {
        "pid": os.getpid(),
        "status": status,
        "last_cycle_as_of": _iso(last_cycle_as_of),
        "last_cycle_finished_at": _iso(last_cycle_finished_at),
        **extra,
    }
    path = Path(state_dir) / HEARTBEAT_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, path)
    return doc
