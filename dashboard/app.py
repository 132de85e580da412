"""The web app: server-rendered pages and the JSON API behind them (Starlette, Jinja2).

Pages and the API render the read model's documents (dashboard/readmodel.py); the one action,
closing positions, goes through `dashboard.actions` behind the token gate (dashboard/auth.py).
Reads are plain functions Starlette runs in worker threads, so a page never blocks the
trading loop that may share this event loop; the close runs on the event loop itself (the
loop's engine lives there).

API (JSON; each document has a `schema`):
    GET  /api                      the endpoints and whether actions are enabled
    GET  /api/status               sextant.status/1 (= `sextant status --json`)
    GET  /api/positions            sextant.positions/1
    GET  /api/signals?cycles=N     sextant.signals/1
    GET  /api/equity               sextant.equity/1
    GET  /api/exits?limit=N        sextant.exits/1
    GET  /api/llm                  sextant.llm/1
    GET  /api/news                 sextant.news/1
    GET  /api/reports              sextant.reports/1
    GET  /api/health               sextant.health/1 (the loop's heartbeat)
    POST /api/positions/close      {"symbol": "BTC"} or {"all": true}, Bearer token:
                                   sextant.close/1
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboard import formatting
from dashboard.actions import ActionRefused, Actions
from dashboard.auth import TokenGate
from dashboard.readmodel import ReadModel
from sextant.config import ConfigError, normalise_symbol
from sextant.config.dashboard import LOOPBACK_NAMES

log = logging.getLogger("sextant.dashboard")
HERE = Path(__file__).parent
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)
# Backtest reports are our own static HTML: inline CSS, embedded PNG, and no script at all.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
API_INDEX = [
    "/api/status", "/api/positions", "/api/signals", "/api/equity", "/api/exits", "/api/llm",
    "/api/news", "/api/reports", "/api/health", "POST /api/positions/close",
]


class SecurityHeaders:
    """nosniff, no framing, no referrer, and a CSP on every response that has none."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = {
                    b"x-content-type-options": b"nosniff",
                    b"x-frame-options": b"DENY",
                    b"referrer-policy": b"no-referrer",
                    b"content-security-policy": PAGE_CSP.encode(),
                    b"cache-control": b"no-store",
                }
                headers += [(k, v) for k, v in extra.items() if k not in names]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def allowed_hosts(settings: Any) -> list[str]:
    d = settings.dashboard
    if "*" in d.allowed_hosts:
        return ["*"]
    hosts = {*LOOPBACK_NAMES, "[::1]", *d.allowed_hosts}
    if d.host not in ("0.0.0.0", "::", ""):
        hosts.add(d.host)
    return sorted(hosts)


def create_app(
    model: ReadModel,
    actions: Actions | None,
    *,
    gate: TokenGate | None = None,
    context: str = "standalone",
) -> Starlette:
    """`context`: "loop" (served by `sextant loop`) or "standalone" (`sextant dashboard`)."""
    settings = model.settings
    token = settings.dashboard.token
    gate = gate or TokenGate(token.get_secret_value() if token is not None else None)
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    formatting.install(env)

    def action_state() -> dict[str, Any]:
        if not gate.enabled:
            return {"enabled": False, "reason": "read-only: no SEXTANT_DASHBOARD__TOKEN set"}
        if actions is None:
            return {"enabled": False, "reason": "this dashboard serves no actions"}
        why = actions.unavailable()
        return {"enabled": why is None, "reason": why}

    def page(name: str, request: Request, **data: Any) -> HTMLResponse:
        status = model.status()
        body = env.get_template(name).render(
            request=request,
            page=name.removesuffix(".html"),
            status=status,
            heartbeat=status.get("loop"),
            actions=action_state(),
            context=context,
            refresh_s=settings.dashboard.refresh_s,
            now=datetime.now(UTC),
            settings=settings,
            **data,
        )
        return HTMLResponse(body)

    # -- pages (sync: Starlette runs them in worker threads) -----------------------------------

    def overview(request: Request) -> HTMLResponse:
        return page(
            "overview.html",
            request,
            positions=model.positions(),
            exits=model.exits(limit=min(20, settings.dashboard.exits_shown)),
            llm=model.llm(),
        )

    def signals_page(request: Request) -> HTMLResponse:
        return page("signals.html", request, signals=model.signals())

    def exits_page(request: Request) -> HTMLResponse:
        return page("exits.html", request, exits=model.exits())

    def news_page(request: Request) -> HTMLResponse:
        return page("news.html", request, news=model.news(), llm=model.llm())

    def reports_page(request: Request) -> HTMLResponse:
        return page("reports.html", request, reports=model.reports())

    def report_file(request: Request) -> Response:
        path = model.report_file(request.path_params["name"], request.path_params["file"])
        if path is None:
            raise HTTPException(404, "no such report file")
        headers = {"Content-Security-Policy": REPORT_CSP}
        if path.suffix == ".html":
            headers["X-Frame-Options"] = "SAMEORIGIN"
        return FileResponse(path, headers=headers)

    # -- the JSON API -----------------------------------------------------------------------

    def api(build: Callable[[Request], dict[str, Any]]) -> Callable[[Request], JSONResponse]:
        def endpoint(request: Request) -> JSONResponse:
            return JSONResponse(build(request))

        return endpoint

    def int_arg(request: Request, name: str, default: int, top: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise HTTPException(400, f"{name}: not an integer") from None
        if not 1 <= value <= top:
            raise HTTPException(400, f"{name}: between 1 and {top}")
        return value

    def api_index(request: Request) -> dict[str, Any]:
        return {"schema": "sextant.api/1", "context": context, "endpoints": API_INDEX,
                "actions": action_state()}

    def api_health(request: Request) -> dict[str, Any]:
        from runtime.health import heartbeat_health

        return heartbeat_health(
            model.state_dir, now=datetime.now(UTC),
            max_age_s=settings.service.health_max_age_s,
        )

    async def close(request: Request) -> JSONResponse:
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        refusal = gate.check(request.headers, own)
        if refusal is not None:
            log.warning("dashboard: action refused (%s) from %s", refusal.message,
                        request.client.host if request.client else "?")
            return JSONResponse({"error": refusal.message}, refusal.status, refusal.headers)
        state = action_state()
        if actions is None or not state["enabled"]:
            return JSONResponse({"error": state["reason"]}, 409)
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return JSONResponse({"error": "body: not JSON"}, 400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "body: a JSON object"}, 400)
        if body.get("all") is True and "symbol" not in body:
            symbols = None
        elif isinstance(body.get("symbol"), str) and body["symbol"].strip():
            try:
                symbols = [normalise_symbol(body["symbol"])]
            except ConfigError as exc:
                return JSONResponse({"error": str(exc)}, 400)
        else:
            return JSONResponse({"error": 'body: {"symbol": "BTC"} or {"all": true}'}, 400)
        log.warning("dashboard: manual close of %s requested from %s",
                    "everything" if symbols is None else symbols[0],
                    request.client.host if request.client else "?")
        try:
            doc = await actions.close(symbols)
        except ActionRefused as exc:
            return JSONResponse({"error": exc.message}, exc.status)
        except ConfigError as exc:  # e.g. ExchangeBusy raised later than the first check
            return JSONResponse({"error": str(exc)}, 409)
        return JSONResponse(doc)

    async def not_found(request: Request, exc: Exception) -> Response:
        detail = getattr(exc, "detail", "not found")
        code = getattr(exc, "status_code", 404)
        if request.url.path.startswith("/api"):
            return JSONResponse({"error": detail}, code)
        return HTMLResponse(f"<h1>{code}</h1><p>{formatting.escape(str(detail))}</p>", code)

    routes = [
        Route("/", overview),
        Route("/signals", signals_page),
        Route("/exits", exits_page),
        Route("/news", news_page),
        Route("/reports", reports_page),
        Route("/reports/{name}/{file}", report_file),
        Route("/api", api(api_index)),
        Route("/api/status", api(lambda r: model.status())),
        Route("/api/positions", api(lambda r: model.positions())),
        Route("/api/signals", api(lambda r: model.signals(int_arg(r, "cycles", 0, 500) or None))),
        Route("/api/equity", api(lambda r: model.equity())),
        Route("/api/exits", api(lambda r: model.exits(int_arg(r, "limit", 0, 5000) or None))),
        Route("/api/llm", api(lambda r: model.llm())),
        Route("/api/news", api(lambda r: model.news())),
        Route("/api/reports", api(lambda r: model.reports())),
        Route("/api/health", api(api_health)),
        Route("/api/positions/close", close, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        HTTPException: not_found
    }
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings)),
            Middleware(SecurityHeaders),
        ],
        exception_handlers=handlers,
    )
