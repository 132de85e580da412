"""Socket guard for the test suite: only loopback (and Unix sockets) may be reached.

Installed in the pytest process by tests/conftest.py and, through PYTHONPATH, in every Python
subprocess a test starts (the CLI, `sextant loop`, `langgraph dev`): Python imports
`sitecustomize` at start-up. A connection or name lookup to anything else is refused with
`NetworkBlocked` *and* recorded in the file named by PYTEST_NETGUARD_LOG, because client
libraries often swallow network errors and retry: the conftest fails the test that caused a
record, so "tests never touch the network" is enforced, not hoped.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import traceback

LOG_VAR = "PYTEST_NETGUARD_LOG"
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


class NetworkBlocked(ConnectionRefusedError):
    """Raised instead of reaching a non-loopback address during the tests."""


def _is_loopback(host: object) -> bool:
    if host is None:
        return True  # getaddrinfo(None, port): the local wildcard / loopback
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0].lower()
    if name in LOOPBACK_NAMES or name == "":
        return True
    try:
        addr = ipaddress.ip_address(name)
    except ValueError:
        return False
    return addr.is_loopback or addr.is_unspecified


def _record(what: str) -> None:
    path = os.environ.get(LOG_VAR)
    stack = "".join(traceback.format_stack(limit=12)[:-2])
    if path:
        try:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(f"pid {os.getpid()}: {what}\n{stack}\n")
        except OSError:
            pass


def _check(address: object, family: int | None) -> None:
    if family == getattr(socket, "AF_UNIX", object()):
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_loopback(host):
        what = f"blocked connection to {address!r}"
        _record(what)
        raise NetworkBlocked(f"tests may only reach loopback: {what}")


def install() -> None:
    if getattr(socket, "_sextant_netguard", False):
        return
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_sendto = socket.socket.sendto
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: object) -> None:
        _check(address, self.family)
        return real_connect(self, address)  # type: ignore[arg-type]

    def connect_ex(self: socket.socket, address: object) -> int:
        _check(address, self.family)
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    def sendto(self: socket.socket, data: bytes, *args: object) -> int:
        address = args[-1] if args else None
        _check(address, self.family)
        return real_sendto(self, data, *args)  # type: ignore[arg-type]

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> list:  # type: ignore[type-arg]
        if not _is_loopback(host):
            what = f"blocked name lookup of {host!r}"
            _record(what)
            raise socket.gaierror(socket.EAI_NONAME, f"tests may only reach loopback: {what}")
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = sendto  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket._sextant_netguard = True  # type: ignore[attr-defined]


if os.environ.get(LOG_VAR):
    install()
