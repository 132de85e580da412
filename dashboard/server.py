"""Serving the dashboard with uvicorn: on its own (`sextant dashboard`) or inside `sextant loop`.

Embedded, the server runs as a task on the loop's own event loop and leaves signal handling to
the loop (SIGTERM stops the loop, which then stops the server). The socket is bound before the
server starts, so a port already in use is a clear start-up error naming the setting, and port 0
(any free port) reports the port it got.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass
from typing import Any

from sextant.config import ConfigError
from sextant.config.dashboard import is_loopback

log = logging.getLogger("sextant.dashboard")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"dashboard (env SEXTANT_DASHBOARD__HOST / SEXTANT_DASHBOARD__PORT): cannot listen "
            f"on {host}:{port}: {exc.strerror or exc}"
        ) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _server(app: Any, *, embedded: bool) -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            if not embedded:
                with super().capture_signals():
                    yield
            else:  # the trading loop owns SIGTERM/SIGINT and stops us itself
                yield

    config = uvicorn.Config(
        app,
        log_config=None,  # keep Sextant's logging (stderr, redaction, the log file)
        access_log=False,
        lifespan="off",
        proxy_headers=True,  # X-Forwarded-Proto from a local TLS proxy (127.0.0.1 only)
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    return Server(config)


def describe(settings: Any, url: str, actions_reason: str | None) -> str:
    d = settings.dashboard
    mode = "read-only (no SEXTANT_DASHBOARD__TOKEN)" if d.token is None else "actions with token"
    if d.token is not None and actions_reason:
        mode += f"; now unavailable: {actions_reason}"
    return f"dashboard on {url} ({mode})"


def warn_if_exposed(settings: Any) -> None:
    if not is_loopback(settings.dashboard.host):
        log.warning(
            "the dashboard listens on %s, not only on this machine: anyone who reaches the port "
            "sees the book; put it behind a TLS proxy before using the token over a network",
            settings.dashboard.host,
        )


async def serve_standalone(settings: Any, announce: Callable[[str], None]) -> None:
    """`sextant dashboard`: serve until SIGINT/SIGTERM; `announce` gets the address line."""
    from dashboard.actions import StandaloneActions
    from dashboard.app import create_app
    from dashboard.readmodel import ReadModel

    model = ReadModel(settings)
    actions = StandaloneActions(settings)
    try:
        sock = bind(settings.dashboard.host, settings.dashboard.port)
        server = _server(create_app(model, actions, context="standalone"), embedded=False)
        warn_if_exposed(settings)
        announce(describe(settings, url_of(sock), actions.unavailable()))
        await server.serve(sockets=[sock])
    finally:
        model.close()


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the dashboard stopped: %r (trading goes on)", task.exception())


@dataclass
class Embedded:
    url: str
    server: Any
    task: asyncio.Task[None]


@contextlib.asynccontextmanager
async def embedded_dashboard(
    settings: Any, engine: Any, broadcaster: Any, clock: Any
) -> AsyncIterator[Embedded | None]:
    """Inside `sextant loop`: the dashboard on the loop's event loop while the block runs
    (nothing when SEXTANT_DASHBOARD__ENABLED is false). Closes go through the loop's engine."""
    if not settings.dashboard.enabled:
        yield None
        return
    from dashboard.actions import LoopActions
    from dashboard.app import create_app
    from dashboard.readmodel import ReadModel

    sock = bind(settings.dashboard.host, settings.dashboard.port)
    model = ReadModel(settings)
    server = _server(
        create_app(model, LoopActions(engine, broadcaster, clock), context="loop"), embedded=True
    )
    task = asyncio.create_task(server.serve(sockets=[sock]), name="dashboard")
    task.add_done_callback(_report_crash)
    handle = Embedded(url_of(sock), server, task)
    warn_if_exposed(settings)
    log.info("%s", describe(settings, handle.url, None))
    try:
        yield handle
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, timeout=10)
        except Exception:  # a dashboard that fails to stop never blocks the loop's exit
            log.exception("dashboard did not stop cleanly")
            task.cancel()
        sock.close()
        model.close()
