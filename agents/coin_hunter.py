"""Coin Hunter node: promising USDT perpetuals proposed by an LLM, merged with the watchlist.

The model's tickers are normalised to exchange symbols and checked against the exchange's
markets; what is not listed (hallucinated, delisted, spot-only) is dropped with a reason,
duplicates are removed and the count is capped. The list is cached (4 h by default, by the
cycle's as_of) and the model is asked at most once per refresh interval (12 h); a failed query
keeps the last good list.

Offline fallback (no OPENROUTER_API_KEY, LLM disabled, budget spent, no good list yet): the
core watchlist is the whole proposal, exactly as without an LLM.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context, services_of, stage_deadline
from graph.state import Candidate, CycleState
from sextant.config import normalise_symbol
from sextant.config.settings import SYMBOL_RE
from sextant.models import MarketInfo, Reason, iso_z
from sextant.reasons import Code
from tools.llm.cache import cache_key, digest, hunter_action
from tools.llm.deadline import Deadline
from tools.llm.prompts import HUNTER, Prompt, PromptError, load_prompt
from tools.llm.schemas import HuntedTicker, HunterAnswer
from tools.llm.usage import Usage

_SUFFIXES = ("-SWAP", "_SWAP", ".P", "-PERP", "_PERP", "PERP", "USDTM")
_SCALED = ("1000", "10000", "1000000")
_SCALE = "|".join(sorted(_SCALED, key=len, reverse=True))
_SCALED_PREFIX = re.compile(rf"^(?P<scale>{_SCALE})(?P<name>[A-Z][A-Z0-9]*)$")
_SCALED_SUFFIX = re.compile(rf"^(?P<name>[A-Z][A-Z0-9]*?)(?P<scale>{_SCALE})$")
_JUNK = re.compile(r"[\s$#]")


def watchlist_candidates(symbols: list[str] | tuple[str, ...]) -> list[Candidate]:
    return [Candidate(symbol=s, source="watchlist", rationale="core watchlist") for s in symbols]


def ticker_variants(raw: str) -> list[str]:
    """USDT-perpetual symbols a ticker may mean: 'sol', '$SOL', 'SOLUSDT', 'SOL-USDT-SWAP'...

    Bybit lists some small-priced coins per 1000 units, with the multiplier in front (1000PEPE)
    or behind (SHIB1000), so those forms come after the name as given: prefixed, then suffixed.
    A base that already starts with digits (1000PEPE, 1INCH) gets no prefix, but a scaled one
    is also tried the other way round (1000SHIB -> SHIB1000). A ticker quoted in anything but
    USDT gives nothing.
    """
    s = _JUNK.sub("", raw).upper()
    for suffix in _SUFFIXES:
        if s.endswith(suffix) and len(s) > len(suffix):
            s = s[: -len(suffix)]
    s = s.rstrip("-_/.:")
    if not s:
        return []
    symbol = normalise_symbol(s)
    if not SYMBOL_RE.match(symbol):
        return []
    base = symbol.split("/")[0]
    if (scaled := _SCALED_PREFIX.match(base)) is not None:  # 1000SHIB: or SHIB1000
        bases = [f"{scaled['name']}{scaled['scale']}"]
    elif (scaled := _SCALED_SUFFIX.match(base)) is not None:  # SHIB1000: or 1000SHIB
        bases = [f"{scaled['scale']}{scaled['name']}"]
    elif base[0].isdigit():  # 1INCH: a name, not a multiplier
        bases = []
    else:
        bases = [*(f"{p}{base}" for p in _SCALED), *(f"{base}{p}" for p in _SCALED)]
    out = [symbol]
    for b in bases:
        v = f"{b}/USDT:USDT"
        if v not in out and SYMBOL_RE.match(v):
            out.append(v)
    return out


def select_hunted(
    tickers: Sequence[HuntedTicker],
    markets: Mapping[str, MarketInfo],
    watchlist: Sequence[str],
    max_symbols: int,
) -> tuple[list[Candidate], list[Reason]]:
    """Listed, de-duplicated, capped Hunter candidates beyond the watchlist, and why not others."""
    chosen: list[Candidate] = []
    reasons: list[Reason] = []
    seen: set[str] = set()
    core = set(watchlist)
    for t in tickers:
        symbol = next((v for v in ticker_variants(t.ticker) if v in markets), None)
        if symbol is None:
            reasons.append(
                Reason(
                    code=Code.NOT_LISTED,
                    kind="skip",
                    message=f"hunter proposed {t.ticker!r}: no USDT perpetual of that name on "
                    "the exchange (hallucinated, delisted or spot-only)",
                    data={"ticker": t.ticker},
                )
            )
            continue
        if symbol in core or symbol in seen:
            where = "the watchlist" if symbol in core else "this list"
            reasons.append(
                Reason(
                    code=Code.HUNTER_DUPLICATE,
                    message=f"hunter proposed {symbol}, already in {where}",
                    data={"symbol": symbol, "ticker": t.ticker},
                )
            )
            continue
        seen.add(symbol)
        if len(chosen) >= max_symbols:
            reasons.append(
                Reason(
                    code=Code.HUNTER_CAPPED,
                    kind="skip",
                    message=f"hunter proposed {symbol} beyond the cap of {max_symbols}",
                    data={"symbol": symbol, "max": max_symbols},
                )
            )
            continue
        chosen.append(
            Candidate(symbol=symbol, source="hunter", rationale=t.rationale or "hunter pick")
        )
    return chosen, reasons


async def exchange_markets(market: Any) -> Mapping[str, MarketInfo]:
    """The exchange's USDT perpetuals (both adapters list them without blocking the loop)."""
    return await market.markets()


@dataclass
class HuntResult:
    candidates: list[Candidate]  # hunted symbols beyond the watchlist (validated)
    reasons: list[Reason] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    action: str = "offline"  # fresh | stale | query | offline
    answer: Any = None  # tools.llm.service.Answer when the model was asked
    payload: dict[str, Any] | None = None  # the (cached or new) validated answer


def _at(ts: str | None) -> str:
    return "never" if not ts else datetime.fromisoformat(ts).strftime("%Y-%m-%d %H:%MZ")


async def hunt(
    services: Any,
    *,
    as_of: datetime,
    watchlist: Sequence[str],
    prompt: Prompt,
    use_cache: bool = True,
    origin: str = "cycle",
    cycle_id: str | None = None,
    model: str | None = None,
    variables: dict[str, Any] | None = None,
    deadline: Deadline | None = None,
) -> HuntResult:
    """Ask (or reuse) the Hunter's list and validate it against the exchange's markets.

    `deadline` bounds the model's answer; a query cut by it counts as a failed attempt (the last
    good list stands and the model is not asked again before the refresh interval)."""
    from tools.llm.service import AskRequest

    llm = services.llm
    cfg = services.settings.llm
    model = model or cfg.hunter_model
    key = cache_key("hunter", model, prompt.hash, cfg.hunter_max_symbols, digest(list(watchlist)))
    result = HuntResult(candidates=[])
    entry = await llm.cache_get(key) if use_cache else None
    action = "query"
    if use_cache:
        action = hunter_action(
            entry,
            as_of,
            cache_ttl=timedelta(hours=cfg.hunter_cache_ttl_h),
            refresh=timedelta(hours=cfg.hunter_refresh_h),
        )
    result.action = action
    payload: dict[str, Any] | None = None
    if action == "fresh" and entry is not None:
        result.usage.cached += 1
        payload = entry["payload"]
        result.reasons.append(
            Reason(
                code=Code.LLM_CACHED,
                message=f"hunter list from {_at(entry.get('ok_as_of'))} reused (cache)",
            )
        )
    elif action == "stale" and entry is not None:
        payload = entry.get("payload")
        nxt = datetime.fromisoformat(entry["attempt_as_of"]) + timedelta(hours=cfg.hunter_refresh_h)
        result.reasons.append(
            Reason(
                code=Code.HUNTER_STALE_LIST if payload is not None else Code.HUNTER_FALLBACK,
                message=(
                    f"hunter list from {_at(entry.get('ok_as_of'))} reused"
                    if payload is not None
                    else "no good hunter list yet"
                )
                + f"; next query at {nxt:%Y-%m-%d %H:%MZ}",
            )
        )
        if payload is not None:
            result.usage.cached += 1
    else:
        variables = variables or {
            "as_of": iso_z(as_of),
            "watchlist": ", ".join(watchlist),
            "max_symbols": cfg.hunter_max_symbols,
        }
        answer = await llm.ask(
            AskRequest(
                agent="hunter",
                model=model,
                prompt=prompt,
                variables=variables,
                schema=HunterAnswer,
                as_of=as_of,
                origin=origin,  # type: ignore[arg-type]
                cycle_id=cycle_id,
                deadline=deadline,
            )
        )
        result.answer = answer
        result.usage.add(answer.usage)
        result.reasons.extend(answer.reasons)
        last_good = (entry or {}).get("payload")
        payload = answer.parsed if answer.ok else last_good
        if answer.status not in ("budget", "prompt_invalid") and origin == "cycle":
            # A query was made: it counts against the refresh interval, success or not.
            new_entry = {
                "attempt_as_of": as_of.isoformat(),
                "ok_as_of": as_of.isoformat() if answer.ok else (entry or {}).get("ok_as_of"),
                "payload": payload,
            }
            await llm.cache_set(key, new_entry)
        if not answer.ok and last_good is not None:
            result.reasons.append(
                Reason(
                    code=Code.HUNTER_STALE_LIST,
                    message="hunter query failed: keeping the last good list from "
                    f"{_at((entry or {}).get('ok_as_of'))}",
                )
            )
    result.payload = payload
    if payload is None:
        result.reasons.append(
            Reason(code=Code.HUNTER_FALLBACK, message="hunter: watchlist only (offline fallback)")
        )
        return result
    tickers = HunterAnswer.model_validate(payload).tickers
    try:
        markets = await exchange_markets(services.market)
    except Exception as exc:  # no market list, no validation: nothing is proposed
        result.reasons.append(
            Reason(
                code=Code.HUNTER_FALLBACK,
                message=f"hunter: exchange markets unavailable ({type(exc).__name__}): "
                "watchlist only",
            )
        )
        return result
    result.candidates, more = select_hunted(tickers, markets, watchlist, cfg.hunter_max_symbols)
    result.reasons.extend(more)
    return result


async def coin_hunter(state: CycleState, runtime: Runtime[Context]) -> dict:
    services = await asyncio.to_thread(services_of, runtime.context)
    settings = services.settings
    symbols = state["symbols"]  # normalised by `prepare`
    base = watchlist_candidates(symbols)
    if services.llm is None:
        return {"candidates": base}
    start = time.perf_counter()
    deadline = stage_deadline(runtime.context, "hunter", settings.llm.hunter_deadline_s, services)
    watch = list(symbols)
    override = runtime.context.hunter_prompt if runtime.context is not None else None
    try:
        prompt = await asyncio.to_thread(load_prompt, HUNTER, override=override)
    except PromptError as exc:
        usage = Usage(reasons=[Reason(code=Code.PROMPT_INVALID, message=str(exc))])
        return {"candidates": base, "llm_usage": usage.as_update()}
    result = await hunt(
        services,
        as_of=state["as_of"],
        watchlist=watch,
        prompt=prompt,
        cycle_id=state.get("cycle_id"),
        deadline=deadline,
    )
    return {
        "candidates": base + result.candidates,
        "llm_usage": result.usage.as_update() | {"reasons": result.reasons},
        "timings_ms": {"hunter": round((time.perf_counter() - start) * 1000, 3)},
    }
