"""`sextant loop`: the 24/7 trading process, or a replay of the data on simulated time."""

import argparse
import asyncio
import logging
import sys
from typing import Any

from cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    add_config_arg,
    parse_time,
    settings_from,
)
from sextant.config import ConfigError, Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "loop",
        help="run 24/7: a cycle every hour, the position monitor in between",
        description="Live: an analysis cycle at each new 1h candle, the position monitor every "
        "30 s in between. Replay: --replay-from walks the data hour by hour on simulated time "
        "and exits 0 at --replay-to or at the end of the data. Restarted on the same state it "
        "continues after the last completed hour.",
    )
    p.add_argument("--replay-from", dest="replay_from", help="replay start (ISO 8601, UTC)")
    p.add_argument("--replay-to", dest="replay_to", help="replay end, inclusive (ISO 8601)")
    p.add_argument(
        "--speed",
        default="max",
        help="replay speed: 'max' (no waiting) or a factor of real time, e.g. 3600 = 1 h/s",
    )
    p.add_argument("--symbols", help="comma-separated symbols, overriding the watchlist")
    p.add_argument(
        "--quiet", action="store_true", help="no console posts (Telegram, if configured, posts)"
    )
    add_config_arg(p)
    p.set_defaults(handler=handle)


def _speed(text: str) -> float | None:
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"--speed: {text!r} is neither 'max' nor a number") from None
    if value <= 0:
        raise ConfigError("--speed: must be positive")
    return value


def handle(args: argparse.Namespace) -> int:
    from runtime.loop import ReplayWindow
    from sextant.errors import AlreadyRunning

    settings = settings_from(args)
    replay_from = parse_time(args.replay_from, "--replay-from") if args.replay_from else None
    replay_to = parse_time(args.replay_to, "--replay-to") if args.replay_to else None
    speed = _speed(args.speed)
    if replay_from is None and settings.market.source == "replay":
        raise ConfigError(
            "loop: the replay market needs --replay-from (a live loop needs "
            "SEXTANT_MARKET__SOURCE=bybit)"
        )
    if replay_from is not None and settings.market.source != "replay":
        raise ConfigError("--replay-from: only with the replay market (SEXTANT_MARKET__SOURCE)")
    if replay_to is not None and replay_from is not None and replay_to < replay_from:
        raise ConfigError("--replay-to: before --replay-from")
    logging.getLogger("sextant").setLevel(min(logging.getLogger().level, logging.INFO))
    window = ReplayWindow(replay_from, replay_to, speed) if replay_from is not None else None
    if settings.service.log_file is not None:
        from sextant.logfile import add_log_file

        svc = settings.service
        add_log_file(svc.log_file, svc.log_max_bytes, svc.log_backups)
    try:
        return asyncio.run(_run(args, settings, window))
    except AlreadyRunning as exc:
        print(f"sextant loop: {exc}", file=sys.stderr)
        return EXIT_FAILED


async def _run(args: argparse.Namespace, settings: Settings, window: Any) -> int:
    from dashboard.server import embedded_dashboard
    from runtime.loop import serve

    # SEXTANT_DASHBOARD__ENABLED: the dashboard on the loop's event loop, closing through its
    # engine (nothing is started when it is false)
    loop = await serve(settings, window, quiet=args.quiet, alongside=embedded_dashboard)
    print(
        f"sextant loop: {'stopped' if loop.stopping else 'done'} after {loop.cycles_run} cycles; "
        f"last cycle {loop.last_cycle_as_of}",
        file=sys.stderr,
    )
    return EXIT_OK


__all__ = ["EXIT_CONFIG", "register"]
