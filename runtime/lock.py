"""A single-instance lock and the heartbeat file of `sextant loop`.

The lock is an exclusive `flock` on `<state_dir>/loop.lock`: the kernel releases it when the
process dies, however it dies (SIGKILL included), so a restart never finds a stale lock.
The heartbeat `<state_dir>/heartbeat.json` is replaced atomically (write + rename).

On Bybit (demo/live) the lock also guards the exchange: only one process at a time may
reconcile a book with the account (`ExecutionEngine.start` takes the lock unless this process
already holds it, see `claim`), so `sextant close` or `sextant run --once` refuse to run while
the loop runs on the same state directory instead of syncing beside it (two syncs would adopt
each other's half-booked entries and race on the same orders).
"""

import contextlib
import fcntl
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from sextant.errors import AlreadyRunning, ExchangeBusy, StateError
from sextant.models import iso_z

LOCK_FILE = "loop.lock"
HEARTBEAT_FILE = "heartbeat.json"
_HELD: set[Path] = set()  # lock files this process holds


class InstanceLock:
    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a read-only or missing state directory: say so, exit 3
            raise StateError(self.path, f"cannot open the lock file: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise AlreadyRunning(holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        _HELD.add(self.path.resolve())

    def release(self) -> None:
        if self._fd is not None:
            _HELD.discard(self.path.resolve())
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "InstanceLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def held_here(state_dir: Path) -> bool:
    """True when this process already holds the lock of `state_dir`."""
    return (Path(state_dir) / LOCK_FILE).resolve() in _HELD


def claim(state_dir: Path) -> InstanceLock | None:
    """Take the lock for this process unless it already holds it (then None).

    Raises `ExchangeBusy` when another process (the loop) holds it."""
    if held_here(state_dir):
        return None
    lock = InstanceLock(state_dir)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        raise ExchangeBusy(exc.pid, Path(state_dir)) from None
    return lock


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
        "last_cycle_as_of": iso_z(last_cycle_as_of),
        "last_cycle_finished_at": iso_z(last_cycle_finished_at),
        **extra,
    }
    path = Path(state_dir) / HEARTBEAT_FILE
    tmp = path.with_suffix(".json.tmp")
    try:
        tmp.write_text(json.dumps(doc, indent=2))
        os.replace(tmp, path)
    except OSError as exc:  # full or read-only state directory
        raise StateError(path, f"cannot write the heartbeat: {exc.strerror}") from None
    return doc


def lock_holder(state_dir: Path) -> int | None:
    """The pid holding `state_dir`'s lock (0 when held by a process this namespace cannot
    see), or None when it is free; asked without taking it (Linux `/proc/locks`), so a loop
    starting at that moment never finds it taken. Elsewhere: a take-and-release try."""
    path = Path(state_dir) / LOCK_FILE
    try:
        st = os.stat(path)
    except OSError:
        return None
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return _try_lock(path)
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in table.splitlines():
        parts = line.split()
        if "->" in parts or len(parts) < 6 or parts[1] != "FLOCK":
            continue  # a waiter, or another kind of lock
        if parts[5] == device:
            try:
                return max(int(parts[4]), 0)
            except ValueError:
                return 0
    return None


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        return int(holder) if holder.isdigit() else 0
    finally:
        os.close(fd)  # closing the descriptor releases a lock it took
    return None
