"""`sextant health`: is the loop on this state directory alive? For Docker's HEALTHCHECK,
systemd and monitors.

Exit 0: healthy (fresh heartbeat, status starting/running, its process alive and holding the
lock). Exit 1: not healthy, with the reason on stdout. Exit 2: invalid settings.
"""

import argparse
import json

from cli.common import EXIT_FAILED, EXIT_OK, add_config_arg, settings_from


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "health",
        help="exit 0 when the loop's heartbeat is fresh, 1 when not (for health checks)",
    )
    p.add_argument(
        "--max-age", dest="max_age", type=float,
        help="seconds a heartbeat stays fresh (default SEXTANT_SERVICE__HEALTH_MAX_AGE_S, 600)",
    )
    p.add_argument("--json", action="store_true", help="one JSON document (sextant.health/1)")
    add_config_arg(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from runtime.health import heartbeat_health
    from sextant.clock import SystemClock

    settings = settings_from(args)
    max_age = args.max_age if args.max_age is not None else settings.service.health_max_age_s
    if max_age <= 0:
        from sextant.config import ConfigError

        raise ConfigError("--max-age: must be positive")
    doc = heartbeat_health(settings.state_dir, now=SystemClock().now(), max_age_s=max_age)
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(("healthy: " if doc["healthy"] else "unhealthy: ") + doc["reason"])
    return EXIT_OK if doc["healthy"] else EXIT_FAILED
