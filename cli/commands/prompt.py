"""`sextant prompt show|run|replay hunter|news`: iterate on the LLM agents' prompts.

    show    the prompt's source, hash, variables and text (no key needed)
    run     one call with the current (or --prompt-file) prompt: raw and parsed answers
    replay  rerun a new prompt version over the inputs recorded on the tape; old vs new

`run` and `replay` need OPENROUTER_API_KEY; they never read or fill the agents' caches, and the
answers they tape are marked (origin prompt_run / prompt_replay) so that a backtest never
mistakes them for what the agents said at the time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from itertools import zip_longest
from pathlib import Path
from typing import Any

from cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_config_arg,
    parse_time,
    settings_from,
)
from sextant.config import ConfigError, Settings, normalise_symbol
from sextant.models import iso_z

AGENTS = ("hunter", "news")
PROMPT_NAMES = {"hunter": "coin_hunter", "news": "news_analyst"}
COLUMN = 64


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prompt", help="show, run and replay the LLM agents' prompts")
    actions = p.add_subparsers(dest="prompt_action", required=True)

    show = actions.add_parser("show", help="print a prompt, its hash and its variables")
    show.add_argument("agent", choices=AGENTS)
    show.add_argument("--prompt-file", dest="prompt_file", type=Path, help="prompt file to show")
    show.set_defaults(handler=handle_show)

    run = actions.add_parser("run", help="run one prompt and print raw and parsed answers")
    run.add_argument("agent", choices=AGENTS)
    run.add_argument("--symbol", help="news: the symbol (default: the first watchlist symbol)")
    run.add_argument("--symbols", help="comma-separated watchlist override (hunter context)")
    run.add_argument("--prompt-file", dest="prompt_file", type=Path, help="prompt to try")
    run.add_argument("--as-of", dest="as_of", help="ISO 8601 time (default: as `sextant run`)")
    run.add_argument("--model", help="model id, overriding the agent's setting")
    run.add_argument("--json", action="store_true", help="one JSON document on stdout")
    add_config_arg(run)
    run.set_defaults(handler=handle_run)

    replay = actions.add_parser(
        "replay", help="rerun a new prompt over recorded tape inputs: old vs new side by side"
    )
    replay.add_argument("agent", choices=AGENTS)
    replay.add_argument("--prompt-file", dest="prompt_file", type=Path, required=True)
    replay.add_argument("--symbol", help="news: only this symbol's recordings")
    replay.add_argument("--limit", type=int, default=5, help="recordings to replay (newest)")
    replay.add_argument("--model", help="model id, overriding the agent's setting")
    replay.add_argument("--json", action="store_true", help="one JSON document on stdout")
    add_config_arg(replay)
    replay.set_defaults(handler=handle_replay)


# -- helpers ------------------------------------------------------------------------------------


def _load(agent: str, path: Path | None) -> Any:
    from tools.llm.prompts import PromptError, load_prompt

    try:
        return load_prompt(PROMPT_NAMES[agent], path=path)
    except PromptError as exc:
        raise ConfigError(str(exc)) from None


def _services(settings: Settings) -> Any:
    from runtime.services import build_services

    if not settings.has_llm_key:
        raise ConfigError("this command asks a model: set OPENROUTER_API_KEY")
    # SEXTANT_LLM__ENABLED=false still allows an explicit run
    return build_services(settings, force_llm=True)


def _prompt_info(prompt: Any) -> dict[str, Any]:
    return {"name": prompt.name, "hash": prompt.hash, "source": prompt.source}


def _news_summary(assessment: Any) -> dict[str, Any]:
    return {
        "available": assessment.available,
        "score": assessment.score,
        "raw_score": assessment.raw_score,
        "regime": assessment.regime,
        "veto_long": assessment.veto_long,
        "veto_short": assessment.veto_short,
        "driver": assessment.driver,
        "events": [e.model_dump(mode="json") for e in assessment.events],
        "key_events": [k.model_dump(mode="json") for k in assessment.key_events],
        "reasons": [r.model_dump(mode="json") for r in assessment.reasons],
    }


def _news_lines(summary: dict[str, Any], compact: bool = False) -> list[str]:
    if not summary["available"]:
        return ["news unavailable", *(f"  {r['code']}: {r['message']}" for r in summary["reasons"])]
    flags = (
        f"veto long {'YES' if summary['veto_long'] else 'no'} / short "
        f"{'YES' if summary['veto_short'] else 'no'}, driver {summary['driver'] or '-'}"
    )
    lines = [
        f"score {summary['score']:+.3f} (decayed sum {summary['raw_score']:+.3f}), "
        f"regime {summary['regime']}",
        flags,
        f"{len(summary['events'])} events:",
    ]
    for e in summary["events"]:
        crit = " CRITICAL" if e["critical"] else ""
        if compact:  # side by side: time, impact, title
            lines.append(f"  {e['published_at'][5:16]} {e['impact']:+.1f}{crit} {e['title']}")
            continue
        lines.append(
            f"  {e['published_at'][:16]}Z {e['impact']:+.1f} -> {e['decayed_impact']:+.2f} "
            f"{e['category']}{crit}: {e['title']}"
        )
    if summary["key_events"]:
        lines.append("key events:")
        lines += [f"  {(k['date'] or '')[:10]} {k['title']}" for k in summary["key_events"]]
    if summary["reasons"]:
        lines.append("reasons:")
        lines += [f"  {r['code']}: {r['message']}" for r in summary["reasons"]]
    return lines


def _hunter_summary(result: Any) -> dict[str, Any]:
    return {
        "candidates": [dict(c) for c in result.candidates],
        "reasons": [r.model_dump(mode="json") for r in result.reasons],
    }


def _hunter_lines(summary: dict[str, Any]) -> list[str]:
    lines = [f"{len(summary['candidates'])} symbols kept:"]
    lines += [f"  {c['symbol']}: {c['rationale']}" for c in summary["candidates"]]
    if summary["reasons"]:
        lines.append("reasons:")
        lines += [f"  {r['code']}: {r['message']}" for r in summary["reasons"]]
    return lines


def _usage(usage: Any) -> dict[str, Any]:
    from tools.llm.usage import llm_block

    block = llm_block(usage.as_update())
    block.pop("reasons", None)
    return block


# -- show ---------------------------------------------------------------------------------------


def handle_show(args: argparse.Namespace) -> int:
    prompt = _load(args.agent, args.prompt_file)
    print(f"prompt    {prompt.name}")
    print(f"source    {prompt.source}")
    print(f"hash      {prompt.hash}")
    print(f"variables {', '.join(prompt.variables)}")
    print()
    print(prompt.text.rstrip())
    return EXIT_OK


# -- run ----------------------------------------------------------------------------------------


def handle_run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    prompt = _load(args.agent, args.prompt_file)
    as_of_arg = parse_time(args.as_of) if args.as_of else None
    services = _services(settings)
    return asyncio.run(_run(args, settings, services, prompt, as_of_arg))


async def _run(
    args: argparse.Namespace,
    settings: Settings,
    services: Any,
    prompt: Any,
    as_of: datetime | None,
) -> int:
    from agents.coin_hunter import hunt
    from agents.news_analyst import analyse_news, snapshot_volatility_ratio
    from runtime.cycle import resolve_as_of

    try:
        if args.agent == "hunter":
            watch = list(settings.watchlist)
            as_of = as_of or await resolve_as_of(services.market, watch)
            result = await hunt(
                services,
                as_of=as_of,
                watchlist=watch,
                prompt=prompt,
                use_cache=False,
                origin="prompt_run",
                model=args.model,
            )
            summary = _hunter_summary(result)
            lines = _hunter_lines(summary)
            symbol = None
        else:
            symbol = normalise_symbol(args.symbol or settings.watchlist[0])
            as_of = as_of or await resolve_as_of(services.market, [symbol])
            collected = await services.market.collect([symbol], as_of)
            vol = snapshot_volatility_ratio(collected.snapshots.get(symbol), settings)
            result = await analyse_news(
                services,
                symbol=symbol,
                as_of=as_of,
                volatility_ratio=vol,
                prompt=prompt,
                use_cache=False,
                origin="prompt_run",
                model=args.model,
            )
            summary = _news_summary(result.assessment)
            summary["volatility_ratio"] = vol
            lines = _news_lines(summary)
    finally:
        await services.aclose()
    answer = result.answer
    doc = {
        "agent": args.agent,
        "prompt": _prompt_info(prompt),
        "model": args.model
        or (settings.llm.hunter_model if args.agent == "hunter" else settings.llm.news_model),
        "as_of": iso_z(as_of),
        "symbol": symbol,
        "status": answer.status if answer is not None else "none",
        "raw": answer.raw_text if answer is not None else None,
        "parsed": answer.parsed if answer is not None else None,
        "result": summary,
        "llm": _usage(result.usage),
    }
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    else:
        u = doc["llm"]
        print(f"prompt  {prompt.name}  hash {prompt.hash}  ({prompt.source})")
        print(
            f"model   {doc['model']}  as_of {doc['as_of']}"
            + (f"  symbol {symbol}" if symbol else "")
        )
        print(
            f"status  {doc['status']}  calls {u['calls']}  tokens {u['tokens_in']} in / "
            f"{u['tokens_out']} out  cost {u['cost_usd']:.6f} USD"
        )
        print("\n--- raw answer ---")
        print(doc["raw"] if doc["raw"] is not None else "(none)")
        print("\n--- parsed answer ---")
        print(json.dumps(doc["parsed"], indent=2) if doc["parsed"] is not None else "(none)")
        print("\n--- result ---")
        print("\n".join(lines))
    return EXIT_OK if answer is not None and answer.ok else EXIT_FAILED


# -- replay -------------------------------------------------------------------------------------


def handle_replay(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    prompt = _load(args.agent, args.prompt_file)
    if args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    services = _services(settings)
    return asyncio.run(_replay(args, settings, services, prompt))


def _old_news(entry: Any, settings: Settings) -> dict[str, Any]:
    from sextant.news import assess_news
    from tools.llm.schemas import NewsAnswer, news_candidates

    events, keys, dropped = news_candidates(NewsAnswer.model_validate(entry.parsed))
    assessment = assess_news(
        entry.symbol,
        events,
        as_of=entry.as_of,
        volatility_ratio=entry.inputs.get("volatility_ratio"),
        settings=settings.news,
        key_events=keys,
        reasons=dropped,
        model=entry.model,
        prompt_hash=entry.prompt_hash,
    )
    return _news_summary(assessment)


def _old_hunter(entry: Any, services: Any, watch: list[str]) -> Any:
    from agents.coin_hunter import exchange_markets, select_hunted
    from tools.llm.schemas import HunterAnswer

    async def go() -> dict[str, Any]:
        markets = await exchange_markets(services.market)
        tickers = HunterAnswer.model_validate(entry.parsed).tickers
        chosen, reasons = select_hunted(
            tickers, markets, watch, services.settings.llm.hunter_max_symbols
        )
        return {
            "candidates": [dict(c) for c in chosen],
            "reasons": [r.model_dump(mode="json") for r in reasons],
        }

    return go()


async def _replay(args: argparse.Namespace, settings: Settings, services: Any, prompt: Any) -> int:
    from agents.coin_hunter import hunt
    from agents.news_analyst import analyse_news
    from tools.llm.usage import Usage

    llm = services.llm
    symbol = normalise_symbol(args.symbol) if args.symbol and args.agent == "news" else None
    rows: list[dict[str, Any]] = []
    total = Usage()
    try:
        entries = await asyncio.to_thread(
            llm.tape.entries, args.agent, symbol=symbol, limit=args.limit
        )
        for e in entries:
            if args.agent == "news":
                old = _old_news(e, settings)
                new = await analyse_news(
                    services,
                    symbol=e.symbol,
                    as_of=e.as_of,
                    volatility_ratio=e.inputs.get("volatility_ratio"),
                    prompt=prompt,
                    use_cache=False,
                    origin="prompt_replay",
                    model=args.model or e.model,
                    variables=dict(e.inputs),
                )
                new_summary = _news_summary(new.assessment)
            else:
                watch = [s.strip() for s in str(e.inputs.get("watchlist", "")).split(",") if s]
                old = await _old_hunter(e, services, watch)
                new = await hunt(
                    services,
                    as_of=e.as_of,
                    watchlist=watch,
                    prompt=prompt,
                    use_cache=False,
                    origin="prompt_replay",
                    model=args.model or e.model,
                    variables=dict(e.inputs),
                )
                new_summary = _hunter_summary(new)
            total.add(new.usage)
            rows.append(
                {
                    "symbol": e.symbol,
                    "as_of": iso_z(e.as_of),
                    "old": {"tape_id": e.id, "prompt_hash": e.prompt_hash, "model": e.model} | old,
                    "new": {
                        "prompt_hash": prompt.hash,
                        "status": new.answer.status if new.answer is not None else "none",
                    }
                    | new_summary,
                }
            )
    finally:
        await services.aclose()
    if not rows:
        print(
            f"no recorded {args.agent} answers on the tape in {settings.state_dir}"
            + (f" for {symbol}" if symbol else ""),
            file=sys.stderr,
        )
        return EXIT_FAILED
    doc = {
        "agent": args.agent,
        "prompt": _prompt_info(prompt),
        "rows": rows,
        "llm": _usage(total),
    }
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
        return EXIT_OK

    def render(summary: dict[str, Any]) -> list[str]:
        if args.agent == "news":
            return _news_lines(summary, compact=True)
        return _hunter_lines(summary)

    for row in rows:
        head = f"{row['symbol'] or args.agent} @ {row['as_of']}"
        print(head)
        print("=" * len(head))
        left = [f"OLD {row['old']['prompt_hash']} (tape #{row['old']['tape_id']})"]
        right = [f"NEW {row['new']['prompt_hash']} ({row['new']['status']})"]
        left += render(row["old"])
        right += render(row["new"])
        for a, b in zip_longest(left, right, fillvalue=""):
            print(f"{_cut(a):<{COLUMN}} | {_cut(b)}")
        print()
    u = doc["llm"]
    print(
        f"replayed {len(rows)} recordings: {u['calls']} calls, {u['tokens_in']} tokens in / "
        f"{u['tokens_out']} out, {u['cost_usd']:.6f} USD"
    )
    return EXIT_OK


def _cut(text: str) -> str:
    return text if len(text) <= COLUMN else text[: COLUMN - 1] + "…"
