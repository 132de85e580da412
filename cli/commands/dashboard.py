"""`sextant dashboard`: the web dashboard over a state directory, on its own (see dashboard/).

Read-only unless SEXTANT_DASHBOARD__TOKEN is set; with a token, closing a position takes the
path of `sextant close` (and in demo/live is refused while a loop holds the state's lock).
"""

import argparse
import asyncio
import sys

from cli.common import EXIT_OK, add_config_arg, settings_from
from sextant.config import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dashboard",
        help="web dashboard of a state directory (read-only without a token)",
        description="Serve the dashboard (pages and the JSON API) of SEXTANT_STATE_DIR until "
        "Ctrl-C. `sextant loop` serves the same dashboard with SEXTANT_DASHBOARD__ENABLED=true.",
    )
    p.add_argument("--host", help="listen address (default SEXTANT_DASHBOARD__HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default SEXTANT_DASHBOARD__PORT, 8787)")
    add_config_arg(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if overrides:
        settings = settings_from(
            args, dashboard=settings.dashboard.model_dump() | overrides
        )
    if not settings.state_dir.is_dir():
        raise ConfigError(
            f"state_dir (env SEXTANT_STATE_DIR): {settings.state_dir} is not a directory"
        )
    from dashboard.server import serve_standalone

    asyncio.run(serve_standalone(settings, lambda line: print(line, file=sys.stderr)))
    return EXIT_OK
