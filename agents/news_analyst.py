"""News Analyst node, one branch per eligible symbol (LangGraph Send).

The model reports dated events; the code scores them (`sextant.news.assess_news`): decay,
window, clamping, regime from market volatility, veto/driver flags. Answers are cached per
symbol, window, model and prompt hash for `news.cache_ttl_s` of cycle time (as_of).

Offline fallback (no OPENROUTER_API_KEY, LLM disabled, budget spent, failed or unusable
answer): news is unavailable; its weight goes to the other components. A failed answer also
reports an error for that symbol; the cycle always completes.

An answer is scored inside the LLM service's check (`AskRequest.check`) before it counts: one
the code cannot score is unusable (one repair, then the fallback) and is never marked ok on the
tape nor cached. Events that cannot be used are dropped one by one, with a reason.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context, services_of, stage_deadline
from graph.state import NewsTask
from sextant.math_engine import volatility
from sextant.models import MarketSnapshot, NewsAssessment, Reason, SymbolError, iso_z
from sextant.news import assess_news, clean_text
from sextant.reasons import Code
from tools.llm.cache import cache_key, is_fresh
from tools.llm.deadline import Deadline
from tools.llm.prompts import NEWS, Prompt, PromptError, load_prompt
from tools.llm.schemas import NewsAnswer, news_candidates
from tools.llm.usage import Usage

log = logging.getLogger(__name__)


def offline_assessment(
    symbol: str, why: str, code: str = Code.NEWS_UNAVAILABLE, reasons: list[Reason] | None = None
) -> NewsAssessment:
    return NewsAssessment(
        symbol=symbol,
        available=False,
        reasons=[Reason(code=code, message=why), *(reasons or [])],
        source="offline",
    )


@dataclass
class NewsResult:
    assessment: NewsAssessment
    usage: Usage = field(default_factory=Usage)
    error: str | None = None  # set when the model failed or answered unusably
    answer: Any = None  # tools.llm.service.Answer when the model was asked
    payload: dict[str, Any] | None = None


def snapshot_volatility_ratio(snapshot: MarketSnapshot | None, settings: Any) -> float | None:
    """Recent-vs-normal volatility from market data (never from a model); None if unknown."""
    if snapshot is None:
        return None
    try:
        return volatility(snapshot.frames(), settings.math).volatility_ratio
    except (ValueError, KeyError, IndexError):
        return None


def news_variables(symbol: str, as_of: datetime, window_days: float) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "base": symbol.split("/")[0],
        "as_of": iso_z(as_of),
        "window_days": f"{window_days:g}",
        "window_start": iso_z(as_of - timedelta(days=window_days)),
    }


async def analyse_news(
    services: Any,
    *,
    symbol: str,
    as_of: datetime,
    volatility_ratio: float | None,
    prompt: Prompt,
    use_cache: bool = True,
    origin: str = "cycle",
    cycle_id: str | None = None,
    model: str | None = None,
    variables: dict[str, Any] | None = None,
    deadline: Deadline | None = None,
) -> NewsResult:
    """The news assessment of one symbol: cached answer or a new one, scored in code.

    `deadline` bounds the model's answer (the stage's, shared by every symbol of the cycle);
    a cached answer is used whatever the time."""
    from tools.llm.service import AskRequest

    settings = services.settings
    llm = services.llm
    ns = settings.news
    model = model or settings.llm.news_model
    key = cache_key("news", model, prompt.hash, symbol, f"{ns.window_days:g}")
    usage = Usage()
    front: list[Reason] = []
    payload: dict[str, Any] | None = None
    cached = False
    if use_cache:
        entry = await llm.cache_get(key)
        if entry is not None and is_fresh(
            as_of, entry.get("as_of"), timedelta(seconds=ns.cache_ttl_s)
        ):
            payload, cached = entry["payload"], True
            usage.cached += 1
            front.append(
                Reason(
                    code=Code.LLM_CACHED,
                    message=f"news answer from {entry['as_of'][:16]}Z reused (cache)",
                )
            )

    def score(data: Any, reasons: list[Reason]) -> NewsAssessment:
        parsed = data if isinstance(data, NewsAnswer) else NewsAnswer.model_validate(data)
        events, key_events, dropped = news_candidates(parsed)
        return assess_news(
            symbol,
            events,
            as_of=as_of,
            volatility_ratio=volatility_ratio,
            settings=ns,
            key_events=key_events,
            reasons=[*reasons, *dropped],
            source="llm",
            model=model,
            prompt_hash=prompt.hash,
            cached=cached,
        )

    if payload is not None:
        try:
            return NewsResult(score(payload, front), usage, None, None, payload)
        except Exception as exc:  # a cached answer the code cannot score: ask again
            why = clean_text(f"{type(exc).__name__}: {exc}", 200)
            log.warning("news %s: cached answer unusable (%s); asking again", symbol, why)
            cached, usage, front = False, Usage(), []
    answer = await llm.ask(
        AskRequest(
            agent="news",
            model=model,
            prompt=prompt,
            variables=variables or news_variables(symbol, as_of, ns.window_days),
            schema=NewsAnswer,
            as_of=as_of,
            symbol=symbol,
            origin=origin,  # type: ignore[arg-type]
            cycle_id=cycle_id,
            context={"volatility_ratio": volatility_ratio},
            check=lambda parsed: score(parsed, []),
            deadline=deadline,
        )
    )
    usage.add(answer.usage)
    if not answer.ok:
        why = answer.reasons[0] if answer.reasons else None
        assessment = NewsAssessment(
            symbol=symbol,
            available=False,
            reasons=list(answer.reasons),
            source="fallback",
            as_of=as_of,
            model=model,
            prompt_hash=prompt.hash,
        )
        error = None
        if answer.status in ("error", "invalid", "prompt_invalid", "deadline"):
            error = why.message if why is not None else f"news: {answer.status}"
        return NewsResult(assessment, usage, error, answer)
    # Scored by the service's check already: validated before it is cached.
    assessment = score(answer.payload, [*front, *answer.reasons])
    if use_cache and origin == "cycle":
        await llm.cache_set(key, {"as_of": as_of.isoformat(), "payload": answer.parsed})
    return NewsResult(assessment, usage, None, answer, answer.parsed)


_QUIET = {Code.NEWS_CRITICAL_NEGATIVE, Code.NEWS_CRITICAL_POSITIVE, Code.NEWS_REGIME}


def usage_reasons(symbol: str, assessment: NewsAssessment) -> list[Reason]:
    """The assessment's LLM-side reasons (fallbacks, drops, clamps) for the cycle's llm block."""
    return [
        Reason(
            code=r.code,
            kind=r.kind,
            message=f"{symbol}: {r.message}",
            data={**r.data, "symbol": symbol},
        )
        for r in assessment.reasons
        if r.code not in _QUIET
    ]


async def news_analyst(task: NewsTask, runtime: Runtime[Context]) -> dict:
    services = await asyncio.to_thread(services_of, runtime.context)
    settings = services.settings
    symbol = task["symbol"]
    # One deadline for the whole fan-out: the first branch starts it, all count down to it.
    deadline = stage_deadline(runtime.context, "news", settings.llm.news_deadline_s, services)
    if services.llm is None:
        if not settings.has_llm_key:
            why = "no OPENROUTER_API_KEY: news unavailable (offline fallback)"
        else:
            why = "LLM disabled (SEXTANT_LLM__ENABLED=false): news unavailable (offline fallback)"
        return {"news": {symbol: offline_assessment(symbol, why)}}
    override = runtime.context.news_prompt if runtime.context is not None else None
    try:
        prompt = await asyncio.to_thread(load_prompt, NEWS, override=override)
    except PromptError as exc:
        assessment = offline_assessment(symbol, str(exc), Code.PROMPT_INVALID)
        return {
            "news": {symbol: assessment},
            "llm_usage": Usage(reasons=usage_reasons(symbol, assessment)).as_update(),
        }
    vol = await asyncio.to_thread(snapshot_volatility_ratio, task.get("snapshot"), settings)
    result = await analyse_news(
        services,
        symbol=symbol,
        as_of=task["as_of"],
        volatility_ratio=vol,
        prompt=prompt,
        cycle_id=task.get("cycle_id"),
        deadline=deadline,
    )
    update: dict[str, Any] = {
        "news": {symbol: result.assessment},
        "llm_usage": result.usage.as_update()
        | {"reasons": usage_reasons(symbol, result.assessment)},
    }
    if result.error:
        update["errors"] = [SymbolError(symbol=symbol, stage="news", error=result.error)]
    return update
