"""`sextant backtest`: the pipeline replayed hour by hour over recorded data."""

import argparse
import sys
from pathlib import Path

from cli.common import EXIT_INTERRUPTED, EXIT_OK, add_config_arg, parse_time, settings_from

LIVE_WARNING = (
    "WARNING: --llm live asks a live model about past hours; it may know what happened next, "
    "so the news component can carry look-ahead the rest of the backtest does not have."
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backtest",
        help="replay the pipeline over recorded data",
        description="Walks the data hour by hour through the same Math Engine, Risk Manager and "
        "position lifecycle as live trading, with simulated fills, fees, funding and "
        "liquidation. A progress bar goes to stderr; Ctrl-C stops with partial results.",
    )
    p.add_argument("--from", dest="start", required=True, help="ISO 8601 start (UTC)")
    p.add_argument("--to", dest="end", help="ISO 8601 end (UTC); default: end of the data")
    p.add_argument("--symbols", help="comma-separated symbols, overriding the watchlist")
    p.add_argument("--data-dir", dest="data_dir", type=Path, help="CSV data folder")
    p.add_argument("--json", action="store_true", help="one sextant.backtest/1 JSON document")
    p.add_argument("--report", type=Path, metavar="DIR", help="write trades.csv, PNG, HTML")
    p.add_argument(
        "--llm",
        choices=("tape", "off", "live"),
        default="tape",
        help="news: replay the LLM tape (default), none, or ask a live model about the past "
        "(it may know the future: look-ahead, warned)",
    )
    p.add_argument(
        "--fills",
        choices=("next_open", "quote"),
        default="next_open",
        help="reference price of what is decided at an hour: the next bar's open (default) or "
        "the quote the signal carries, funding marked at the last close (the paper broker's "
        "prices: the loop over the same hours books the same fills)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_arg(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from backtest.engine import Backtest, BacktestRequest
    from backtest.news import LiveNews, NoNews, tape_news
    from backtest.progress import ProgressBar, stop_on_sigint
    from backtest.report import benchmark_curve, document, dumps, table, write_report
    from sextant.errors import ConfigError, DataError, MarketDataError
    from tools.market_data.replay import ReplayMarketData, check_data_dir

    settings = settings_from(args)
    start = parse_time(args.start, "--from")
    end_arg = parse_time(args.end, "--to") if args.end else None
    if end_arg is not None and end_arg <= start:  # before any data is read
        raise ConfigError(
            f"--to: empty span: {args.end} is not after --from {args.start}", field="--to"
        )
    symbols = list(settings.watchlist)
    data_dir = args.data_dir or settings.market.data_dir
    check_data_dir(data_dir, "--data-dir" if args.data_dir else "market.data_dir")
    if args.llm == "live":
        print(f"sextant: {LIVE_WARNING}", file=sys.stderr)
        if not settings.llm_active:
            raise ConfigError(
                "--llm live needs OPENROUTER_API_KEY (and SEXTANT_LLM__ENABLED=true)",
                field="--llm",
            )
    try:
        end = end_arg or ReplayMarketData(settings, data_dir).data_end(symbols)
    except MarketDataError as exc:
        raise DataError(f"--symbols: {exc.message}", field="--symbols") from None
    news = None
    try:
        if args.llm == "off":
            news = NoNews("news unavailable: --llm off (its weight went to the others)")
        elif args.llm == "live":
            news = LiveNews(settings)
        else:
            news = tape_news(settings, symbols, start, end)
        request = BacktestRequest(start, end, tuple(symbols), data_dir, fills=args.fills)
        engine = Backtest(settings, request, news=news)
    except BaseException as exc:
        if isinstance(news, LiveNews):
            news.close()
        if isinstance(exc, ValueError | OSError):  # unreadable data or tape: say so, exit 2
            raise DataError(f"{type(exc).__name__}: {exc}") from None
        raise
    for warning in engine.warnings:  # at the top, before the progress bar and the figures
        print(f"sextant: WARNING: {warning}", file=sys.stderr)

    bar = None if args.quiet else ProgressBar(sys.stderr)
    with stop_on_sigint() as stop:
        try:
            result = engine.run(progress=bar, should_stop=stop)
        finally:
            if bar is not None:
                bar.close()
            if isinstance(news, LiveNews):
                news.close()
    doc = document(result)
    if args.report:
        paths = write_report(doc, args.report, benchmark_curve(result))
        print(f"sextant: report written to {paths['html']}", file=sys.stderr)
    print(dumps(doc) if args.json else table(doc))
    return EXIT_INTERRUPTED if result.interrupted else EXIT_OK
